using TorchSharp;

namespace MoeQuant.Model.Forward;

/// <summary>
/// Where the forward pass gets its weights: a checkpoint (<see cref="CheckpointWeightSource"/>), or generated weights
/// for benchmarks (<see cref="RandomWeightSource"/>). Names are the hub's (FORMATS.md §2.4, e.g.
/// <c>model.layers.3.mlp.experts.5.gate_proj.weight</c>).
/// </summary>
public interface IWeightSource
{
    /// <summary>
    /// Reads tensor <paramref name="name"/> as <paramref name="dtype"/> on <paramref name="device"/>. An FP8 weight is
    /// returned dequantized with its <c>weight_scale_inv</c> (f32 multiply, then one rounding to
    /// <paramref name="dtype"/>; FORMATS.md §2.5). The result is a new tensor that the caller owns and disposes.
    /// Throws when there is no tensor of that name.
    /// </summary>
    torch.Tensor Read(string name, torch.ScalarType dtype, torch.Device device);
}

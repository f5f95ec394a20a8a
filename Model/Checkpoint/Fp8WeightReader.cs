using MoeQuant.Kernels.Fp8;
using MoeQuant.Kernels.Tensors;
using TorchSharp;

namespace MoeQuant.Model.Checkpoint;

/// <summary>
/// Reads weights of DeepSeek-style FP8 checkpoints ready for use: an F8_E4M3 tensor <c>X</c> is dequantized with its
/// companion <c>X_scale_inv</c> (i.e. <c>&lt;module&gt;.weight_scale_inv</c>, FORMATS.md §2.4–2.5); other tensors are
/// only converted. FP8 is recognised by the header dtype, never by the name.
/// </summary>
public static class Fp8WeightReader
{
    /// <summary>The name of the scale that belongs to FP8 weight <paramref name="weightName"/>.</summary>
    public static string ScaleName(string weightName) => weightName + "_scale_inv";

    /// <summary>
    /// Reads <paramref name="name"/> as <paramref name="outputType"/> on <paramref name="device"/> (CPU when null):
    /// an FP8 [out, in] weight is dequantized there, f32 multiply then one rounding, to [out, in].
    /// </summary>
    /// <exception cref="CheckpointException">No such tensor; an FP8 weight without its scale, not 2-D, or with a scale
    /// of the wrong dtype or shape (kind <see cref="CheckpointErrorKind.InvalidFp8Scale"/>).</exception>
    public static torch.Tensor ReadDequantizedWeight(
        this ShardedCheckpoint checkpoint,
        string name,
        torch.ScalarType outputType = torch.ScalarType.BFloat16,
        torch.Device? device = null,
        int blockSize = Fp8BlockDequantizer.DefaultBlockSize)
    {
        var header = checkpoint.GetHeader(name);
        var target = device ?? torch.CPU;
        if (header.Dtype != SafetensorsDtype.F8_E4M3)
        {
            return TensorPlacement.MoveTo(checkpoint.ReadTensor(name), outputType, target);
        }

        var scaleHeader = FindScale(checkpoint, header, blockSize);
        using var weight = checkpoint.ReadTensor(name);
        using var scale = checkpoint.ReadTensor(scaleHeader.Name);
        return Fp8BlockDequantizer.Dequantize(weight, scale, outputType, blockSize, target);
    }

    private static TensorHeader FindScale(ShardedCheckpoint checkpoint, TensorHeader weight, int blockSize)
    {
        var scaleName = ScaleName(weight.Name);
        if (weight.Shape.Length != 2)
        {
            throw Invalid(weight.File, weight.Name, $"F8_E4M3 weight has shape [{string.Join(", ", weight.Shape)}]; block dequantization needs 2 dimensions");
        }

        if (!checkpoint.TryGetHeader(scaleName, out var scale))
        {
            throw Invalid(weight.File, weight.Name, $"F8_E4M3 weight without its scale '{scaleName}' in the checkpoint");
        }

        if (scale.Dtype is not (SafetensorsDtype.F32 or SafetensorsDtype.BF16 or SafetensorsDtype.F16 or SafetensorsDtype.F64))
        {
            throw Invalid(scale.File, weight.Name, $"{scaleName} is {scale.Dtype.HeaderName()}, expected a float type (F32)");
        }

        var expected = Fp8BlockDequantizer.ScaleShape(weight.Shape[0], weight.Shape[1], blockSize);
        if (!scale.Shape.SequenceEqual(expected))
        {
            throw Invalid(scale.File, weight.Name,
                $"weight_scale_inv has shape [{string.Join(", ", scale.Shape)}], expected [{string.Join(", ", expected)}] for weight [{string.Join(", ", weight.Shape)}] in {blockSize}×{blockSize} blocks");
        }

        return scale;
    }

    private static CheckpointException Invalid(string file, string tensor, string detail) =>
        new(CheckpointErrorKind.InvalidFp8Scale, file, tensor, detail);
}

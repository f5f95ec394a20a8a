using MoeQuant.Model.Config;
using MoeQuant.Model.Forward;

namespace MoeQuant.Model.Evaluation;

/// <summary>How a checkpoint stores its weights, as eval reports it.</summary>
public enum EvalCheckpointKind
{
    /// <summary>Block-FP8 with <c>weight_scale_inv</c> (the published DeepSeek-V3/R1 weights).</summary>
    Fp8,

    /// <summary>BF16, F16 or F32: an original unquantized checkpoint, or a fake-quantized one.</summary>
    Unquantized,

    /// <summary>compressed-tensors <c>pack-quantized</c> integers with scales (MoeQuant's export).</summary>
    Packed,
}

/// <summary>A model opened for evaluation: its config and weights; disposing it closes the files behind the weights.</summary>
public sealed class EvalModel : IDisposable
{
    private readonly IDisposable? _files;

    /// <param name="folder">Full path of the checkpoint folder.</param>
    /// <param name="config">The model config.</param>
    /// <param name="weights">Reads the weights as the forward pass asks for them.</param>
    /// <param name="kind">How the checkpoint stores the weights.</param>
    /// <param name="files">What <paramref name="weights"/> reads from, closed on dispose.</param>
    public EvalModel(string folder, DeepseekV3Config config, IWeightSource weights, EvalCheckpointKind kind, IDisposable? files)
    {
        Folder = folder;
        Config = config;
        Weights = weights;
        Kind = kind;
        _files = files;
    }

    public string Folder { get; }

    public DeepseekV3Config Config { get; }

    public IWeightSource Weights { get; }

    public EvalCheckpointKind Kind { get; }

    public void Dispose() => _files?.Dispose();
}

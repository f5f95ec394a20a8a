using MoeQuant.Kernels.Cuda;
using MoeQuant.Model.Config;
using MoeQuant.Model.Synthetic;
using static TorchSharp.torch;

namespace MoeQuant.Model.Forward;

/// <summary>One timed forward of a decoder layer.</summary>
/// <param name="Layer">The layer index (MoE for DeepSeek-V3 from 3 on).</param>
/// <param name="Batch">Sequences per forward.</param>
/// <param name="SequenceLength">Tokens per sequence.</param>
/// <param name="Milliseconds">Median wall time of one forward, synchronised.</param>
public sealed record ForwardBenchmarkResult(int Layer, int Batch, int SequenceLength, double Milliseconds)
{
    public double TokensPerSecond => Batch * (double)SequenceLength / Milliseconds * 1000.0;
}

/// <summary>
/// Throughput of one DeepSeek-V3 MoE decoder layer at the real dimensions (hidden 7168, 128 heads, MLA ranks
/// 1536/512, 256 routed experts of 2048, top-8 of 8 groups) with random bf16 weights: the device runner behind
/// <c>moequant bench</c>, to compare with tools/bench_hf_layer.py (transformers' own layer, same shapes).
/// </summary>
public static class ForwardBenchmark
{
    /// <summary>DeepSeek-V3's config (FORMATS.md §2.1) with all 61 layers and no MTP layer, unquantized.</summary>
    public static DeepseekV3Config DeepseekV3Dimensions { get; } =
        new SyntheticModelShape { NumHiddenLayers = 61 }.ToConfig() with { Fp8Quantization = null };

    /// <summary>
    /// Times <see cref="DecoderLayer.Run"/> on layer 3 (the first MoE layer) over <paramref name="batch"/> ×
    /// <paramref name="sequenceLength"/> tokens, all in one call. Needs about 40 GB of device memory at the defaults.
    /// </summary>
    /// <param name="device">Usually CUDA; CPU works at small sizes.</param>
    /// <param name="batch">Sequences per forward (8 in issue 4).</param>
    /// <param name="sequenceLength">Tokens per sequence (4096 in issue 4).</param>
    /// <param name="warmup">Untimed forwards first (kernel selection, allocator warm-up).</param>
    /// <param name="repetitions">Timed forwards; the median is reported.</param>
    /// <param name="config">Shapes to use; <see cref="DeepseekV3Dimensions"/> when null.</param>
    public static ForwardBenchmarkResult Run(
        Device device, int batch = 8, int sequenceLength = 4096, int warmup = 1, int repetitions = 3, DeepseekV3Config? config = null)
    {
        config ??= DeepseekV3Dimensions;
        var layer = config.FirstKDenseReplace;
        using var scope = NewDisposeScope();
        manual_seed(0);
        using var weights = DecoderLayerWeights.Load(config, layer, new RandomWeightSource(config), device, ScalarType.BFloat16);
        var hidden = randn([batch, sequenceLength, config.HiddenSize], ScalarType.BFloat16, device);
        var positions = arange(sequenceLength, ScalarType.Int64, device);
        var milliseconds = DeviceTimer.MedianMilliseconds(device, () => DecoderLayer.Run(weights, hidden, positions).Dispose(), warmup, repetitions);
        return new ForwardBenchmarkResult(layer, batch, sequenceLength, milliseconds);
    }
}

using TorchSharp;
using static TorchSharp.torch;

namespace MoeQuant.Kernels.Gptq;

/// <summary>
/// Seeded synthetic GPTQ inputs shaped like an LLM layer's: activations that are low-rank-correlated with heavy-tailed
/// channel scales (as hidden states are), and a small-valued bf16 weight. For benchmarks, where only shapes and
/// realistic conditioning matter.
/// </summary>
public static class GptqBenchmarkInputs
{
    /// <summary>Builds a weight and the Hessian of <paramref name="tokens"/> correlated activations.</summary>
    /// <param name="rows">Output features.</param>
    /// <param name="columns">Input features.</param>
    /// <param name="tokens">Calibration tokens behind the Hessian.</param>
    /// <param name="device">Where the tensors live.</param>
    /// <param name="seed">Random seed.</param>
    /// <returns>Weight (rows, columns) bfloat16 and its Hessian (columns, columns) float32, both on <paramref name="device"/>; the caller disposes both.</returns>
    public static (Tensor Weight, Hessian Hessian) Create(int rows, int columns, int tokens, Device device, ulong seed = 0)
    {
        ArgumentNullException.ThrowIfNull(device);
        using var scope = NewDisposeScope();
        // TorchSharp's Generator(seed, device) is a CPU generator whatever the device; on CUDA the device's default
        // generator, seeded here, keeps the inputs reproducible.
        using var generator = device.type == DeviceType.CUDA ? null : new Generator(seed, device);
        if (generator is null)
        {
            cuda.manual_seed((long)seed);
        }

        var rank = Math.Max(2, columns / 8);
        var mixing = randn([rank, columns], device: device, generator: generator);
        var channelScale = randn([columns], device: device, generator: generator).mul_(0.8).exp_();
        var hessian = Hessian.CreateEmpty(columns, device);
        // 1) activations in bf16 batches of at most 2048 tokens, as a calibration forward would deliver them.
        for (var start = 0; start < tokens; start += 2048)
        {
            using var batchScope = NewDisposeScope();
            var count = Math.Min(2048, tokens - start);
            var latent = randn([count, rank], device: device, generator: generator);
            var noise = randn([count, columns], device: device, generator: generator).mul_(0.3);
            hessian.Accumulate(latent.mm(mixing).add_(noise).mul_(channelScale).to_type(ScalarType.BFloat16));
        }

        var weight = randn([rows, columns], device: device, generator: generator).mul_(0.02).to_type(ScalarType.BFloat16);
        return (weight.DetachFromDisposeScope(), hessian);
    }
}

using MoeQuant.Model.Config;
using static TorchSharp.torch;

namespace MoeQuant.Model.Forward;

/// <summary>
/// Weights of a config's shapes drawn at random where they are read (on the target device), for benchmarks at real
/// dimensions without a checkpoint: matrices N(0, std²), norms ones, correction biases N(0, 0.01²).
/// </summary>
public sealed class RandomWeightSource : IWeightSource
{
    private readonly Dictionary<string, long[]> _shapes;
    private readonly double _std;

    /// <param name="config">Supplies every tensor name and shape (FORMATS.md §2.4), as if unquantized.</param>
    /// <param name="std">Standard deviation of matrix entries (DeepSeek-V3's initializer_range is 0.02).</param>
    public RandomWeightSource(DeepseekV3Config config, double std = 0.02)
    {
        _shapes = (config with { Fp8Quantization = null }).ExpectedTensors().ToDictionary(t => t.Name, t => t.Shape.ToArray());
        _std = std;
    }

    public Tensor Read(string name, ScalarType dtype, Device device)
    {
        var shape = _shapes.TryGetValue(name, out var s) ? s : throw new KeyNotFoundException(name);
        if (name.EndsWith("e_score_correction_bias", StringComparison.Ordinal))
        {
            return randn(shape, dtype, device).mul_(0.01);
        }

        return shape.Length == 1 ? ones(shape, dtype, device) : randn(shape, dtype, device).mul_(_std);
    }
}

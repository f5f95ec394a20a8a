using System.Diagnostics;
using MoeQuant.Kernels.Quantization;
using TorchSharp;
using static TorchSharp.torch;

namespace MoeQuant.Kernels.Gptq;

/// <summary>One measured GPTQ configuration.</summary>
/// <param name="Device">Where it ran, e.g. <c>cuda:0</c>.</param>
/// <param name="Rows">Weight rows (output features).</param>
/// <param name="Columns">Weight columns (input features).</param>
/// <param name="GroupSize">Columns per scale.</param>
/// <param name="Order">Column order.</param>
/// <param name="Scale">Scale search.</param>
/// <param name="Tokens">Calibration tokens behind the Hessian.</param>
/// <param name="HessianMilliseconds">Time to accumulate the Hessian from bf16 activations.</param>
/// <param name="GptqMilliseconds">Median time of one <see cref="Gptq.Quantize"/> call, factorization and losses included.</param>
/// <param name="GptqLoss">Relative proxy loss of GPTQ.</param>
/// <param name="RtnLoss">Relative proxy loss of round-to-nearest with the same scales.</param>
public sealed record GptqBenchmarkRow(
    string Device,
    int Rows,
    int Columns,
    int GroupSize,
    QuantizationOrder Order,
    ScaleSearch Scale,
    int Tokens,
    double HessianMilliseconds,
    double GptqMilliseconds,
    double? GptqLoss,
    double? RtnLoss);

/// <summary>
/// Times this engine on a device at DeepSeek-V3 expert shapes: 4-bit symmetric, group 128, rel_damp 0.1, Hessian from
/// 8192 correlated tokens, in the two configurations of PERFORMANCE.md's MoE-Quant table (default+absmax,
/// activation+mse). Call it from the thread that owns the device.
/// </summary>
public static class GptqDeviceBenchmark
{
    /// <summary>gate/up (2048 × 7168) and down (7168 × 2048) of a routed expert.</summary>
    public static IReadOnlyList<(int Rows, int Columns)> DeepSeekV3ExpertShapes { get; } = [(2048, 7168), (7168, 2048)];

    /// <summary>Runs every shape in both configurations.</summary>
    /// <param name="device">Device to measure, e.g. <c>torch.CUDA</c>.</param>
    /// <param name="shapes">Weight shapes; <see cref="DeepSeekV3ExpertShapes"/> when null.</param>
    /// <param name="tokens">Calibration tokens.</param>
    /// <param name="repeats">Timed runs per configuration, after one untimed warm-up run.</param>
    /// <returns>One row per shape and configuration.</returns>
    public static IReadOnlyList<GptqBenchmarkRow> Run(Device device, IReadOnlyList<(int Rows, int Columns)>? shapes = null, int tokens = 8192, int repeats = 3)
    {
        ArgumentNullException.ThrowIfNull(device);
        ArgumentOutOfRangeException.ThrowIfLessThan(repeats, 1);
        KernelsPrecision.Configure();
        var results = new List<GptqBenchmarkRow>();
        foreach (var (rows, columns) in shapes ?? DeepSeekV3ExpertShapes)
        {
            var clock = Stopwatch.StartNew();
            var (weight, hessian) = GptqBenchmarkInputs.Create(rows, columns, tokens, device);
            Synchronize(device);
            var hessianMilliseconds = clock.Elapsed.TotalMilliseconds;
            using (weight)
            using (hessian)
            {
                foreach (var (order, scale) in new[] { (QuantizationOrder.Default, ScaleSearch.AbsMax), (QuantizationOrder.Activation, ScaleSearch.Mse) })
                {
                    var options = new GptqOptions { GroupSize = 128, RelDamp = 0.1, Order = order, Scale = scale };
                    var times = new List<double>();
                    QuantResult? last = null;
                    for (var run = 0; run <= repeats; run++)
                    {
                        last?.Dispose();
                        Synchronize(device);
                        clock.Restart();
                        last = Gptq.Quantize($"bench.{rows}x{columns}", weight, hessian, options);
                        Synchronize(device);
                        times.Add(clock.Elapsed.TotalMilliseconds);
                    }

                    using (last)
                    {
                        var median = times.Skip(1).Order().ElementAt(repeats / 2);
                        results.Add(new GptqBenchmarkRow(
                            device.ToString(), rows, columns, 128, order, scale, tokens, hessianMilliseconds, median, last!.GptqLoss, last.RtnLoss));
                    }
                }
            }
        }

        return results;
    }

    private static void Synchronize(Device device)
    {
        if (device.type == DeviceType.CUDA)
        {
            cuda.synchronize(device);
        }
    }
}

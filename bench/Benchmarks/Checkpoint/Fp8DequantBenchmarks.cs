using BenchmarkDotNet.Attributes;
using BenchmarkDotNet.Running;
using MoeQuant.Benchmarks.Reporting;
using MoeQuant.Kernels.Fp8;
using TorchSharp;
using static TorchSharp.torch;

namespace MoeQuant.Benchmarks.Checkpoint;

/// <summary>
/// FP8 block dequantization on the CPU, on DeepSeek-V3 weight shapes: a routed expert's gate/up and down projections
/// and kv_a_proj_with_mqa, whose last row block is partial. (GPU: <see cref="Fp8DequantThroughput.Measure"/>.)
/// </summary>
[Config(typeof(ThroughputConfig))]
[BenchmarkNote("CPU, libtorch intra-op threads = logical cores. Bytes = FP8 codes and f32 scales read + result written (also credited to the floor baseline, whose ratio shows how far dequantization is from just producing the result).")]
public class Fp8DequantBenchmarks : IBytesPerOperation
{
    private Tensor _weight = null!;
    private Tensor _scale = null!;
    private Tensor _result = null!;

    [Params("2048x7168", "7168x2048", "576x7168")]
    public string Shape { get; set; } = "";

    [Params(ScalarType.BFloat16, ScalarType.Float32)]
    public ScalarType Output { get; set; }

    public static long BytesPerOperation(BenchmarkCase benchmarkCase)
    {
        var (rows, cols) = Parse((string)benchmarkCase.Parameters["Shape"]);
        var output = (ScalarType)benchmarkCase.Parameters["Output"];
        var scale = Fp8BlockDequantizer.ScaleShape(rows, cols);
        return (rows * cols * (1 + output.ElementSize())) + (scale[0] * scale[1] * sizeof(float));
    }

    [GlobalSetup]
    public void Setup()
    {
        var (rows, cols) = Parse(Shape);
        _weight = randint(0, 256, [rows, cols], ScalarType.Byte);
        _scale = rand(Fp8BlockDequantizer.ScaleShape(rows, cols));
        _result = empty([rows, cols], Output);
    }

    [GlobalCleanup]
    public void Cleanup()
    {
        _weight.Dispose();
        _scale.Dispose();
        _result.Dispose();
    }

    /// <summary>The floor of any dequantizer that returns a new tensor: allocating and writing the result.</summary>
    [Benchmark(Baseline = true, Description = "floor: allocate + write result")]
    public void AllocateAndWrite() => zeros(_weight.shape, Output).Dispose();

    [Benchmark(Description = "Dequantize (new result)")]
    public void Dequantize() => Fp8BlockDequantizer.Dequantize(_weight, _scale, Output).Dispose();

    /// <summary>Steady state with a reused result buffer: the cost of dequantization itself.</summary>
    [Benchmark(Description = "DequantizeInto (reused result)")]
    public void DequantizeInto() => Fp8BlockDequantizer.DequantizeInto(_weight, _scale, _result);

    private static (long Rows, long Cols) Parse(string shape)
    {
        var parts = shape.Split('x');
        return (long.Parse(parts[0], System.Globalization.CultureInfo.InvariantCulture), long.Parse(parts[1], System.Globalization.CultureInfo.InvariantCulture));
    }
}

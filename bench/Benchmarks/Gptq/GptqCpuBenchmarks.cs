using BenchmarkDotNet.Attributes;
using MoeQuant.Kernels;
using MoeQuant.Kernels.Gptq;
using MoeQuant.Kernels.Quantization;
using TorchSharp;

namespace MoeQuant.Benchmarks.Gptq;

/// <summary>
/// One GPTQ call on a 512 × 2048 weight (4-bit symmetric, group 128, rel_damp 0.1, Hessian from 4096 correlated
/// tokens) on the CPU, so regressions of the engine show. Run:
/// <c>dotnet run -c Release --project bench/Benchmarks -- --filter '*GptqCpuBenchmarks*'</c>; the JSON lines land in
/// the artifacts' results folder as <c>gptq-cpu.jsonl</c> (copy them to bench/results/).
/// </summary>
[Config(typeof(GptqBenchmarkConfig))]
public class GptqCpuBenchmarks
{
    public const int Rows = 512;
    public const int Columns = 2048;
    public const int Tokens = 4096;

    private torch.Tensor? _weight;
    private Hessian? _hessian;
    private GptqOptions _options = new();

    /// <summary>Column order and scale search, the two configurations of PERFORMANCE.md's table.</summary>
    [Params("default+absmax", "activation+mse")]
    public string Mode { get; set; } = "default+absmax";

    /// <summary>libtorch intra-op threads: the column loop issues many small operations, which a thread pool slows.</summary>
    [Params(1, 2)]
    public int Threads { get; set; } = 1;

    [GlobalSetup]
    public void Setup()
    {
        torch.set_num_threads(Threads);
        KernelsPrecision.Configure();
        (_weight, _hessian) = GptqBenchmarkInputs.Create(Rows, Columns, Tokens, torch.CPU);
        var activation = Mode.StartsWith("activation", StringComparison.Ordinal);
        _options = new GptqOptions
        {
            GroupSize = 128,
            RelDamp = 0.1,
            Order = activation ? QuantizationOrder.Activation : QuantizationOrder.Default,
            Scale = activation ? ScaleSearch.Mse : ScaleSearch.AbsMax,
        };
    }

    [GlobalCleanup]
    public void Cleanup()
    {
        _weight?.Dispose();
        _hessian?.Dispose();
    }

    [Benchmark]
    public double Quantize()
    {
        using var result = Kernels.Gptq.Gptq.Quantize("bench.512x2048", _weight!, _hessian!, _options);
        return result.GptqLoss ?? 0;
    }
}

using BenchmarkDotNet.Attributes;
using BenchmarkDotNet.Columns;
using BenchmarkDotNet.Configs;
using BenchmarkDotNet.Running;
using MoeQuant.Benchmarks.Reporting;
using MoeQuant.Model.Tokenization;
using RustTokenizer = Tokenizers.DotNet.Tokenizer;

namespace MoeQuant.Benchmarks.Tokenization;

/// <summary>
/// Encoding throughput of MoeQuant's tokenizer against HF tokenizers' Rust core (through Tokenizers.DotNet, in the same
/// process and run) on the same documents; the goal is to stay within 2× of HF. Run with
/// <c>dotnet run -c Release --project bench/Benchmarks -- --filter '*TokenizerThroughput*' --inProcess</c>; the JSON lines
/// land in BenchmarkDotNet.Artifacts/results (bench/results/tokenizer-cpu.jsonl holds a recorded run).
/// </summary>
[Config(typeof(Config))]
[MemoryDiagnoser]
[BenchmarkNote("Text: TokenizerBenchText.Generate() (8 MB, seeded: KJV prose from the built-in calibration text, code, number tables, CJK, "
    + "other scripts) unless MOEQUANT_BENCH_TEXT names a file; tokenizer: tests/Model.Tests/Fixtures/deepseek-v3-tokenizer (DeepSeek-V3). "
    + "One operation encodes every document once without special tokens; HF Rust is Tokenizers.DotNet 1.4.1 (tokenizers crate 0.22.2), "
    + "one thread; the BPE caches of both are warm after BenchmarkDotNet's warm-up.")]
public class TokenizerThroughputBenchmarks : IDisposable, IBytesPerOperation
{
    private HfTokenizer _ours = null!;
    private RustTokenizer _rust = null!;
    private string[] _documents = [];

    public static long BytesPerOperation(BenchmarkCase benchmarkCase) => TokenizerCorpus.Bytes;

    [GlobalSetup]
    public void Setup()
    {
        var directory = TokenizerCorpus.TokenizerDirectory();
        _ours = HfTokenizer.Load(directory);
        _rust = new RustTokenizer(Path.Combine(directory, "tokenizer.json"));
        _documents = TokenizerCorpus.Documents;
    }

    [GlobalCleanup]
    public void Dispose()
    {
        _rust?.Dispose();
        GC.SuppressFinalize(this);
    }

    [Benchmark(Baseline = true, Description = "HF tokenizers (Rust), one thread")]
    public long HfRust()
    {
        long tokens = 0;
        foreach (var document in _documents)
        {
            tokens += _rust.Encode(document).Length;
        }

        return tokens;
    }

    [Benchmark(Description = "MoeQuant, one thread")]
    public long MoeQuant() => TokenizerThroughput.Measure(_ours, _documents, allCores: false).Tokens;

    [Benchmark(Description = "MoeQuant, all cores")]
    public long MoeQuantParallel() => TokenizerThroughput.Measure(_ours, _documents, allCores: true).Tokens;

    private sealed class Config : ManualConfig
    {
        public Config()
        {
            AddColumn(new MegabytesPerSecondColumn(), BaselineRatioColumn.RatioMean);
            AddExporter(new JsonLinesExporter());
        }
    }
}

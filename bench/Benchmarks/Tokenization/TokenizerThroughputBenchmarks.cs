using BenchmarkDotNet.Attributes;
using BenchmarkDotNet.Configs;
using MoeQuant.Model.Tokenization;
using RustTokenizer = Tokenizers.DotNet.Tokenizer;

namespace MoeQuant.Benchmarks.Tokenization;

/// <summary>
/// Encoding throughput of MoeQuant's tokenizer against HF tokenizers' Rust core (through Tokenizers.DotNet, in the same
/// process and run) on the same documents; the goal is to stay within 2× of HF.
/// </summary>
[Config(typeof(Config))]
[MemoryDiagnoser]
public class TokenizerThroughputBenchmarks : IDisposable
{
    private HfTokenizer _ours = null!;
    private RustTokenizer _rust = null!;
    private string[] _documents = [];

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
    public long MoeQuant()
    {
        long tokens = 0;
        foreach (var document in _documents)
        {
            tokens += _ours.Encode(document).Length;
        }

        return tokens;
    }

    [Benchmark(Description = "MoeQuant, all cores")]
    public long MoeQuantParallel()
    {
        long tokens = 0;
        Parallel.ForEach(_documents, document => Interlocked.Add(ref tokens, _ours.Encode(document).Length));
        return tokens;
    }

    private sealed class Config : ManualConfig
    {
        public Config() => AddColumn(new MegabytesPerSecondColumn());
    }
}

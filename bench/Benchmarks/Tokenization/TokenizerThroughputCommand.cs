using System.Diagnostics;
using System.Text.Json;
using MoeQuant.Model.Tokenization;

namespace MoeQuant.Benchmarks.Tokenization;

/// <summary>
/// <c>tokenizer-throughput [--write-text FILE]</c>: a quick timing for the GPU machine, printed as JSON in the same shape as
/// tools/bench_tokenizer_hf.py, so the two can run on the same file in one device call. With <c>--write-text</c> it only
/// writes the generated corpus (JSON Lines of strings) for the Python side to read.
/// </summary>
internal static class TokenizerThroughputCommand
{
    public const string Name = "tokenizer-throughput";

    public static int Run(string[] args)
    {
        if (args.Length == 3 && args[1] == "--write-text")
        {
            TokenizerCorpus.Write(args[2], TokenizerCorpus.Documents);
            return 0;
        }

        var tokenizer = HfTokenizer.Load(TokenizerCorpus.TokenizerDirectory());
        var documents = TokenizerCorpus.Documents;
        var megabytes = TokenizerCorpus.Bytes / 1e6;
        Time(tokenizer, documents, parallel: false);
        var sequential = Time(tokenizer, documents, parallel: false);
        var parallel = Time(tokenizer, documents, parallel: true);
        Console.WriteLine(JsonSerializer.Serialize(new
        {
            implementation = "moequant",
            megabytes,
            tokens = sequential.Tokens,
            one_thread_mb_per_s = megabytes / sequential.Seconds,
            all_cores_mb_per_s = megabytes / parallel.Seconds,
            cores = Environment.ProcessorCount,
        }));
        return 0;
    }

    private static (long Tokens, double Seconds) Time(HfTokenizer tokenizer, string[] documents, bool parallel)
    {
        long tokens = 0;
        var clock = Stopwatch.StartNew();
        if (parallel)
        {
            Parallel.ForEach(documents, d => Interlocked.Add(ref tokens, tokenizer.Encode(d).Length));
        }
        else
        {
            foreach (var document in documents)
            {
                tokens += tokenizer.Encode(document).Length;
            }
        }

        return (tokens, clock.Elapsed.TotalSeconds);
    }
}

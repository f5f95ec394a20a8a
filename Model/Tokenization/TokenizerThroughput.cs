using System.Diagnostics;

namespace MoeQuant.Model.Tokenization;

/// <summary>One timed pass of a tokenizer over a set of documents.</summary>
/// <param name="Tokens">Ids produced, summed over the documents.</param>
/// <param name="Seconds">Wall-clock time of the pass.</param>
public sealed record TokenizerPass(long Tokens, double Seconds);

/// <summary>
/// Encoding throughput as the benchmarks measure it: one thread encodes document by document; all cores run
/// <see cref="Parallel.ForEach{TSource}(IEnumerable{TSource}, Action{TSource})"/> over the documents, as HF's
/// <c>encode_batch</c> spreads them over its thread pool. No special tokens are added.
/// </summary>
public static class TokenizerThroughput
{
    /// <summary>Encodes every document once and returns the token count and the time it took.</summary>
    public static TokenizerPass Measure(HfTokenizer tokenizer, IReadOnlyList<string> documents, bool allCores)
    {
        ArgumentNullException.ThrowIfNull(tokenizer);
        ArgumentNullException.ThrowIfNull(documents);
        long tokens = 0;
        var clock = Stopwatch.StartNew();
        if (allCores)
        {
            Parallel.ForEach(documents, document => Interlocked.Add(ref tokens, tokenizer.Encode(document).Length));
        }
        else
        {
            foreach (var document in documents)
            {
                tokens += tokenizer.Encode(document).Length;
            }
        }

        return new TokenizerPass(tokens, clock.Elapsed.TotalSeconds);
    }
}

using MoeQuant.Model.Tokenization;

namespace MoeQuant.Benchmarks.Tokenization;

/// <summary>
/// The text the tokenizer benchmarks encode: a JSON Lines file of strings named by <c>MOEQUANT_BENCH_TEXT</c> (e.g. one
/// written by <c>moequant bench tokenize --write-text</c>), or else <see cref="TokenizerBenchText.Generate(long, int)"/>,
/// the same generated documents <c>moequant bench tokenize</c> encodes.
/// </summary>
internal static class TokenizerCorpus
{
    private static readonly Lazy<string[]> Loaded = new(() => Environment.GetEnvironmentVariable("MOEQUANT_BENCH_TEXT") is { Length: > 0 } path
        ? TokenizerBenchText.Read(path)
        : TokenizerBenchText.Generate());

    private static readonly Lazy<long> Size = new(() => TokenizerBenchText.Utf8Bytes(Documents));

    public static string[] Documents => Loaded.Value;

    public static long Bytes => Size.Value;

    /// <summary><c>MOEQUANT_TOKENIZER_DIR</c>, or the DeepSeek-V3 test fixture found above the working folder.</summary>
    public static string TokenizerDirectory()
    {
        if (Environment.GetEnvironmentVariable("MOEQUANT_TOKENIZER_DIR") is { Length: > 0 } configured)
        {
            return configured;
        }

        for (var dir = new DirectoryInfo(Directory.GetCurrentDirectory()); dir is not null; dir = dir.Parent)
        {
            var candidate = Path.Combine(dir.FullName, "tests", "Model.Tests", "Fixtures", "deepseek-v3-tokenizer");
            if (Directory.Exists(candidate))
            {
                return candidate;
            }
        }

        throw new DirectoryNotFoundException("set MOEQUANT_TOKENIZER_DIR to a folder with tokenizer.json, or run from inside the repository");
    }
}

using MoeQuant.Model.Tokenization;

namespace MoeQuant.Model.Tests.Tokenization;

/// <summary>The committed DeepSeek-V3 tokenizer files, loaded once per test run (the 8 MB vocabulary takes a second).</summary>
internal static class DeepSeekTokenizer
{
    private static readonly Lazy<HfTokenizer> Loaded = new(() => HfTokenizer.Load(Directory));

    public static string Directory => Fixtures.PathOf("deepseek-v3-tokenizer");

    public static HfTokenizer Instance => Loaded.Value;
}

using System.Runtime.InteropServices;
using MoeQuant.Model.Tokenization;
using RustTokenizer = Tokenizers.DotNet.Tokenizer;

namespace MoeQuant.Model.Tests.Tokenization;

/// <summary>
/// Differential tests against HF tokenizers itself: the Tokenizers.DotNet package wraps the Rust crate (0.22.2), whose
/// linux-x64 native library ships in a NuGet package, so parity is checked on every run, not only with the GPU-machine
/// fixture. Its <c>Encode</c> has no special-token flag, which DeepSeek's ByteLevel post-processor makes moot; its
/// <c>Decode</c> skips special tokens.
/// </summary>
public class RustTokenizerParityTests
{
    [SkippableFact]
    public void Should_produce_the_ids_of_hf_tokenizers_for_random_text()
    {
        Skip.IfNot(RuntimeInformation.IsOSPlatform(OSPlatform.Linux) && RuntimeInformation.ProcessArchitecture == Architecture.X64,
            "Tokenizers.DotNet's native library is referenced for linux-x64 only");
        using var rust = new RustTokenizer(Path.Combine(DeepSeekTokenizer.Directory, "tokenizer.json"));
        var ours = DeepSeekTokenizer.Instance;
        var mismatches = new List<string>();
        foreach (var text in TextSamples.Generate(seed: 20250101, count: 5000))
        {
            var expected = rust.Encode(text).Select(id => (int)id).ToArray();
            var actual = ours.Encode(text);
            if (!expected.SequenceEqual(actual))
            {
                mismatches.Add($"{System.Text.Json.JsonSerializer.Serialize(text)}: hf [{string.Join(",", expected)}] ours [{string.Join(",", actual)}]");
            }
            else if (ours.Decode(actual, skipSpecialTokens: true) != rust.Decode([.. expected.Select(id => (uint)id)]))
            {
                mismatches.Add($"{System.Text.Json.JsonSerializer.Serialize(text)}: decode differs");
            }
        }

        Assert.True(mismatches.Count == 0, $"{mismatches.Count} mismatches, first ones:\n{string.Join("\n", mismatches.Take(10))}");
    }
}

using System.Security.Cryptography;
using System.Text.Json.Nodes;
using MoeQuant.Coordinator.Tests.Cli;

namespace MoeQuant.Coordinator.Tests.Bench;

public class TokenizeBenchmarkTests
{
    private static readonly string TokenizerDirectory = Path.Combine(AppContext.BaseDirectory, "Fixtures", "deepseek-v3-tokenizer");

    [Fact]
    public async Task Should_write_the_text_then_record_both_sides_and_their_ratio()
    {
        var folder = Directory.CreateTempSubdirectory("moequant-bench-tokenize-").FullName;
        try
        {
            var text = Path.Combine(folder, "text.jsonl");
            var written = await CliRun.InvokeAsync(new FakeHeaderReader([]), "bench", "tokenize", "--write-text", text, "--megabytes", "0.05");
            Assert.Equal(0, written.ExitCode);
            Assert.True(File.Exists(text));

            // What tools/bench_tokenizer_hf.py prints, for the same file (its sha256) with made-up speeds.
            var sha256 = Convert.ToHexStringLower(SHA256.HashData(File.ReadAllBytes(text)));
            var hf = Path.Combine(folder, "hf.json");
            File.WriteAllText(hf, $$"""{"implementation": "hf-tokenizers test", "sha256": "{{sha256}}", "tokens": 1, "one_thread_mb_per_s": 2.0, "all_cores_mb_per_s": 4.0}""");
            var results = Path.Combine(folder, "results.jsonl");
            var run = await CliRun.InvokeAsync(new FakeHeaderReader([]), "bench", "tokenize", "--model-name-or-path", TokenizerDirectory,
                "--text", text, "--hf", hf, "--repeat", "1", "--out", results);
            Assert.True(run.ExitCode == 0, run.Error);

            var line = JsonNode.Parse(File.ReadAllLines(results).Single())!;
            Assert.Equal("tokenize", (string?)line["benchmark"]);
            Assert.Equal(sha256, (string?)line["inputs"]!["textSha256"]);
            var ours = line["results"]!["moequant"]!;
            Assert.True((long)ours["tokens"]! > 10_000);
            Assert.True((bool)line["results"]!["sameText"]!);
            Assert.False((bool)line["results"]!["sameTokenCount"]!);
            Assert.Equal((double)ours["oneThreadMegabytesPerSecond"]! / 2.0, (double)line["results"]!["ratioToHf"]!["oneThread"]!, 9);
            Assert.Equal((double)ours["allCoresMegabytesPerSecond"]! / 4.0, (double)line["results"]!["ratioToHf"]!["allCores"]!, 9);
        }
        finally
        {
            Directory.Delete(folder, recursive: true);
        }
    }

    [Fact]
    public async Task Should_ask_for_a_tokenizer_unless_only_writing_the_text()
    {
        var run = await CliRun.InvokeAsync(new FakeHeaderReader([]), "bench", "tokenize");
        Assert.NotEqual(0, run.ExitCode);
        Assert.Contains("needs --model-name-or-path", run.Error, StringComparison.Ordinal);
    }
}

using System.Diagnostics;
using System.Security.Cryptography;
using System.Text.Json;
using System.Text.Json.Nodes;
using MoeQuant.Model;
using MoeQuant.Model.Tokenization;

namespace MoeQuant.Coordinator.Bench;

/// <summary>
/// Tokenization throughput of MoeQuant's tokenizer, one thread and all cores, beside HF tokenizers (Rust, timed by
/// tools/bench_tokenizer_hf.py on the same text file in the same device call). The goal is to stay within 2× of HF.
/// </summary>
internal static class TokenizeBenchmark
{
    /// <summary>Writes the benchmark text (JSON Lines of strings) for both sides to read.</summary>
    public static void WriteText(string path, long bytes, TextWriter console)
    {
        var documents = TokenizerBenchText.Generate(bytes);
        TokenizerBenchText.Write(path, documents);
        console.WriteLine($"{path}: {documents.Length} documents, {TokenizerBenchText.Utf8Bytes(documents) / 1e6:F2} MB of UTF-8 text, sha256 {Sha256(path)}");
    }

    /// <param name="recorder">Where the result line goes.</param>
    /// <param name="tokenizerDirectory">Folder with tokenizer.json and tokenizer_config.json.</param>
    /// <param name="textPath">JSON Lines of strings, or null for text generated in memory.</param>
    /// <param name="bytes">Size of generated text when <paramref name="textPath"/> is null.</param>
    /// <param name="hfResultPath">The JSON tools/bench_tokenizer_hf.py printed for the same text, or null.</param>
    /// <param name="repeat">Timed passes per mode; the fastest counts, as in the Python script.</param>
    public static void Run(BenchRecorder recorder, string tokenizerDirectory, string? textPath, long bytes, string? hfResultPath, int repeat)
    {
        if (repeat < 1)
        {
            throw new UserInputException("--repeat must be at least 1");
        }

        var hf = hfResultPath is null ? null : ReadHfResult(hfResultPath);
        var documents = textPath is null ? TokenizerBenchText.Generate(bytes) : TokenizerBenchText.Read(textPath);
        var megabytes = TokenizerBenchText.Utf8Bytes(documents) / 1e6;
        var load = Stopwatch.StartNew();
        var tokenizer = HfTokenizer.Load(tokenizerDirectory);
        var loadSeconds = load.Elapsed.TotalSeconds;

        // 1) A first pass warms the JIT and the BPE cache, as the Python side's first pass warms HF's cache; not timed.
        var warm = TokenizerThroughput.Measure(tokenizer, documents, allCores: false);

        // 2) Then the timed passes, one thread first.
        var oneThread = Enumerable.Range(0, repeat).Select(_ => TokenizerThroughput.Measure(tokenizer, documents, allCores: false)).ToList();
        var allCores = Enumerable.Range(0, repeat).Select(_ => TokenizerThroughput.Measure(tokenizer, documents, allCores: true)).ToList();
        var ours = new JsonObject
        {
            ["implementation"] = $"moequant {Diagnostics.SystemReport.InformationalVersion(typeof(HfTokenizer).Assembly)}",
            ["tokens"] = warm.Tokens,
            ["loadSeconds"] = loadSeconds,
            ["oneThreadMegabytesPerSecond"] = megabytes / oneThread.Min(p => p.Seconds),
            ["oneThreadTokensPerSecond"] = warm.Tokens / oneThread.Min(p => p.Seconds),
            ["allCoresMegabytesPerSecond"] = megabytes / allCores.Min(p => p.Seconds),
            ["allCoresTokensPerSecond"] = warm.Tokens / allCores.Min(p => p.Seconds),
            ["oneThreadSeconds"] = new JsonArray([.. oneThread.Select(p => (JsonNode)p.Seconds)]),
            ["allCoresSeconds"] = new JsonArray([.. allCores.Select(p => (JsonNode)p.Seconds)]),
            ["cores"] = Environment.ProcessorCount,
        };

        var textSha256 = textPath is null ? null : Sha256(textPath);
        var results = new JsonObject { ["moequant"] = ours };
        if (hf is not null)
        {
            results["hf"] = hf.DeepClone();
            results["sameText"] = hf["sha256"]?.GetValue<string>() is { } hfSha && hfSha == textSha256;
            results["sameTokenCount"] = hf["tokens"]?.GetValue<long>() == warm.Tokens;
            results["ratioToHf"] = new JsonObject
            {
                ["oneThread"] = Ratio(ours, hf, "oneThreadMegabytesPerSecond", "one_thread_mb_per_s"),
                ["allCores"] = Ratio(ours, hf, "allCoresMegabytesPerSecond", "all_cores_mb_per_s"),
            };
        }

        recorder.Record(
            "tokenize",
            new
            {
                tokenizer = Path.GetFullPath(tokenizerDirectory),
                tokenizerJsonSha256 = Sha256(Path.Combine(tokenizerDirectory, "tokenizer.json")),
                text = textPath is null ? $"generated in memory ({bytes} bytes asked)" : Path.GetFullPath(textPath),
                textSha256,
                documents = documents.Length,
                megabytes,
                repeat,
                specialTokens = false,
                baseline = hf is null ? "none" : "HF tokenizers (Rust) through Python, tools/bench_tokenizer_hf.py on the same file, same call",
            },
            results);
    }

    private static JsonObject ReadHfResult(string path)
    {
        try
        {
            // The script prints one JSON object; keep the last object line in case anything logged before it.
            var line = File.ReadLines(path).LastOrDefault(l => l.TrimStart().StartsWith('{'))
                ?? throw new UserInputException($"{path}: no JSON object in it (the output of tools/bench_tokenizer_hf.py)");
            return JsonNode.Parse(line)?.AsObject() ?? throw new UserInputException($"{path}: the JSON is null");
        }
        catch (Exception e) when (e is JsonException or IOException or InvalidOperationException)
        {
            throw new UserInputException($"{path}: not the JSON of tools/bench_tokenizer_hf.py: {e.Message}", e);
        }
    }

    private static double? Ratio(JsonObject ours, JsonObject hf, string ourKey, string hfKey) =>
        hf[hfKey]?.GetValue<double>() is > 0 and var theirs ? ours[ourKey]!.GetValue<double>() / theirs : null;

    private static string Sha256(string path)
    {
        using var stream = File.OpenRead(path);
        return Convert.ToHexStringLower(SHA256.HashData(stream));
    }
}

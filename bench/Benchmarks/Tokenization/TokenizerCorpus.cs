using System.Text;
using System.Text.Json;

namespace MoeQuant.Benchmarks.Tokenization;

/// <summary>
/// The text the tokenizer benchmarks encode: a JSON Lines file of strings (one document each) named by
/// <c>MOEQUANT_BENCH_TEXT</c>, or else ~4 MB of generated mixed documents (prose, code, numbers, CJK, emoji, chat markup).
/// The same file goes to tools/bench_tokenizer_hf.py, so both sides encode identical documents.
/// </summary>
internal static class TokenizerCorpus
{
    private static readonly Lazy<string[]> Loaded = new(() => Environment.GetEnvironmentVariable("MOEQUANT_BENCH_TEXT") is { Length: > 0 } path
        ? Read(path)
        : Generate(4_000_000));

    public static string[] Documents => Loaded.Value;

    public static long Bytes => Documents.Sum(d => (long)Encoding.UTF8.GetByteCount(d));

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

    public static string[] Read(string path) => [.. File.ReadLines(path).Where(l => l.Length > 0).Select(l => JsonSerializer.Deserialize<string>(l)!)];

    public static void Write(string path, IEnumerable<string> documents) =>
        File.WriteAllLines(path, documents.Select(d => JsonSerializer.Serialize(d)));

    /// <summary>Seeded documents of 50–800 pieces, so the mix is the same on every machine.</summary>
    public static string[] Generate(long bytes)
    {
        string[] pieces =
        [
            "the", "of", "and", "quantization", "Mixture-of-Experts", "router", "Hessian", "calibration", "is", "a", "model", "which", "we",
            "In 2024, DeepSeek released V3.", "Section 3.2 shows", "don't", "It's", "(see Table 4)", "e.g.", "—", "“quoted”",
            "def forward(self, x):\n        return self.w2(F.silu(self.w1(x)) * self.w3(x))\n", "for (int i = 0; i < n; i++) { sum += a[i]; }",
            "{\"role\": \"user\", \"content\": \"hi\"}", "3.14159", "1024", "65536", "0.001", "1,234,567", "2026-11-25",
            "量化模型的精度", "数据集", "専門家の混合", "カタカナ", "한국어", "Привет, мир", "Ωμέγα", "naïve café", "😀", "👍🏽", "𝐀𝐁𝐂",
            "<｜User｜>", "<｜Assistant｜>", "\n", "\n\n", "    ", "\t",
        ];
        var random = new Random(2024);
        var documents = new List<string>();
        var text = new StringBuilder();
        for (long total = 0; total < bytes; total += Encoding.UTF8.GetByteCount(documents[^1]))
        {
            text.Clear();
            for (var i = random.Next(50, 800); i > 0; i--)
            {
                text.Append(pieces[random.Next(pieces.Length)]).Append(random.Next(5) == 0 ? ", " : " ");
            }

            documents.Add(text.ToString());
        }

        return [.. documents];
    }
}

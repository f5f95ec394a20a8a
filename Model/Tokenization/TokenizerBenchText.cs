using System.Globalization;
using System.Text;
using System.Text.Json;
using MoeQuant.Model.TinyModel;

namespace MoeQuant.Model.Tokenization;

/// <summary>
/// The text the tokenization benchmarks encode (<c>moequant bench tokenize</c>, the BenchmarkDotNet comparison with HF's
/// Rust tokenizer): seeded documents that mix English prose, code, number tables, CJK and other scripts, built from the
/// built-in model's calibration text (King James Bible chapters) and fixed word lists, so nothing is downloaded. Written
/// as JSON Lines of strings, the same file goes to tools/bench_tokenizer_hf.py and both sides encode identical bytes.
/// </summary>
public static class TokenizerBenchText
{
    /// <summary>The default size: large enough that one pass takes about a second on either side.</summary>
    public const long DefaultBytes = 8_000_000;

    private static readonly string[] Cjk =
    [
        "量化", "模型", "专家", "混合", "数据集", "校准", "精度", "权重", "激活", "矩阵", "我们", "使用", "这个", "方法", "可以", "提高",
        "推理", "速度", "显存", "训练", "误差", "分组", "张量", "实验", "结果", "表明", "深度", "学习", "语言", "中文", "问题", "回答",
        "専門家", "の", "混合", "モデル", "を", "量子化", "します", "データ", "セット", "カタカナ", "ひらがな", "日本語", "テキスト", "です",
        "한국어", "문장", "모델", "양자화", "데이터", "입니다",
    ];

    private static readonly string[] Other =
    [
        "Привет, мир", "Ωμέγα", "naïve café", "Straße", "مرحبا", "שלום", "हिन्दी", "ไทย", "😀", "👍🏽", "🇩🇪", "❤️", "𝐀𝐁𝐂", "𠀀𠀁",
        "<｜User｜>", "<｜Assistant｜>", "<｜end▁of▁sentence｜>", "<think>", "</think>", "—", "“quoted”", "…", "€5", "±0.5", "½",
    ];

    private static readonly CultureInfo Invariant = CultureInfo.InvariantCulture;

    private static readonly string[] Types = ["int", "float", "string", "bool", "Tensor", "List[int]", "long", "double"];

    /// <summary>Documents of about <paramref name="bytes"/> UTF-8 bytes in all, from the built-in calibration text.</summary>
    public static string[] Generate(long bytes = DefaultBytes, int seed = 2024) =>
        Generate(bytes, Paragraphs(BuiltInModel.CalibrationText), seed);

    /// <summary>Documents of about <paramref name="bytes"/> UTF-8 bytes in all; the same inputs give the same documents on every machine.</summary>
    /// <param name="bytes">Stop once the documents hold at least this many UTF-8 bytes.</param>
    /// <param name="english">English paragraphs, the source of the prose and of the code's identifiers.</param>
    /// <param name="seed">Seeds <see cref="Random"/>.</param>
    public static string[] Generate(long bytes, IReadOnlyList<string> english, int seed = 2024)
    {
        ArgumentNullException.ThrowIfNull(english);
        var sentences = english.SelectMany(p => p.Split(". ", StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries))
            .Select(s => s.TrimEnd('.')).Where(s => s.Length > 0).ToArray();
        var words = sentences.SelectMany(s => s.Split(' ')).Select(w => w.Trim(',', ';', ':', '.', '?', '!', '(', ')').ToLowerInvariant())
            .Where(w => w.Length > 1 && w.All(char.IsAsciiLetter)).Distinct().Order(StringComparer.Ordinal).ToArray();
        if (sentences.Length == 0 || words.Length == 0)
        {
            throw new ArgumentException("the English text has no sentences", nameof(english));
        }

        var random = new Random(seed);
        var documents = new List<string>();
        var text = new StringBuilder();
        for (long total = 0; total < bytes; total += Encoding.UTF8.GetByteCount(documents[^1]))
        {
            text.Clear();
            for (var segment = random.Next(4, 24); segment > 0; segment--)
            {
                var kind = random.Next(100);
                if (kind < 45)
                {
                    AppendProse(text, random, sentences);
                }
                else if (kind < 65)
                {
                    AppendCode(text, random, words);
                }
                else if (kind < 80)
                {
                    AppendNumbers(text, random);
                }
                else if (kind < 95)
                {
                    AppendCjk(text, random, words);
                }
                else
                {
                    for (var i = random.Next(3, 12); i > 0; i--)
                    {
                        text.Append(Other[random.Next(Other.Length)]).Append(random.Next(3) == 0 ? "" : " ");
                    }

                    text.Append('\n');
                }
            }

            documents.Add(text.ToString());
        }

        return [.. documents];
    }

    /// <summary>Reads a JSON Lines file of strings (blank lines skipped).</summary>
    /// <exception cref="UserInputException">The file is missing or a line is not a JSON string; the message names the line.</exception>
    public static string[] Read(string path)
    {
        if (!File.Exists(path))
        {
            throw new UserInputException($"{path}: no such file (write one with `moequant bench tokenize --write-text {path}`)");
        }

        var documents = new List<string>();
        var line = 0;
        foreach (var text in File.ReadLines(path))
        {
            line++;
            if (string.IsNullOrWhiteSpace(text))
            {
                continue;
            }

            try
            {
                documents.Add(JsonSerializer.Deserialize<string>(text) ?? throw new JsonException("null"));
            }
            catch (JsonException e)
            {
                throw new UserInputException($"{path}:{line}: expected a JSON string: {e.Message}", e);
            }
        }

        return [.. documents];
    }

    /// <summary>Writes one JSON string per line (ASCII escapes, so Python's json reads the exact same text).</summary>
    public static void Write(string path, IEnumerable<string> documents) =>
        File.WriteAllLines(path, documents.Select(d => JsonSerializer.Serialize(d)));

    /// <summary>The UTF-8 size of the documents.</summary>
    public static long Utf8Bytes(IEnumerable<string> documents) => documents.Sum(d => (long)Encoding.UTF8.GetByteCount(d));

    private static List<string> Paragraphs(string file) =>
        [.. File.ReadAllText(file).Split("\n\n", StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries)];

    // 1-6 consecutive sentences, as a paragraph.
    private static void AppendProse(StringBuilder text, Random random, string[] sentences)
    {
        var start = random.Next(sentences.Length);
        var count = random.Next(1, 7);
        for (var i = start; i < Math.Min(start + count, sentences.Length); i++)
        {
            text.Append(sentences[i]).Append(i + 1 < start + count ? ". " : ".\n\n");
        }
    }

    // One of a few code shapes (Python, C-family, JSON, shell) with identifiers made of the prose's words.
    private static void AppendCode(StringBuilder text, Random random, string[] words)
    {
        string Word() => words[random.Next(words.Length)];
        string Name() => random.Next(3) == 0 ? $"{Word()}{char.ToUpperInvariant(Word()[0])}{Word()[1..]}" : $"{Word()}_{Word()}";
        string Number() => random.Next(4) switch
        {
            0 => random.Next(1000).ToString(CultureInfo.InvariantCulture),
            1 => (random.NextDouble() * 100).ToString("F3", CultureInfo.InvariantCulture),
            2 => $"0x{random.Next(65536):X4}",
            _ => (1 << random.Next(4, 17)).ToString(CultureInfo.InvariantCulture),
        };

        switch (random.Next(5))
        {
            case 0:
                text.Append(Invariant, $"def {Name()}(self, {Word()}: {Types[random.Next(Types.Length)]}, {Word()}={Number()}):\n");
                text.Append(Invariant, $"    \"\"\"{char.ToUpperInvariant(Word()[0])}{Word()[1..]} the {Word()} of {Word()}.\"\"\"\n");
                for (var i = random.Next(1, 6); i > 0; i--)
                {
                    text.Append(Invariant, $"    {Name()} = self.{Name()}({Word()}) * {Number()} + {Word()}[{random.Next(8)}]\n");
                }

                text.Append(Invariant, $"    return {Name()}\n\n");
                break;
            case 1:
                text.Append(Invariant, $"public static {Types[random.Next(Types.Length)]} {Name()}({Types[random.Next(Types.Length)]} {Word()})\n{{\n");
                text.Append(Invariant, $"    for (var i = 0; i < {Word()}.Length; i++)\n    {{\n        {Name()} += {Word()}[i] * {Number()};\n    }}\n\n");
                text.Append(Invariant, $"    return {Name()} ?? throw new ArgumentException(\"{Word()} {Word()}\");\n}}\n\n");
                break;
            case 2:
                text.Append('{');
                for (var i = random.Next(2, 8); i > 0; i--)
                {
                    text.Append(Invariant, $"\"{Name()}\": {(random.Next(2) == 0 ? Number() : $"\"{Word()} {Word()}\"")}{(i > 1 ? ", " : "")}");
                }

                text.Append("}\n");
                break;
            case 3:
                text.Append(Invariant, $"$ moequant {Word()} --{Word()}-{Word()} {Number()} --save-dir ~/{Word()}/{Name()}.jsonl 2>&1 | tee {Word()}.log\n");
                break;
            default:
                text.Append(Invariant, $"#include <{Word()}.h>\nint {Name()}(const float* {Word()}, int n) {{ if (n <= {Number()}) {{ return -1; }} return {Word()}[n - 1] > 0.5f; }}\n");
                break;
        }
    }

    // A small table: integers of 1-12 digits, decimals, dates, percentages.
    private static void AppendNumbers(StringBuilder text, Random random)
    {
        var separator = random.Next(3) switch { 0 => ", ", 1 => " | ", _ => "\t" };
        var columns = random.Next(3, 7);
        for (var row = random.Next(2, 12); row > 0; row--)
        {
            for (var column = 0; column < columns; column++)
            {
                text.Append(column > 0 ? separator : "").Append(random.Next(5) switch
                {
                    0 => random.NextInt64((long)Math.Pow(10, random.Next(1, 13))).ToString(CultureInfo.InvariantCulture),
                    1 => (random.NextDouble() * 1000 - 500).ToString("F4", CultureInfo.InvariantCulture),
                    2 => $"{random.Next(1900, 2030)}-{random.Next(1, 13):D2}-{random.Next(1, 29):D2}",
                    3 => $"{random.Next(100)}.{random.Next(10)}%",
                    _ => random.Next(1_000_000).ToString("N0", CultureInfo.InvariantCulture),
                });
            }

            text.Append('\n');
        }

        text.Append('\n');
    }

    // Sentences of CJK words, now and then with an English word or a number inside, as mixed-language text has.
    private static void AppendCjk(StringBuilder text, Random random, string[] words)
    {
        for (var sentence = random.Next(1, 6); sentence > 0; sentence--)
        {
            for (var i = random.Next(4, 20); i > 0; i--)
            {
                text.Append(random.Next(12) switch
                {
                    0 => $" {words[random.Next(words.Length)]} ",
                    1 => random.Next(10_000).ToString(CultureInfo.InvariantCulture),
                    2 => "，",
                    _ => Cjk[random.Next(Cjk.Length)],
                });
            }

            text.Append(random.Next(4) == 0 ? "？" : "。");
        }

        text.Append('\n');
    }
}

using System.Text;

namespace MoeQuant.Model.Tests.Tokenization;

/// <summary>
/// Seeded random strings that stress tokenizer parity: words, code, digit runs, CJK, kana, emoji with modifiers,
/// characters outside the BMP, combining marks, Unicode spaces, control characters and added-token text.
/// </summary>
internal static class TextSamples
{
    private static readonly string[] Pieces =
    [
        "Hello", " world", "the", "The quick brown fox", " ", "  ", "   ", "\t", "\n", "\n\n", "\r\n", " \n ", "\v\f",
        "0", "7", "42", "123", "4567", "3.14159", "1,000,000", "2024-12-26", "0x1F", "1e-9", "١٢٣٤", "٣٤٥", "Ⅻ", "½", "²", "𝟏𝟐𝟑𝟒",
        "中文", "数据集", "量化", "日本語", "カタカナ", "ひらがな", "ｶﾀｶﾅ", "한국어", "Привет", "Ωμέγα", "مرحبا", "שלום", "हिन्दी", "ไทย",
        "😀", "👍🏽", "👨‍👩‍👧", "🇩🇪", "❤️", "𝐀𝐁𝐂", "𠀀𠀁", "𓀀", "\U000E0041", "\U000F0000", "\U0001FAF8",
        "é", "e\u0301", "n\u0303", "\u0308", "ß", "ǅ", "ʰ", "İ", "ﬁ",
        "\u00a0", "\u1680", "\u2003", "\u200b", "\u2028", "\u2029", "\u202f", "\u3000", "\u0085", "\u180e", "\ufeff",
        "\u0000", "\u0001", "\u0007", "\u001b", "\u001f", "\u007f", "\u009f",
        "def f(x):", "    return x ** 2", "{\"a\": [1, 2]}", "if (a && b) { c++; }", "#include <stdio.h>", "--flag=value", "a_b", "__init__",
        "'s", "'t", "'re", "don't", "I'M", "!!!", "...", "?!", "—", "–", "«»", "“quoted”", "$100", "€5", "100%", "@user", "#tag", "~/.bashrc",
        ".NET", ",Hello", "(a)", "[x]", "|>", "=>", "::", "\\n", "\\\\",
        "<｜begin▁of▁sentence｜>", "<｜end▁of▁sentence｜>", "<｜User｜>", "<｜Assistant｜>", "<｜tool▁sep｜>", "<｜tool▁calls▁begin｜>",
        "<｜place▁holder▁no▁7｜>", "<think>", "</think>", "<｜User", "｜>", "<|im_start|>", "<s>", "</s>",
    ];

    /// <summary><paramref name="count"/> strings of 1–16 random pieces, with now and then a long run of one piece.</summary>
    public static IEnumerable<string> Generate(int seed, int count)
    {
        var random = new Random(seed);
        for (var i = 0; i < count; i++)
        {
            var text = new StringBuilder();
            var n = random.Next(1, 17);
            for (var j = 0; j < n; j++)
            {
                var piece = Pieces[random.Next(Pieces.Length)];
                text.Append(piece);
                if (random.Next(30) == 0)
                {
                    text.Insert(text.Length, piece, random.Next(2, 40));
                }
            }

            yield return text.ToString();
        }
    }
}

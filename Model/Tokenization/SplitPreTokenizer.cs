using System.Globalization;
using System.Text.RegularExpressions;

namespace MoeQuant.Model.Tokenization;

/// <summary>
/// HF's <c>Sequence</c> of <c>Split</c> pre-tokenizers with behaviour <c>Isolated</c>: each regex splits every piece the
/// previous one produced into matches and the gaps between them, and later regexes never see across a piece boundary.
/// </summary>
/// <remarks>
/// HF runs these patterns with Oniguruma on code points, while .NET's <see cref="Regex"/> sees UTF-16 chars, so a letter
/// outside the BMP (CJK extension B, math alphanumerics) would be two <c>Cs</c> surrogates to .NET and fail <c>\p{L}</c>.
/// Text with surrogates is therefore matched on a stand-in string that has one BMP char per code point, of the same
/// general category, and the offsets are mapped back. The stand-ins avoid every literal in the supported patterns
/// (ASCII, CR/LF and the CJK/kana ranges), so only the category classes can see them.
/// </remarks>
internal sealed class SplitPreTokenizer
{
    // A huge document's scratch list is dropped rather than kept for the thread's lifetime.
    private const int MaxScratchCapacity = 1 << 20;
    private static readonly char[] StandIns = BuildStandIns();
    [ThreadStatic]
    private static List<(int Offset, int Length)>? _scratch;
    private readonly Regex[] _patterns;

    public SplitPreTokenizer(IEnumerable<string> patterns)
    {
        _patterns = [.. patterns.Select(p => new Regex(p, RegexOptions.Compiled | RegexOptions.CultureInvariant))];
    }

    /// <summary>The pieces of <paramref name="text"/> as (offset, length) in it, in order, covering all of it.</summary>
    public List<(int Offset, int Length)> PreTokenize(ReadOnlySpan<char> text)
    {
        var pieces = new List<(int Offset, int Length)>();
        PreTokenize(text, pieces);
        return pieces;
    }

    /// <summary>Replaces the content of <paramref name="output"/> by the pieces of <paramref name="text"/>.</summary>
    public void PreTokenize(ReadOnlySpan<char> text, List<(int Offset, int Length)> output)
    {
        output.Clear();
        if (text.IsEmpty)
        {
            return;
        }

        if (text.IndexOfAnyInRange('\uD800', '\uDFFF') < 0)
        {
            SplitAll(text, null, output);
            return;
        }

        var mapped = new char[text.Length];
        var offsets = new int[text.Length + 1];
        var n = 0;
        for (var i = 0; i < text.Length; n++)
        {
            offsets[n] = i;
            if (char.IsHighSurrogate(text[i]) && i + 1 < text.Length && char.IsLowSurrogate(text[i + 1]))
            {
                mapped[n] = StandIns[(int)CharUnicodeInfo.GetUnicodeCategory(char.ConvertToUtf32(text[i], text[i + 1]))];
                i += 2;
            }
            else
            {
                // Lone surrogates never get here: HfTokenizer replaces them with U+FFFD first, as UTF-8 encoding does.
                mapped[n] = text[i];
                i++;
            }
        }

        offsets[n] = text.Length;
        SplitAll(mapped.AsSpan(0, n), offsets, output);
    }

    private void SplitAll(ReadOnlySpan<char> text, int[]? offsets, List<(int Offset, int Length)> output)
    {
        // Two lists swap roles per pattern; the second is this thread's scratch, so a document costs no list allocations.
        var pieces = output;
        var next = _scratch ??= [];
        pieces.Add((0, text.Length));
        foreach (var pattern in _patterns)
        {
            next.Clear();
            foreach (var (offset, length) in pieces)
            {
                var position = offset;
                foreach (var match in pattern.EnumerateMatches(text.Slice(offset, length)))
                {
                    // Oniguruma's find_iter skips empty matches the same way: they add no split.
                    if (match.Length == 0)
                    {
                        continue;
                    }

                    var start = offset + match.Index;
                    if (start > position)
                    {
                        next.Add((position, start - position));
                    }

                    next.Add((start, match.Length));
                    position = start + match.Length;
                }

                if (position < offset + length)
                {
                    next.Add((position, offset + length - position));
                }
            }

            (pieces, next) = (next, pieces);
        }

        if (!ReferenceEquals(pieces, output))
        {
            output.Clear();
            output.AddRange(pieces);
        }

        if (_scratch.Capacity > MaxScratchCapacity)
        {
            _scratch = null;
        }

        if (offsets is not null)
        {
            for (var i = 0; i < output.Count; i++)
            {
                var (offset, length) = output[i];
                output[i] = (offsets[offset], offsets[offset + length] - offsets[offset]);
            }
        }
    }

    private static char[] BuildStandIns()
    {
        // One BMP char per UnicodeCategory, indexed by the enum value; all outside ASCII, CR/LF and 一-龥 ぀-ゟ ゠-ヿ.
        // Surrogate is left out: no code point outside the BMP has that category.
        var standIns = new char[(int)UnicodeCategory.OtherNotAssigned + 1];
        standIns[(int)UnicodeCategory.UppercaseLetter] = '\u00C0';
        standIns[(int)UnicodeCategory.LowercaseLetter] = '\u00DF';
        standIns[(int)UnicodeCategory.TitlecaseLetter] = '\u01C5';
        standIns[(int)UnicodeCategory.ModifierLetter] = '\u02B0';
        standIns[(int)UnicodeCategory.OtherLetter] = '\u01BB';
        standIns[(int)UnicodeCategory.NonSpacingMark] = '\u0300';
        standIns[(int)UnicodeCategory.SpacingCombiningMark] = '\u0903';
        standIns[(int)UnicodeCategory.EnclosingMark] = '\u20DD';
        standIns[(int)UnicodeCategory.DecimalDigitNumber] = '\u0660';
        standIns[(int)UnicodeCategory.LetterNumber] = '\u2160';
        standIns[(int)UnicodeCategory.OtherNumber] = '\u00B2';
        standIns[(int)UnicodeCategory.SpaceSeparator] = '\u00A0';
        standIns[(int)UnicodeCategory.LineSeparator] = '\u2028';
        standIns[(int)UnicodeCategory.ParagraphSeparator] = '\u2029';
        standIns[(int)UnicodeCategory.Control] = '\u0001';
        standIns[(int)UnicodeCategory.Format] = '\u00AD';
        standIns[(int)UnicodeCategory.PrivateUse] = '\uE000';
        standIns[(int)UnicodeCategory.ConnectorPunctuation] = '\u203F';
        standIns[(int)UnicodeCategory.DashPunctuation] = '\u2010';
        standIns[(int)UnicodeCategory.OpenPunctuation] = '\u2045';
        standIns[(int)UnicodeCategory.ClosePunctuation] = '\u2046';
        standIns[(int)UnicodeCategory.InitialQuotePunctuation] = '\u00AB';
        standIns[(int)UnicodeCategory.FinalQuotePunctuation] = '\u00BB';
        standIns[(int)UnicodeCategory.OtherPunctuation] = '\u00A1';
        standIns[(int)UnicodeCategory.MathSymbol] = '\u00AC';
        standIns[(int)UnicodeCategory.CurrencySymbol] = '\u00A2';
        standIns[(int)UnicodeCategory.ModifierSymbol] = '\u00A8';
        standIns[(int)UnicodeCategory.OtherSymbol] = '\u00A6';
        standIns[(int)UnicodeCategory.OtherNotAssigned] = '\u0378';
        return standIns;
    }
}

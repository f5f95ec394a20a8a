using System.Buffers;

namespace MoeQuant.Model.Tokenization;

/// <summary>
/// Finds added tokens in text the way HF <c>AddedVocabulary</c> does: an Aho-Corasick search with leftmost-longest
/// semantics, first over the non-normalized tokens on the raw text, then over the normalized ones in the gaps
/// (the normalizers we accept are the identity, so the gaps need no normalizing).
/// </summary>
internal sealed class AddedTokenMatcher
{
    private readonly Trie _raw;
    private readonly Trie _normalized;

    public AddedTokenMatcher(IEnumerable<AddedToken> tokens)
    {
        var all = tokens.ToList();
        _raw = new Trie(all.Where(t => !t.Normalized));
        _normalized = new Trie(all.Where(t => t.Normalized));
    }

    /// <summary>Splits <paramref name="text"/> into alternating plain-text runs (<c>TokenId</c> −1) and added tokens.</summary>
    public void Split(string text, List<(int Start, int Length, int TokenId)> output)
    {
        var start = 0;
        foreach (var (at, length, id) in _raw.Matches(text, 0, text.Length))
        {
            SplitNormalized(text, start, at, output);
            output.Add((at, length, id));
            start = at + length;
        }

        SplitNormalized(text, start, text.Length, output);
    }

    private void SplitNormalized(string text, int start, int end, List<(int, int, int)> output)
    {
        foreach (var (at, length, id) in _normalized.Matches(text, start, end))
        {
            if (at > start)
            {
                output.Add((start, at - start, -1));
            }

            output.Add((at, length, id));
            start = at + length;
        }

        if (end > start)
        {
            output.Add((start, end - start, -1));
        }
    }

    private sealed class Trie
    {
        private readonly Node _root = new();
        private readonly SearchValues<char> _firstChars;

        public Trie(IEnumerable<AddedToken> tokens)
        {
            foreach (var token in tokens.Where(t => t.Content.Length > 0))
            {
                var node = _root;
                foreach (var c in token.Content)
                {
                    node.Children ??= [];
                    if (!node.Children.TryGetValue(c, out var child))
                    {
                        child = new Node();
                        node.Children[c] = child;
                    }

                    node = child;
                }

                node.TokenId = token.Id;
            }

            _firstChars = SearchValues.Create(_root.Children?.Keys.ToArray() ?? []);
        }

        public IEnumerable<(int At, int Length, int Id)> Matches(string text, int start, int end)
        {
            var i = start;
            while (i < end)
            {
                var next = text.AsSpan(i, end - i).IndexOfAny(_firstChars);
                if (next < 0)
                {
                    yield break;
                }

                i += next;
                var (length, id) = LongestAt(text, i, end);
                if (length > 0)
                {
                    yield return (i, length, id);
                    i += length;
                }
                else
                {
                    i++;
                }
            }
        }

        private (int Length, int Id) LongestAt(string text, int at, int end)
        {
            var node = _root;
            (int Length, int Id) best = (0, -1);
            for (var j = at; j < end && node.Children is not null && node.Children.TryGetValue(text[j], out var child); j++)
            {
                node = child;
                if (node.TokenId >= 0)
                {
                    best = (j - at + 1, node.TokenId);
                }
            }

            return best;
        }
    }

    private sealed class Node
    {
        public Dictionary<char, Node>? Children;
        public int TokenId = -1;
    }
}

using System.Buffers;
using System.Collections.Concurrent;
using System.Text;

namespace MoeQuant.Model.Tokenization;

/// <summary>
/// Byte-level BPE on one pre-tokenized piece, with HF <c>tokenizers</c>' merge order: a min-heap of (rank, position),
/// lowest rank first and leftmost among equals, stale entries skipped (HF <c>Word::merge_all</c>). That keeps a long
/// piece (a CJK run, a digit-free blob) at O(n log n).
/// </summary>
internal sealed class BytePairEncoder
{
    // HF caches words too; short pieces repeat (" the", " of"), long ones rarely do and would only fill memory.
    private const int CacheCapacity = 100_000;
    private const int CachedPieceLength = 64;

    // A huge piece's queue is dropped after it rather than kept for the thread's lifetime.
    private const int MaxQueueCapacity = 1 << 20;

    // This thread's merge queue, reused from piece to piece (instances are shared between threads).
    [ThreadStatic]
    private static PriorityQueue<(int Position, int NewId), long>? _queue;

    private readonly int[] _byteToId = new int[256];
    private readonly Dictionary<long, (int Rank, int Id)> _merges;
    private readonly ConcurrentDictionary<string, int[]> _cache = new(StringComparer.Ordinal);
    private readonly ConcurrentDictionary<string, int[]>.AlternateLookup<ReadOnlySpan<char>> _cacheLookup;

    public BytePairEncoder(IReadOnlyDictionary<string, int> vocabulary, IReadOnlyList<(string Left, string Right)> merges, string source)
    {
        for (var b = 0; b < 256; b++)
        {
            var token = ByteLevel.ByteToChar[b].ToString();
            _byteToId[b] = vocabulary.TryGetValue(token, out var id)
                ? id
                : throw new UserInputException($"{source}: model.vocab lacks the byte-level token '{token}' for byte 0x{b:X2}");
        }

        // Rank is the merge's position; a repeated pair keeps its last rank, as HF's map built from the list does.
        _merges = new Dictionary<long, (int, int)>(merges.Count, PairComparer.Instance);
        for (var rank = 0; rank < merges.Count; rank++)
        {
            var (left, right) = merges[rank];
            _merges[Pair(Id(left), Id(right))] = (rank, Id(left + right));
        }

        _cacheLookup = _cache.GetAlternateLookup<ReadOnlySpan<char>>();

        int Id(string token) => vocabulary.TryGetValue(token, out var id)
            ? id
            : throw new UserInputException($"{source}: model.merges uses '{token}', which is not in model.vocab");
    }

    /// <summary>Appends the ids of <paramref name="piece"/> (text, not yet UTF-8) to <paramref name="output"/>.</summary>
    public void Encode(ReadOnlySpan<char> piece, List<int> output)
    {
        var cacheable = piece.Length <= CachedPieceLength;
        if (cacheable && _cacheLookup.TryGetValue(piece, out var cached))
        {
            output.AddRange(cached);
            return;
        }

        var byteCount = Encoding.UTF8.GetByteCount(piece);
        var rented = ArrayPool<byte>.Shared.Rent(byteCount);
        try
        {
            Encoding.UTF8.GetBytes(piece, rented);
            var ids = Merge(rented.AsSpan(0, byteCount));
            output.AddRange(ids);
            if (cacheable && _cache.Count < CacheCapacity)
            {
                _cacheLookup.TryAdd(piece, ids);
            }
        }
        finally
        {
            ArrayPool<byte>.Shared.Return(rented);
        }
    }

    private int[] Merge(ReadOnlySpan<byte> bytes)
    {
        var n = bytes.Length;
        var rented = ArrayPool<Symbol>.Shared.Rent(n);
        try
        {
            return Merge(bytes, rented.AsSpan(0, n));
        }
        finally
        {
            ArrayPool<Symbol>.Shared.Return(rented);
        }
    }

    private int[] Merge(ReadOnlySpan<byte> bytes, Span<Symbol> symbols)
    {
        // 1) One symbol per byte, linked both ways; Length 0 marks a symbol merged into its left neighbour.
        var n = bytes.Length;
        for (var i = 0; i < n; i++)
        {
            symbols[i] = new Symbol(_byteToId[bytes[i]], i - 1, i + 1, 1);
        }

        // 2) Every adjacent pair that has a merge, lowest rank first, then leftmost: the priority is rank:position in one long.
        var queue = _queue ??= new PriorityQueue<(int Position, int NewId), long>();
        queue.Clear();
        for (var i = 0; i + 1 < n; i++)
        {
            Enqueue(queue, symbols, i, i + 1);
        }

        // 3) Merge; an entry is stale when its left symbol is gone, has no right neighbour, or the pair has changed.
        while (queue.TryDequeue(out var top, out _))
        {
            ref var left = ref symbols[top.Position];
            if (left.Length == 0 || left.Next >= n)
            {
                continue;
            }

            var rightPosition = left.Next;
            if (!_merges.TryGetValue(Pair(left.Id, symbols[rightPosition].Id), out var merge) || merge.Id != top.NewId)
            {
                continue;
            }

            ref var right = ref symbols[rightPosition];
            left = left with { Id = top.NewId, Length = left.Length + right.Length, Next = right.Next };
            right = right with { Length = 0 };
            if (left.Next < n)
            {
                symbols[left.Next] = symbols[left.Next] with { Prev = top.Position };
            }

            if (left.Prev >= 0)
            {
                Enqueue(queue, symbols, left.Prev, top.Position);
            }

            if (left.Next < n)
            {
                Enqueue(queue, symbols, top.Position, left.Next);
            }
        }

        var count = 0;
        for (var i = 0; i < n; i = symbols[i].Next)
        {
            count++;
        }

        var ids = new int[count];
        count = 0;
        for (var i = 0; i < n; i = symbols[i].Next)
        {
            ids[count++] = symbols[i].Id;
        }

        if (n > MaxQueueCapacity)
        {
            _queue = null;
        }

        return ids;
    }

    private void Enqueue(PriorityQueue<(int, int), long> queue, Span<Symbol> symbols, int left, int right)
    {
        if (_merges.TryGetValue(Pair(symbols[left].Id, symbols[right].Id), out var merge))
        {
            queue.Enqueue((left, merge.Id), Pair(merge.Rank, left));
        }
    }

    private static long Pair(int left, int right) => ((long)left << 32) | (uint)right;

    private readonly record struct Symbol(int Id, int Prev, int Next, int Length);

    /// <summary>
    /// long's own hash is high ^ low, which sends every pair (x, x), as in "a a" or "aa aa", to bucket 0: a run of one
    /// letter then walks a chain of thousands of merges per lookup. A multiplicative hash spreads them.
    /// </summary>
    private sealed class PairComparer : IEqualityComparer<long>
    {
        public static readonly PairComparer Instance = new();

        public bool Equals(long x, long y) => x == y;

        public int GetHashCode(long pair) => (int)((ulong)pair * 0x9E3779B97F4A7C15UL >> 32);
    }
}

namespace MoeQuant.Model.Calibration;

/// <summary>
/// <c>numpy.random.default_rng(seed)</c>, bit for bit, as far as shuffling goes: <see cref="Permutation"/> is the shuffle HF
/// <c>datasets</c> does in <c>Dataset.shuffle(seed)</c>, so <c>shuffle(seed).select(range(k))</c> picks the rows MoE-Quant picks.
/// </summary>
/// <remarks>
/// numpy seeds its PCG64 (XSL-RR 128/64) from a <c>SeedSequence</c> hash of the seed, and the Fisher-Yates shuffle
/// draws each index by masked rejection from 32-bit halves of the 64-bit outputs (numpy's <c>random_interval</c>).
/// </remarks>
internal sealed class NumpyGenerator
{
    private const uint InitA = 0x43b0d7e5, MultA = 0x931e8875, InitB = 0x8b51f9dd, MultB = 0x58f38ded;
    private const uint MixMultL = 0xca01f9dd, MixMultR = 0x4973f715;
    private const int PoolSize = 4;
    private static readonly UInt128 Multiplier = new(0x2360ED051FC65DA4, 0x4385DF649FCCF645);

    private readonly Pcg64 _random;

    public NumpyGenerator(ulong seed)
    {
        _random = new Pcg64(SeedState(seed));
    }

    /// <summary><c>permutation(n)</c>: a Fisher-Yates shuffle of 0..n-1, last index first.</summary>
    public int[] Permutation(int n)
    {
        var permutation = Enumerable.Range(0, n).ToArray();
        Shuffle(permutation);
        return permutation;
    }

    /// <summary><c>shuffle(items)</c> in place.</summary>
    public void Shuffle<T>(IList<T> items)
    {
        ArgumentNullException.ThrowIfNull(items);
        for (var i = items.Count - 1; i > 0; i--)
        {
            var j = Interval((uint)i);
            (items[i], items[j]) = (items[j], items[i]);
        }
    }

    /// <summary>A uniform integer in 0..<paramref name="max"/> (numpy's <c>random_interval</c>).</summary>
    public int Interval(uint max) => _random.Interval(max);

    /// <summary><c>SeedSequence(seed).generate_state(4, uint64)</c>.</summary>
    private static ulong[] SeedState(ulong seed)
    {
        // 1) The seed as little-endian 32-bit words (0 is one word), hashed into a pool of four.
        uint[] entropy = seed >> 32 == 0 ? [(uint)seed] : [(uint)seed, (uint)(seed >> 32)];
        var pool = new uint[PoolSize];
        var hash = InitA;
        for (var i = 0; i < PoolSize; i++)
        {
            pool[i] = HashMix(i < entropy.Length ? entropy[i] : 0, ref hash);
        }

        for (var src = 0; src < PoolSize; src++)
        {
            for (var dst = 0; dst < PoolSize; dst++)
            {
                if (src != dst)
                {
                    pool[dst] = Mix(pool[dst], HashMix(pool[src], ref hash));
                }
            }
        }

        // 2) Eight output words cycled from the pool, read as four little-endian uint64.
        var words = new uint[8];
        var outHash = InitB;
        for (var i = 0; i < words.Length; i++)
        {
            var value = pool[i % PoolSize] ^ outHash;
            outHash *= MultB;
            value *= outHash;
            words[i] = value ^ (value >> 16);
        }

        return [.. Enumerable.Range(0, 4).Select(i => words[2 * i] | ((ulong)words[(2 * i) + 1] << 32))];
    }

    private static uint HashMix(uint value, ref uint hash)
    {
        value ^= hash;
        hash *= MultA;
        value *= hash;
        return value ^ (value >> 16);
    }

    private static uint Mix(uint x, uint y)
    {
        var result = (MixMultL * x) - (MixMultR * y);
        return result ^ (result >> 16);
    }

    private sealed class Pcg64
    {
        private readonly UInt128 _increment;
        private UInt128 _state;
        private uint? _spareHalf;

        public Pcg64(ulong[] seed)
        {
            // pcg_setseq_128_srandom_r: state and stream from the four seed words, high word first.
            _increment = (new UInt128(seed[2], seed[3]) << 1) | 1;
            Step();
            _state += new UInt128(seed[0], seed[1]);
            Step();
        }

        /// <summary>numpy's <c>random_interval(max)</c> for max &lt; 2^32: the smallest covering bit mask, then rejection.</summary>
        public int Interval(uint max)
        {
            var mask = max;
            mask |= mask >> 1;
            mask |= mask >> 2;
            mask |= mask >> 4;
            mask |= mask >> 8;
            mask |= mask >> 16;
            uint value;
            while ((value = Next32() & mask) > max)
            {
            }

            return (int)value;
        }

        private uint Next32()
        {
            if (_spareHalf is { } half)
            {
                _spareHalf = null;
                return half;
            }

            var next = Next64();
            _spareHalf = (uint)(next >> 32);
            return (uint)next;
        }

        private ulong Next64()
        {
            Step();
            var high = (ulong)(_state >> 64);
            return ulong.RotateRight(high ^ (ulong)_state, (int)(high >> 58));
        }

        private void Step() => _state = (_state * Multiplier) + _increment;
    }
}

using System.Text;

namespace MoeQuant.Model.Synthetic;

/// <summary>
/// Random numbers addressed by position: draw <c>i</c> of a stream is SplitMix64's output function applied to
/// <c>stream + (i + 1)·γ</c>, so any draw can be made without the ones before it. That is what lets a synthetic
/// checkpoint be written by any number of threads, in any order, and still be the same bytes for a seed.
/// Streams are derived from the seed and a tensor's name by hashing, so tensors never share draws in practice.
/// </summary>
internal static class CounterRandom
{
    private const ulong Gamma = 0x9E3779B97F4A7C15;

    /// <summary>The 64 random bits of draw <paramref name="index"/> of <paramref name="stream"/>.</summary>
    public static ulong At(ulong stream, ulong index) => Mix(stream + ((index + 1) * Gamma));

    /// <summary>A stream of its own for <paramref name="name"/> under <paramref name="seed"/> (FNV-1a of the UTF-8 name, mixed).</summary>
    public static ulong Stream(long seed, string name)
    {
        var hash = 0xCBF29CE484222325UL;
        foreach (var b in Encoding.UTF8.GetBytes(name))
        {
            hash = (hash ^ b) * 0x100000001B3UL;
        }

        return Mix(Mix((ulong)seed) ^ hash);
    }

    /// <summary>A uniform double in [0, 1) from the top 53 of <paramref name="bits"/>.</summary>
    public static double Uniform(ulong bits) => (bits >> 11) * (1.0 / (1UL << 53));

    private static ulong Mix(ulong z)
    {
        z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9UL;
        z = (z ^ (z >> 27)) * 0x94D049BB133111EBUL;
        return z ^ (z >> 31);
    }
}

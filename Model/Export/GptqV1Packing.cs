namespace MoeQuant.Model.Export;

/// <summary>
/// AutoGPTQ's v1 packing (FORMATS.md §4.1) for b ∈ {2, 4, 8}, pf = 32 / b values per word, lowest index in the
/// least-significant bits. <c>qweight</c> is packed along the input dimension and transposed ([in / pf, out]);
/// <c>qzeros</c> along the output dimension ([groups, out / pf]) and holds <c>zero − 1</c>, the v1 convention that
/// loaders undo by adding 1. Inputs are compressed-tensors' packed codes and MoeQuant's signed zero points ([out, groups]).
/// </summary>
public static class GptqV1Packing
{
    /// <summary>Code widths v1 packs without codes straddling words (3-bit packing is not implemented).</summary>
    public static readonly IReadOnlyList<int> SupportedBits = [2, 4, 8];

    /// <summary>
    /// <c>qweight[k][c] = Σ_i u[c][k·pf + i] &lt;&lt; (b·i)</c> with <c>u = code + 2^(b−1)</c>: [in / pf, out]. That is
    /// compressed-tensors' <c>weight_packed</c> word for word, transposed (<paramref name="packedRows"/>: [out, in / pf] from
    /// <see cref="Int32Packing.PackRows"/>), since in is a multiple of pf and no bits are left over at 2, 4 or 8 bits.
    /// </summary>
    /// <exception cref="ArgumentException"><paramref name="inFeatures"/> is not a multiple of pf, the bits are unsupported,
    /// or the words are not [out, in / pf].</exception>
    public static int[] QWeight(ReadOnlySpan<int> packedRows, int outFeatures, int inFeatures, int bits)
    {
        var perWord = PerWord(bits, inFeatures, "input columns");
        var packedColumns = inFeatures / perWord;
        Int32Packing.CheckLength(packedRows.Length, outFeatures, packedColumns);
        var qweight = new int[(long)packedColumns * outFeatures];
        for (var c = 0; c < outFeatures; c++)
        {
            for (var k = 0; k < packedColumns; k++)
            {
                qweight[((long)k * outFeatures) + c] = packedRows[(c * packedColumns) + k];
            }
        }

        return qweight;
    }

    /// <summary>
    /// <c>qzeros[g][k] = Σ_i ((z[g][k·pf + i] − 1) &amp; (2^b − 1)) &lt;&lt; (b·i)</c> with the unsigned zero
    /// <c>z = zeroPoint + 2^(b−1)</c>: [groups, out / pf]. Symmetric zero points (all 0) give 0x77777777 for 4 bits.
    /// </summary>
    /// <exception cref="ArgumentException"><paramref name="outFeatures"/> is not a multiple of pf, or the bits are unsupported.</exception>
    /// <exception cref="ArgumentOutOfRangeException">A zero point lies outside the signed range, or its unsigned value is
    /// 0, which <c>zero − 1</c> cannot represent (loaders would read 2^b).</exception>
    public static int[] PackQZeros(ReadOnlySpan<sbyte> zeroPoints, int outFeatures, int groups, int bits)
    {
        var perWord = PerWord(bits, outFeatures, "output rows");
        Int32Packing.CheckLength(zeroPoints.Length, outFeatures, groups);
        var mask = (1u << bits) - 1;
        var packed = new int[(long)groups * (outFeatures / perWord)];
        for (var c = 0; c < outFeatures; c++)
        {
            for (var g = 0; g < groups; g++)
            {
                var z = Int32Packing.Unsigned(zeroPoints[(c * groups) + g], bits, c, g);
                if (z == 0)
                {
                    throw new ArgumentOutOfRangeException(nameof(zeroPoints), zeroPoints[(c * groups) + g],
                        $"zero point at [{c}, {g}] is 0 as unsigned; GPTQ v1 stores zero − 1 and cannot represent it");
                }

                packed[(g * (outFeatures / perWord)) + (c / perWord)] |= (int)(((z - 1) & mask) << (bits * (c % perWord)));
            }
        }

        return packed;
    }

    private static int PerWord(int bits, int length, string what)
    {
        if (!SupportedBits.Contains(bits))
        {
            throw new ArgumentException($"GPTQ v1 packs {string.Join(", ", SupportedBits)} bits, not {bits}", nameof(bits));
        }

        var perWord = 32 / bits;
        return length % perWord == 0
            ? perWord
            : throw new ArgumentException($"GPTQ v1 packs {perWord} {bits}-bit values per word; {length} {what} are not a multiple of {perWord}", nameof(length));
    }
}

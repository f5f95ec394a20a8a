using TorchSharp;
using static TorchSharp.torch;

namespace MoeQuant.Kernels.Fp8;

/// <summary>
/// FP8 E4M3 "fn" (torch.float8_e4m3fn, safetensors F8_E4M3) decoding: 1 sign bit, 4 exponent bits with bias 7,
/// 3 mantissa bits; no infinities; 0x7F and 0xFF are NaN; largest finite value ±448 (FORMATS.md §2.6).
/// TorchSharp has no float8 type, so MoeQuant decodes the bytes through a 256-entry table.
/// </summary>
public static class Fp8E4M3
{
    /// <summary>Largest finite magnitude (code 0x7E).</summary>
    public const float MaxFinite = 448f;

    private static readonly float[] DecodeTable = BuildTable();

    /// <summary>The f32 value of every code: entry <c>b</c> is the value of byte <c>b</c>.</summary>
    public static ReadOnlySpan<float> Table => DecodeTable;

    /// <summary>Decodes one code exactly (every E4M3 value is representable in f32).</summary>
    public static float Decode(byte code) => DecodeTable[code];

    /// <summary>The decode table as a tensor: f32 [256] on <paramref name="device"/>.</summary>
    public static Tensor TableTensor(Device device) => tensor(DecodeTable, device: device);

    private static float[] BuildTable()
    {
        var table = new float[256];
        for (var code = 0; code < 256; code++)
        {
            table[code] = FromBits(code);
        }

        return table;
    }

    private static float FromBits(int code)
    {
        var sign = (code & 0x80) != 0 ? -1f : 1f;
        var exponent = (code >> 3) & 0xF;
        var mantissa = code & 0x7;
        if (exponent == 0xF && mantissa == 0x7)
        {
            return float.NaN;
        }

        // Exponent 0 is subnormal: no implicit leading 1 and the exponent of code 1 (2^-6).
        return exponent == 0
            ? sign * MathF.ScaleB(mantissa / 8f, -6)
            : sign * MathF.ScaleB(1f + (mantissa / 8f), exponent - 7);
    }
}

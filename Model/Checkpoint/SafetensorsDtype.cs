using static TorchSharp.torch;

namespace MoeQuant.Model.Checkpoint;

/// <summary>
/// The dtype strings of the safetensors header that MoeQuant reads and writes (FORMATS.md §1.2).
/// The declaration order is the official serializer's layout order, largest first (§1.4).
/// </summary>
public enum SafetensorsDtype
{
    I64,
    F64,
    F32,
    I32,
    BF16,
    F16,
    I16,
    F8_E4M3,
    I8,
    U8,
    BOOL,
}

/// <summary>Header names and element sizes of <see cref="SafetensorsDtype"/>.</summary>
public static class SafetensorsDtypes
{
    /// <summary>Bytes per element.</summary>
    public static int ElementSize(this SafetensorsDtype dtype) => dtype switch
    {
        SafetensorsDtype.I64 or SafetensorsDtype.F64 => 8,
        SafetensorsDtype.F32 or SafetensorsDtype.I32 => 4,
        SafetensorsDtype.BF16 or SafetensorsDtype.F16 or SafetensorsDtype.I16 => 2,
        _ => 1,
    };

    /// <summary>The string written in the header ("F8_E4M3", "BF16", ...).</summary>
    public static string HeaderName(this SafetensorsDtype dtype) => dtype.ToString();

    /// <summary>
    /// The TorchSharp element type a tensor of this dtype is read as. F8_E4M3 has no TorchSharp type: its codes are
    /// exposed as raw bytes (ScalarType.Byte) for <c>MoeQuant.Kernels.Fp8</c> to decode.
    /// </summary>
    public static ScalarType ToScalarType(this SafetensorsDtype dtype) => dtype switch
    {
        SafetensorsDtype.I64 => ScalarType.Int64,
        SafetensorsDtype.F64 => ScalarType.Float64,
        SafetensorsDtype.F32 => ScalarType.Float32,
        SafetensorsDtype.I32 => ScalarType.Int32,
        SafetensorsDtype.BF16 => ScalarType.BFloat16,
        SafetensorsDtype.F16 => ScalarType.Float16,
        SafetensorsDtype.I16 => ScalarType.Int16,
        SafetensorsDtype.F8_E4M3 or SafetensorsDtype.U8 => ScalarType.Byte,
        SafetensorsDtype.I8 => ScalarType.Int8,
        SafetensorsDtype.BOOL => ScalarType.Bool,
        _ => throw new ArgumentOutOfRangeException(nameof(dtype), dtype, null),
    };

    /// <summary>
    /// The dtype a tensor of <paramref name="type"/> is written as; uint8 maps to U8 (pass F8_E4M3 explicitly for FP8 codes).
    /// </summary>
    /// <exception cref="ArgumentException">safetensors has no dtype MoeQuant supports for <paramref name="type"/>.</exception>
    public static SafetensorsDtype FromScalarType(ScalarType type) => type switch
    {
        ScalarType.Int64 => SafetensorsDtype.I64,
        ScalarType.Float64 => SafetensorsDtype.F64,
        ScalarType.Float32 => SafetensorsDtype.F32,
        ScalarType.Int32 => SafetensorsDtype.I32,
        ScalarType.BFloat16 => SafetensorsDtype.BF16,
        ScalarType.Float16 => SafetensorsDtype.F16,
        ScalarType.Int16 => SafetensorsDtype.I16,
        ScalarType.Byte => SafetensorsDtype.U8,
        ScalarType.Int8 => SafetensorsDtype.I8,
        ScalarType.Bool => SafetensorsDtype.BOOL,
        _ => throw new ArgumentException($"no safetensors dtype for {type}", nameof(type)),
    };

    /// <summary>Parses a header dtype string; false for dtypes MoeQuant does not support.</summary>
    public static bool TryParse(string name, out SafetensorsDtype dtype) =>
        Enum.TryParse(name, ignoreCase: false, out dtype) && Enum.IsDefined(dtype) && !int.TryParse(name, out _);
}

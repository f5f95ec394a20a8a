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

    /// <summary>Parses a header dtype string; false for dtypes MoeQuant does not support.</summary>
    public static bool TryParse(string name, out SafetensorsDtype dtype) =>
        Enum.TryParse(name, ignoreCase: false, out dtype) && Enum.IsDefined(dtype) && !int.TryParse(name, out _);
}

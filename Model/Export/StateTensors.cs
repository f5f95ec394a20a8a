using System.Runtime.InteropServices;
using MoeQuant.Model.Checkpoint;
using MoeQuant.Model.Quantized;

namespace MoeQuant.Model.Export;

/// <summary>
/// Reads single tensors of a unit state file when an export entry is written, so that only one linear's data is in
/// memory at a time, and turns packing errors into reports that name the state file and tensor.
/// </summary>
internal static class StateTensors
{
    /// <summary>A tensor's raw bytes.</summary>
    public static byte[] Bytes(string file, string tensor)
    {
        using var state = SafetensorsFile.Open(file);
        var bytes = new byte[state.GetHeader(tensor).ByteLength];
        state.ReadBytes(tensor, 0, bytes);
        return bytes;
    }

    /// <summary>An I8 tensor's values.</summary>
    public static sbyte[] Int8(string file, string tensor) => MemoryMarshal.Cast<byte, sbyte>(Bytes(file, tensor)).ToArray();

    /// <summary>An I32 tensor's values.</summary>
    public static int[] Int32(string file, string tensor) => MemoryMarshal.Cast<byte, int>(Bytes(file, tensor)).ToArray();

    /// <summary>Copies a tensor's bytes from the mapped state file to <paramref name="stream"/>, with no buffer between.</summary>
    public static void Copy(string file, string tensor, Stream stream)
    {
        using var state = SafetensorsFile.Open(file);
        stream.Write(state.GetBytes(tensor));
    }

    /// <summary>
    /// Writes the codes as compressed-tensors' packed words ([out, ceil(in / pf)] I32): a packed state's bytes straight
    /// from the mapped file, once no bit outside the codes is found set; a first-version state's I8 codes packed.
    /// </summary>
    public static void WritePackedCodes(UnitStateLinear linear, Stream stream)
    {
        if (!linear.PackedCodes)
        {
            Write(stream, PackedCodes(linear));
            return;
        }

        using var state = SafetensorsFile.Open(linear.File);
        var bytes = state.GetBytes(linear.CodesTensor);
        RequireClearPadding(linear, MemoryMarshal.Cast<byte, int>(bytes));
        stream.Write(bytes);
    }

    /// <summary>The codes as compressed-tensors' packed words ([out, ceil(in / pf)]), as <see cref="WritePackedCodes"/> writes them.</summary>
    public static int[] PackedCodes(UnitStateLinear linear)
    {
        if (!linear.PackedCodes)
        {
            var codes = Int8(linear.File, linear.CodesTensor);
            return Checked(linear, linear.CodesTensor, () => Int32Packing.PackRows(codes, (int)linear.OutFeatures, (int)linear.InFeatures, linear.Bits));
        }

        var words = Int32(linear.File, linear.CodesTensor);
        RequireClearPadding(linear, words);
        return words;
    }

    private static void RequireClearPadding(UnitStateLinear linear, ReadOnlySpan<int> words)
    {
        try
        {
            Int32Packing.RequireClearPadding(words, (int)linear.OutFeatures, (int)linear.InFeatures, linear.Bits);
        }
        catch (ArgumentException e)
        {
            throw Invalid(linear, linear.CodesTensor, e.Message);
        }
    }

    /// <summary>Writes 32-bit words little-endian (the byte order of every platform .NET and libtorch run on here).</summary>
    public static void Write(Stream stream, ReadOnlySpan<int> words) => stream.Write(MemoryMarshal.AsBytes(words));

    /// <summary>Runs a packing step, reporting a value it rejects as a problem of <paramref name="linear"/>'s state file.</summary>
    public static T Checked<T>(UnitStateLinear linear, string tensor, Func<T> step)
    {
        try
        {
            return step();
        }
        catch (ArgumentException e)
        {
            throw Invalid(linear, tensor, e.Message);
        }
    }

    /// <summary>A state problem, naming the file and tensor.</summary>
    public static CheckpointException Invalid(UnitStateLinear linear, string tensor, string detail) =>
        new(CheckpointErrorKind.InvalidQuantization, linear.File, tensor, detail);

    /// <summary>
    /// Refuses state that the scheme would misrepresent: non-zero zero points in a symmetric scheme (they would be
    /// dropped), a column in no group, or groups other than <c>c / GroupSize</c> where no g_idx is written.
    /// </summary>
    public static void RequireScheme(UnitStateLinear linear, QuantizationScheme scheme)
    {
        if (scheme.Symmetric && Int8(linear.File, linear.ZeroPointsTensor).Any(z => z != 0))
        {
            throw Invalid(linear, linear.ZeroPointsTensor, "holds non-zero zero points, but the linear is marked symmetric");
        }

        var gIdx = Int32(linear.File, linear.GIdxTensor);
        var outside = Array.FindIndex(gIdx, g => g < 0 || g >= linear.Groups);
        if (outside >= 0)
        {
            throw Invalid(linear, linear.GIdxTensor, $"column {outside} is in group {gIdx[outside]}, outside the {linear.Groups} groups");
        }

        var wrong = scheme.DynamicGroups ? -1 : Enumerable.Range(0, gIdx.Length).FirstOrDefault(c => gIdx[c] != c / linear.GroupSize, -1);
        if (wrong >= 0)
        {
            throw Invalid(linear, linear.GIdxTensor, $"column {wrong} is in group {gIdx[wrong]}, not {wrong / linear.GroupSize}, but the groups are marked contiguous");
        }
    }
}

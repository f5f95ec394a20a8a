using System.Buffers;
using System.Collections.Immutable;
using System.Globalization;
using System.Runtime.InteropServices;
using MoeQuant.Model.Checkpoint;
using MoeQuant.Model.Export;
using static TorchSharp.torch;

namespace MoeQuant.Model.Quantized;

/// <summary>
/// MoeQuant's per-unit state file: the quantized linears of one quantization unit (the modules that share one
/// Hessian), as a .safetensors file that <c>moequant pack</c> turns into any export format without re-quantizing.
/// For each linear <c>NAME</c>: <c>NAME.codes</c>, <c>NAME.scales</c>, <c>NAME.zero_points</c> (int8),
/// <c>NAME.g_idx</c> (int32); the metadata holds the format tag and, per linear, bits, group size, symmetry and
/// whether the groups are contiguous. Codes are stored packed, exactly as compressed-tensors' <c>weight_packed</c>
/// (<see cref="Int32Packing.PackRows"/>: I32 [out, ceil(in / (32 / bits))]), so that a 4-bit unit takes half the disk
/// of one byte per code and the export copies the words through; the input width is g_idx's length. Files of the
/// first version, one I8 byte per code, are still read.
/// </summary>
public static class UnitStateFile
{
    /// <summary>The format tag in <c>__metadata__</c>; a file without it (or <see cref="Int8Format"/>) is not a unit state file.</summary>
    public const string Format = "moequant-unit/2";

    /// <summary>The first version's tag: codes as I8 [out, in]. Read, never written.</summary>
    public const string Int8Format = "moequant-unit/1";

    internal const string CodesSuffix = ".codes";
    internal const string ScalesSuffix = ".scales";
    internal const string ZeroPointsSuffix = ".zero_points";
    internal const string GIdxSuffix = ".g_idx";

    private const string FormatKey = "format";

    /// <summary>Writes the linears to <paramref name="path"/> (temporary name, fsync, rename), codes packed.</summary>
    /// <exception cref="ArgumentOutOfRangeException">A code lies outside its linear's signed b-bit range.</exception>
    public static void Write(string path, IReadOnlyList<QuantizedLinear> linears)
    {
        // Contiguous CPU views (copies only where needed) of the codes live until the file is written.
        using var scope = NewDisposeScope();
        var entries = new List<SafetensorsEntry>();
        var metadata = new Dictionary<string, string> { [FormatKey] = Format };
        foreach (var q in linears)
        {
            entries.Add(PackedCodes(q.Name, q.Codes.cpu().contiguous(), q.Bits));
            entries.Add(SafetensorsEntry.FromTensor(q.Name + ScalesSuffix, q.Scales));
            entries.Add(SafetensorsEntry.FromTensor(q.Name + ZeroPointsSuffix, q.ZeroPoints));
            entries.Add(SafetensorsEntry.FromTensor(q.Name + GIdxSuffix, q.GIdx));
            metadata[q.Name] = string.Create(
                CultureInfo.InvariantCulture,
                $"bits={q.Bits};group_size={q.GroupSize};symmetric={q.Symmetric};contiguous_groups={q.ContiguousGroups}");
        }

        Directory.CreateDirectory(Path.GetDirectoryName(Path.GetFullPath(path))!);
        SafetensorsWriter.WriteFile(path, entries, metadata);
    }

    /// <summary>Reads every linear of a state file into CPU memory.</summary>
    /// <exception cref="CheckpointException">The file is not a unit state file or misses a tensor.</exception>
    public static IReadOnlyList<QuantizedLinear> Read(string path)
    {
        using var file = SafetensorsFile.Open(path);
        var (linears, packed) = Linears(file);
        return [.. linears.Select(m => ReadLinear(file, m.Key, m.Value, packed))];
    }

    /// <summary>
    /// Describes every linear of a state file from its header alone, checking that each tensor is present with the
    /// dtype and shape the others imply (codes packed I32 [out, ceil(in / (32 / bits))], or I8 [out, in] in the first
    /// version; scales [out, ceil(in / group_size)] float, zero points like the scales in I8, g_idx [in] I32).
    /// </summary>
    /// <exception cref="CheckpointException">The file is not a unit state file, or a tensor is missing or inconsistent.</exception>
    public static IReadOnlyList<UnitStateLinear> Describe(string path)
    {
        using var file = SafetensorsFile.Open(path);
        var (linears, packed) = Linears(file);
        return [.. linears.Select(m => DescribeLinear(file, m.Key, m.Value, packed))];
    }

    /// <summary>The linears' metadata, after checking the format tag; whether the codes are packed (not the first version).</summary>
    private static (IEnumerable<KeyValuePair<string, string>> Linears, bool Packed) Linears(SafetensorsFile file)
    {
        if (!file.Metadata.TryGetValue(FormatKey, out var format) || format is not (Format or Int8Format))
        {
            throw new CheckpointException(
                CheckpointErrorKind.InvalidHeader, file.Path, null, $"not a MoeQuant unit state file (expected format '{Format}' or '{Int8Format}')");
        }

        return (file.Metadata.Where(m => m.Key != FormatKey).OrderBy(m => m.Key, StringComparer.Ordinal), format == Format);
    }

    // Rows are packed into one pooled buffer of about this many words and written block by block: a unit's codes are
    // never held twice, and no fresh memory is touched per linear.
    private const int PackBlockWords = 1 << 20;

    /// <param name="name">The linear.</param>
    /// <param name="codes">[out, in] int8, contiguous on the CPU.</param>
    /// <param name="bits">Code width.</param>
    private static SafetensorsEntry PackedCodes(string name, Tensor codes, int bits)
    {
        var (rows, columns) = ((int)codes.shape[0], (int)codes.shape[1]);
        var words = Int32Packing.CeilDiv(columns, Int32Packing.ValuesPerWord(bits));
        return new SafetensorsEntry(name + CodesSuffix, SafetensorsDtype.I32, [rows, words], stream =>
        {
            var rowsPerBlock = Math.Max(1, PackBlockWords / Math.Max(1, words));
            var buffer = ArrayPool<int>.Shared.Rent(Math.Min(rows, rowsPerBlock) * words);
            try
            {
                for (var r = 0; r < rows; r += rowsPerBlock)
                {
                    var count = Math.Min(rowsPerBlock, rows - r);
                    var block = buffer.AsSpan(0, count * words);
                    var values = MemoryMarshal.Cast<byte, sbyte>(codes.bytes).Slice(r * columns, count * columns);
                    try
                    {
                        Int32Packing.PackRowsInto(values, columns, bits, block, firstRow: r);
                    }
                    catch (ArgumentOutOfRangeException e)
                    {
                        // The writer drops the unfinished file; the message says which linear.
                        throw new ArgumentOutOfRangeException($"{name}: {e.Message}", e);
                    }

                    stream.Write(MemoryMarshal.AsBytes(block));
                }
            }
            finally
            {
                ArrayPool<int>.Shared.Return(buffer);
            }
        });
    }

    private static QuantizedLinear ReadLinear(SafetensorsFile file, string name, string properties, bool packed)
    {
        var p = Parse(file, name, properties);
        Tensor Read(string suffix) => file.ReadTensorCopy(Require(file, name + suffix).Name);

        var gIdx = Read(GIdxSuffix);
        return new QuantizedLinear(name, packed ? Unpack(file, name, gIdx.shape[0], p.Bits) : Read(CodesSuffix), Read(ScalesSuffix), Read(ZeroPointsSuffix), gIdx, p.Bits, p.GroupSize, p.Symmetric, p.Contiguous);
    }

    private static Tensor Unpack(SafetensorsFile file, string name, long columns, int bits)
    {
        var codes = Require(file, name + CodesSuffix);
        var words = MemoryMarshal.Cast<byte, int>(file.GetBytes(codes.Name));
        var values = Int32Packing.UnpackRows(words, (int)codes.Shape[0], (int)columns, bits);
        return tensor(values, [codes.Shape[0], columns]);
    }

    private static UnitStateLinear DescribeLinear(SafetensorsFile file, string name, string properties, bool packed)
    {
        var p = Parse(file, name, properties);
        var codes = Require(file, name + CodesSuffix);
        var gIdx = Require(file, name + GIdxSuffix);
        if (codes.Dtype != (packed ? SafetensorsDtype.I32 : SafetensorsDtype.I8) || codes.Shape.Length != 2)
        {
            throw Invalid(file, codes.Name, $"is {Describe(codes)}; codes are 2-D {(packed ? "I32 (packed)" : "I8")}");
        }

        if (gIdx.Dtype != SafetensorsDtype.I32 || gIdx.Shape.Length != 1)
        {
            throw Invalid(file, gIdx.Name, $"is {Describe(gIdx)}; g_idx is 1-D I32");
        }

        var (rows, columns) = (codes.Shape[0], packed ? gIdx.Shape[0] : codes.Shape[1]);
        if (packed)
        {
            Expect(file, codes, SafetensorsDtype.I32, [rows, (columns + Int32Packing.ValuesPerWord(p.Bits) - 1) / Int32Packing.ValuesPerWord(p.Bits)]);
        }

        var groups = (columns + p.GroupSize - 1) / p.GroupSize;
        var scales = Require(file, name + ScalesSuffix);
        if (scales.Dtype is not (SafetensorsDtype.BF16 or SafetensorsDtype.F16 or SafetensorsDtype.F32))
        {
            throw Invalid(file, scales.Name, $"is {Describe(scales)}; scales are BF16, F16 or F32");
        }

        Expect(file, scales, scales.Dtype, [rows, groups]);
        Expect(file, Require(file, name + ZeroPointsSuffix), SafetensorsDtype.I8, [rows, groups]);
        Expect(file, gIdx, SafetensorsDtype.I32, [columns]);
        return new UnitStateLinear(file.Path, name, p.Bits, p.GroupSize, p.Symmetric, p.Contiguous, rows, columns, groups, scales.Dtype, packed);
    }

    private static (int Bits, int GroupSize, bool Symmetric, bool Contiguous) Parse(SafetensorsFile file, string name, string properties)
    {
        var values = properties.Split(';').Select(p => p.Split('=', 2)).ToImmutableDictionary(p => p[0], p => p.Length > 1 ? p[1] : "");
        string Value(string key) => values.TryGetValue(key, out var v)
            ? v
            : throw Invalid(file, name, $"metadata lacks '{key}'");
        T Number<T>(string key, Func<string, T?> parse)
            where T : struct => parse(Value(key)) ?? throw Invalid(file, name, $"metadata '{key}' is '{Value(key)}'");

        var bits = Number("bits", v => int.TryParse(v, NumberStyles.None, CultureInfo.InvariantCulture, out var n) && n is >= 1 and <= 8 ? n : (int?)null);
        var groupSize = Number("group_size", v => int.TryParse(v, NumberStyles.None, CultureInfo.InvariantCulture, out var n) && n > 0 ? n : (int?)null);
        var symmetric = Number("symmetric", v => bool.TryParse(v, out var b) ? b : (bool?)null);
        var contiguous = Number("contiguous_groups", v => bool.TryParse(v, out var b) ? b : (bool?)null);
        return (bits, groupSize, symmetric, contiguous);
    }

    private static TensorHeader Require(SafetensorsFile file, string tensor) =>
        file.TryGetHeader(tensor, out var header)
            ? header
            : throw new CheckpointException(CheckpointErrorKind.TensorNotFound, file.Path, tensor, "tensor missing from unit state file");

    private static void Expect(SafetensorsFile file, TensorHeader header, SafetensorsDtype dtype, long[] shape)
    {
        if (header.Dtype != dtype || !header.Shape.SequenceEqual(shape))
        {
            throw Invalid(file, header.Name, $"is {Describe(header)}, expected {dtype.HeaderName()} [{string.Join(", ", shape)}]");
        }
    }

    private static string Describe(TensorHeader header) => $"{header.Dtype.HeaderName()} [{string.Join(", ", header.Shape)}]";

    private static CheckpointException Invalid(SafetensorsFile file, string tensor, string detail) =>
        new(CheckpointErrorKind.InvalidHeader, file.Path, tensor, detail);
}

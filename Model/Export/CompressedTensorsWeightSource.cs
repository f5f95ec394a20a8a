using System.Runtime.InteropServices;
using MoeQuant.Model.Checkpoint;
using MoeQuant.Model.Forward;
using static TorchSharp.torch;

namespace MoeQuant.Model.Export;

/// <summary>
/// The weights of a compressed-tensors <c>pack-quantized</c> checkpoint for the forward pass: <c>P.weight</c> of a
/// packed linear is unpacked and dequantized on read, <c>W = (q − zp) × scale</c> per group in fp32, rounded once to
/// the requested dtype (FORMATS.md §3.1–3.5); every other tensor is read as stored. Each companion tensor is checked
/// against the scheme and <c>weight_shape</c>, so a corrupt file is named rather than misread. The checkpoint stays
/// owned by the caller.
/// </summary>
public sealed class CompressedTensorsWeightSource(ShardedCheckpoint checkpoint, CompressedTensorsConfig quantization) : IWeightSource
{
    private readonly CheckpointWeightSource _stored = new(checkpoint);

    /// <inheritdoc/>
    /// <exception cref="CheckpointException">No such tensor, or a packed weight whose companions are missing or do not
    /// fit its scheme (kind <see cref="CheckpointErrorKind.InvalidQuantization"/>).</exception>
    public Tensor Read(string name, ScalarType dtype, Device device)
    {
        if (checkpoint.Contains(name))
        {
            return _stored.Read(name, dtype, device);
        }

        var module = name.EndsWith(".weight", StringComparison.Ordinal) ? name[..^".weight".Length] : null;
        return module is not null && checkpoint.TryGetHeader(module + ".weight_packed", out var packed)
            ? Dequantize(module, packed, dtype, device)
            : throw new CheckpointException(CheckpointErrorKind.TensorNotFound, checkpoint.Folder, name, "no such tensor, nor a packed weight (weight_packed) for it");
    }

    private Tensor Dequantize(string module, TensorHeader packed, ScalarType dtype, Device device)
    {
        var scheme = quantization.SchemeOf(module)
            ?? throw Invalid(packed, "is stored packed, but no config group of quantization_config targets the module (or ignore lists it)");
        var shape = Require(module, ".weight_shape", SafetensorsDtype.I64, SafetensorsDtype.I32);
        var dims = ReadLongs(shape);
        if (dims.Length != 2 || dims.Any(d => d is <= 0 or > int.MaxValue))
        {
            throw Invalid(shape, $"is [{string.Join(", ", dims)}]; expected [out, in], both positive");
        }

        var (rows, columns) = ((int)dims[0], (int)dims[1]);
        var perWord = Int32Packing.ValuesPerWord(scheme.Bits);
        var groups = (int)scheme.GroupsOf(columns);
        Expect(packed, [SafetensorsDtype.I32], [rows, Int32Packing.CeilDiv(columns, perWord)], $"for weight_shape [{rows}, {columns}] at {scheme.Bits} bits");
        var scale = Require(module, ".weight_scale", SafetensorsDtype.BF16, SafetensorsDtype.F16, SafetensorsDtype.F32);
        Expect(scale, [scale.Dtype], [rows, groups], $"for {groups} group(s) per row");

        using var scope = NewDisposeScope();
        var codes = Int8Tensor(Int32Packing.UnpackRows(ReadInts(packed), rows, columns, scheme.Bits), rows, columns).to_type(ScalarType.Float32);
        var groupOf = GroupIndex(module, scheme, columns, groups);
        var weight = codes;
        if (!scheme.Symmetric)
        {
            var zero = Require(module, ".weight_zero_point", SafetensorsDtype.I32);
            Expect(zero, [SafetensorsDtype.I32], [Int32Packing.CeilDiv(rows, perWord), groups], $"for {rows} rows of {groups} group(s) at {scheme.Bits} bits");
            var zeros = Int8Tensor(Int32Packing.UnpackColumns(ReadInts(zero), rows, groups, scheme.Bits), rows, groups).to_type(ScalarType.Float32);
            weight = weight.sub(zeros.index_select(1, groupOf));
        }

        var scales = checkpoint.ReadTensorCopy(scale.Name).to_type(ScalarType.Float32);
        return weight.mul(scales.index_select(1, groupOf)).to(dtype, device).MoveToOuterDisposeScope();
    }

    /// <summary>The group of each column: <c>weight_g_idx</c> under act-order groups, else <c>c / group_size</c>.</summary>
    private Tensor GroupIndex(string module, QuantizationScheme scheme, int columns, int groups)
    {
        if (!scheme.DynamicGroups)
        {
            return arange(columns, ScalarType.Int64).div(scheme.GroupSize ?? columns, rounding_mode: RoundingMode.floor);
        }

        var header = Require(module, ".weight_g_idx", SafetensorsDtype.I32);
        Expect(header, [SafetensorsDtype.I32], [columns], "(one group per input column)");
        var gIdx = ReadInts(header);
        var outside = Array.FindIndex(gIdx, g => g < 0 || g >= groups);
        return outside < 0
            ? tensor(gIdx.Select(g => (long)g).ToArray(), ScalarType.Int64)
            : throw Invalid(header, $"puts column {outside} in group {gIdx[outside]}, outside the {groups} group(s)");
    }

    private TensorHeader Require(string module, string suffix, params SafetensorsDtype[] dtypes)
    {
        if (!checkpoint.TryGetHeader(module + suffix, out var header))
        {
            throw new CheckpointException(CheckpointErrorKind.InvalidQuantization, checkpoint.Folder, module + ".weight_packed", $"has no {suffix[1..]} beside it");
        }

        return dtypes.Contains(header.Dtype) ? header : throw Invalid(header, $"is {header.Dtype.HeaderName()}; expected {string.Join(" or ", dtypes.Select(d => d.HeaderName()))}");
    }

    private static void Expect(TensorHeader header, SafetensorsDtype[] dtypes, long[] shape, string why)
    {
        if (!dtypes.Contains(header.Dtype) || !header.Shape.SequenceEqual(shape))
        {
            throw Invalid(header, $"is {header.Dtype.HeaderName()} [{string.Join(", ", header.Shape)}]; expected [{string.Join(", ", shape)}] {why}");
        }
    }

    private int[] ReadInts(TensorHeader header) => MemoryMarshal.Cast<byte, int>(ReadBytes(header)).ToArray();

    private long[] ReadLongs(TensorHeader header) => header.Dtype == SafetensorsDtype.I64
        ? MemoryMarshal.Cast<byte, long>(ReadBytes(header)).ToArray()
        : [.. ReadInts(header).Select(i => (long)i)];

    private byte[] ReadBytes(TensorHeader header)
    {
        var bytes = new byte[header.ByteLength];
        checkpoint.ReadBytes(header.Name, 0, bytes);
        return bytes;
    }

    private static Tensor Int8Tensor(sbyte[] values, int rows, int columns) => tensor(values, [rows, columns], ScalarType.Int8);

    private static CheckpointException Invalid(TensorHeader header, string detail) =>
        new(CheckpointErrorKind.InvalidQuantization, header.File, header.Name, detail);
}

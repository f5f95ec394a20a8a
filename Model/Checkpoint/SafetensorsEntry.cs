using System.Collections.Immutable;
using MoeQuant.Kernels.Tensors;
using TorchSharp;

namespace MoeQuant.Model.Checkpoint;

/// <summary>
/// One tensor for <see cref="SafetensorsWriter"/>: what its header entry says, and a callback that writes its bytes
/// when its turn comes, so that a writer never holds more than one tensor's data.
/// </summary>
/// <param name="Name">Tensor name; must not be "__metadata__".</param>
/// <param name="Dtype">Element type written in the header.</param>
/// <param name="Shape">Dimensions, row-major; empty for a scalar.</param>
/// <param name="WriteData">Writes exactly <see cref="ByteLength"/> bytes (little-endian elements, row-major) to the stream.</param>
public sealed record SafetensorsEntry(string Name, SafetensorsDtype Dtype, ImmutableArray<long> Shape, Action<Stream> WriteData)
{
    /// <summary>Number of data bytes: elements × element size.</summary>
    public long ByteLength => checked(Shape.Aggregate(1L, (n, d) => n * d) * Dtype.ElementSize());

    /// <summary>A tensor whose bytes are already in memory.</summary>
    /// <exception cref="ArgumentException"><paramref name="data"/> is not shape × dtype bytes long.</exception>
    public static SafetensorsEntry FromBytes(string name, SafetensorsDtype dtype, ImmutableArray<long> shape, ReadOnlyMemory<byte> data)
    {
        var entry = new SafetensorsEntry(name, dtype, shape, stream => stream.Write(data.Span));
        if (entry.ByteLength != data.Length)
        {
            throw new ArgumentException($"tensor '{name}': {data.Length} bytes given, shape × {dtype.HeaderName()} needs {entry.ByteLength}", nameof(data));
        }

        return entry;
    }

    /// <summary>
    /// A TorchSharp tensor (any device or layout); it must stay undisposed until the writer has written it.
    /// <paramref name="dtype"/> defaults to the tensor's own type; pass F8_E4M3 to write a uint8 tensor of FP8 codes.
    /// </summary>
    /// <exception cref="ArgumentException"><paramref name="dtype"/> is not stored as the tensor's type.</exception>
    public static SafetensorsEntry FromTensor(string name, torch.Tensor tensor, SafetensorsDtype? dtype = null)
    {
        var written = dtype ?? SafetensorsDtypes.FromScalarType(tensor.dtype);
        if (written.ToScalarType() != tensor.dtype)
        {
            throw new ArgumentException($"tensor '{name}' is {tensor.dtype}, which cannot be written as {written.HeaderName()}", nameof(dtype));
        }

        return new SafetensorsEntry(name, written, [.. tensor.shape], stream => TensorBytes.Write(tensor, stream));
    }
}

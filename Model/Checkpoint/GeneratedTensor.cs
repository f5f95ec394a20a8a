using System.Collections.Immutable;

namespace MoeQuant.Model.Checkpoint;

/// <summary>Writes part of a tensor's bytes: <paramref name="destination"/> receives the bytes that start at
/// <paramref name="byteOffset"/> into the tensor's data. Both the offset and the length are multiples of the element size.</summary>
public delegate void TensorBytesFill(long byteOffset, Span<byte> destination);

/// <summary>
/// A tensor whose bytes are a function of their position (random weights from a counter-based generator), so that any
/// part of it can be made on its own, by any thread, in any order, with the same result.
/// <see cref="SafetensorsWriter.WriteShardedParallel(string, IReadOnlyList{GeneratedTensor}, long, int, Action{long}?, IReadOnlyDictionary{string, string}?, CancellationToken)"/> writes such tensors on every core.
/// </summary>
/// <param name="Name">Tensor name; must not be "__metadata__".</param>
/// <param name="Dtype">Element type written in the header.</param>
/// <param name="Shape">Dimensions, row-major.</param>
/// <param name="Fill">Makes any part of the data (little-endian elements, row-major); must be safe to call from several threads at once.</param>
public sealed record GeneratedTensor(string Name, SafetensorsDtype Dtype, ImmutableArray<long> Shape, TensorBytesFill Fill)
{
    // Pieces of one tensor for a sequential stream; a multiple of every element size.
    private const int StreamPieceBytes = 1 << 20;

    /// <summary>Number of data bytes: elements × element size.</summary>
    public long ByteLength => checked(Shape.Aggregate(1L, (n, d) => n * d) * Dtype.ElementSize());

    /// <summary>The same tensor for the streaming writer (<see cref="SafetensorsWriter.WriteFile"/>), made piece by piece.</summary>
    public SafetensorsEntry ToEntry() => new(Name, Dtype, Shape, stream =>
    {
        var length = ByteLength;
        var buffer = new byte[(int)Math.Min(length, StreamPieceBytes)];
        for (var offset = 0L; offset < length; offset += buffer.Length)
        {
            var piece = buffer.AsSpan(0, (int)Math.Min(buffer.Length, length - offset));
            Fill(offset, piece);
            stream.Write(piece);
        }
    });
}

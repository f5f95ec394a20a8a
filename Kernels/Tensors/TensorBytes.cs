using TorchSharp;
using static TorchSharp.torch;

namespace MoeQuant.Kernels.Tensors;

/// <summary>Fills a part of a tensor's memory: <paramref name="destination"/> receives the bytes that start
/// <paramref name="offset"/> bytes into the tensor.</summary>
public delegate void ByteSource(long offset, Span<byte> destination);

/// <summary>Moves the raw little-endian element bytes of tensors between CPU memory, files and streams.</summary>
public static class TensorBytes
{
    // Spans are limited to 2 GiB; 1 GiB chunks stay well inside that at any element size.
    private const long ChunkBytes = 1L << 30;

    // Large enough that per-call overhead disappears next to the copy, small enough to stay in cache.
    private const int StreamBufferSize = 1 << 20;

    /// <summary>
    /// A new contiguous CPU tensor of <paramref name="dtype"/> and <paramref name="shape"/> whose bytes
    /// <paramref name="source"/> writes straight into its memory, in chunks of at most 1 GiB (no intermediate buffer).
    /// </summary>
    public static Tensor Read(ScalarType dtype, long[] shape, ByteSource source)
    {
        var result = empty(shape, dtype);
        using var scope = NewDisposeScope();
        var flat = result.view(-1);
        var elementSize = dtype.ElementSize();
        var elementsPerChunk = ChunkBytes / elementSize;
        for (var start = 0L; start < flat.numel(); start += elementsPerChunk)
        {
            var chunk = flat.narrow(0, start, Math.Min(elementsPerChunk, flat.numel() - start));
            source(start * elementSize, chunk.bytes);
        }

        return result;
    }

    /// <summary>Writes the elements of <paramref name="tensor"/> (any device, any layout) in row-major order.</summary>
    public static void Write(Tensor tensor, Stream destination)
    {
        if (tensor.numel() == 0)
        {
            return;
        }

        using var scope = NewDisposeScope();
        tensor.cpu().contiguous().WriteBytesToStream(destination, StreamBufferSize);
    }
}

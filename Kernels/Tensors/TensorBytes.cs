using static TorchSharp.torch;

namespace MoeQuant.Kernels.Tensors;

/// <summary>Moves the raw little-endian element bytes of a tensor between streams and CPU memory.</summary>
public static class TensorBytes
{
    // Large enough that per-call overhead disappears next to the copy, small enough to stay in cache.
    private const int BufferSize = 1 << 20;

    /// <summary>A new contiguous CPU tensor of <paramref name="dtype"/> and <paramref name="shape"/> filled with the next
    /// numel × element-size bytes of <paramref name="source"/>.</summary>
    /// <exception cref="EndOfStreamException">The stream ends early.</exception>
    public static Tensor Read(Stream source, ScalarType dtype, long[] shape)
    {
        var result = empty(shape, dtype);
        if (result.numel() > 0)
        {
            result.ReadBytesFromStream(source, BufferSize);
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
        tensor.cpu().contiguous().WriteBytesToStream(destination, BufferSize);
    }
}

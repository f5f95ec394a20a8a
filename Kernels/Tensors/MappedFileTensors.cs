using TorchSharp;
using static TorchSharp.torch;

namespace MoeQuant.Kernels.Tensors;

/// <summary>
/// Zero-copy CPU tensors over the bytes of one file. The mapping belongs to libtorch (<c>torch.from_file</c> with
/// shared = false: the file is opened read-only and mapped private copy-on-write), so every tensor returned here keeps
/// it alive through its storage until that tensor is disposed, also after this object is disposed; writing into such
/// a tensor never changes the file.
/// </summary>
public sealed class MappedFileTensors : IDisposable
{
    private readonly string _path;
    private readonly long _fileLength;
    private readonly Dictionary<ScalarType, Tensor> _mappings = [];
    private readonly Lock _lock = new();
    private bool _disposed;

    /// <param name="path">The file; it must not shrink while mapped.</param>
    /// <param name="fileLength">Its length in bytes.</param>
    public MappedFileTensors(string path, long fileLength)
    {
        _path = path;
        _fileLength = fileLength;
    }

    /// <summary>Whether a tensor of <paramref name="dtype"/> at <paramref name="byteOffset"/> can be a view:
    /// libtorch addresses storage in whole elements, so the offset must be a multiple of the element size.</summary>
    public static bool CanView(long byteOffset, ScalarType dtype) => byteOffset % dtype.ElementSize() == 0;

    /// <summary>
    /// A contiguous view of the <paramref name="shape"/> elements of <paramref name="dtype"/> that start at
    /// <paramref name="byteOffset"/> in the file. It is attached to the caller's dispose scope, if any.
    /// </summary>
    /// <exception cref="ArgumentException">The offset is not a multiple of the element size (see <see cref="CanView"/>).</exception>
    public Tensor View(long byteOffset, ScalarType dtype, long[] shape)
    {
        if (!CanView(byteOffset, dtype))
        {
            throw new ArgumentException($"{_path}: offset {byteOffset} is not aligned to {dtype}", nameof(byteOffset));
        }

        return Mapping(dtype).as_strided(shape, ContiguousStrides(shape), byteOffset / dtype.ElementSize());
    }

    /// <summary>Drops this object's references to the mappings; views already handed out stay valid.</summary>
    public void Dispose()
    {
        lock (_lock)
        {
            foreach (var mapping in _mappings.Values)
            {
                mapping.Dispose();
            }

            _mappings.Clear();
            _disposed = true;
        }
    }

    /// <summary>The whole file as a 1-D tensor of <paramref name="dtype"/>, mapped once per dtype.</summary>
    private Tensor Mapping(ScalarType dtype)
    {
        lock (_lock)
        {
            ObjectDisposedException.ThrowIf(_disposed, this);
            if (!_mappings.TryGetValue(dtype, out var mapping))
            {
                // Detached: a dispose scope around the first read must not free the mapping that later reads share.
                mapping = from_file(_path, shared: false, size: _fileLength / dtype.ElementSize(), dtype: dtype).DetachFromDisposeScope();
                _mappings[dtype] = mapping;
            }

            return mapping;
        }
    }

    private static long[] ContiguousStrides(long[] shape)
    {
        var strides = new long[shape.Length];
        var stride = 1L;
        for (var i = shape.Length - 1; i >= 0; i--)
        {
            strides[i] = stride;
            stride *= Math.Max(shape[i], 1);
        }

        return strides;
    }
}

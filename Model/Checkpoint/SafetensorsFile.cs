using System.Collections.Immutable;
using System.Diagnostics.CodeAnalysis;
using System.IO.MemoryMappedFiles;
using Microsoft.Win32.SafeHandles;
using MoeQuant.Kernels.Tensors;
using TorchSharp;

namespace MoeQuant.Model.Checkpoint;

/// <summary>
/// One .safetensors file, validated on open (FORMATS.md §1.3) and memory-mapped read-only; tensor bytes are read
/// lazily, on request. Reads may run on several threads at once; <see cref="Dispose"/> must not overlap them.
/// </summary>
public sealed unsafe class SafetensorsFile : IDisposable
{
    private readonly SafeFileHandle _handle;
    private readonly MemoryMappedFile _map;
    private readonly MemoryMappedViewAccessor _view;
    private readonly byte* _start;
    private readonly Dictionary<string, TensorHeader> _byName;
    private readonly Lazy<MappedFileTensors> _tensors;
    private bool _disposed;

    private SafetensorsFile(string path, SafeFileHandle handle, long length, ImmutableArray<TensorHeader> tensors, IReadOnlyDictionary<string, string> metadata)
    {
        Path = path;
        Length = length;
        Tensors = tensors;
        Metadata = metadata;
        _byName = tensors.ToDictionary(t => t.Name, StringComparer.Ordinal);
        _handle = handle;
        _map = MemoryMappedFile.CreateFromFile(handle, null, length, MemoryMappedFileAccess.Read, HandleInheritability.None, leaveOpen: true);
        _view = _map.CreateViewAccessor(0, length, MemoryMappedFileAccess.Read);
        byte* start = null;
        _view.SafeMemoryMappedViewHandle.AcquirePointer(ref start);
        _start = start + _view.PointerOffset;
        _tensors = new Lazy<MappedFileTensors>(() => new MappedFileTensors(Path, Length));
    }

    /// <summary>Full path of the file.</summary>
    public string Path { get; }

    /// <summary>File length in bytes.</summary>
    public long Length { get; }

    /// <summary>The tensors in the order of their bytes in the file.</summary>
    public IReadOnlyList<TensorHeader> Tensors { get; }

    /// <summary>The header's <c>__metadata__</c> (empty when absent).</summary>
    public IReadOnlyDictionary<string, string> Metadata { get; }

    /// <summary>Opens and validates <paramref name="path"/>.</summary>
    /// <exception cref="CheckpointException">The file is missing, unreadable or malformed; the message names it.</exception>
    public static SafetensorsFile Open(string path)
    {
        var fullPath = System.IO.Path.GetFullPath(path);
        SafeFileHandle handle;
        try
        {
            handle = File.OpenHandle(fullPath, FileMode.Open, FileAccess.Read, FileShare.Read);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            throw new CheckpointException(CheckpointErrorKind.NotFound, fullPath, null, $"cannot open: {e.Message}", e);
        }

        try
        {
            var length = RandomAccess.GetLength(handle);
            var (tensors, metadata) = SafetensorsHeaderReader.Read(handle, fullPath, length);
            return new SafetensorsFile(fullPath, handle, length, tensors, metadata);
        }
        catch
        {
            handle.Dispose();
            throw;
        }
    }

    /// <summary>Whether the file holds a tensor called <paramref name="name"/>.</summary>
    public bool Contains(string name) => _byName.ContainsKey(name);

    /// <summary>The header entry of <paramref name="name"/>, if the file holds it.</summary>
    public bool TryGetHeader(string name, [NotNullWhen(true)] out TensorHeader? header) => _byName.TryGetValue(name, out header);

    /// <summary>The header entry of <paramref name="name"/>.</summary>
    /// <exception cref="CheckpointException">No such tensor (kind <see cref="CheckpointErrorKind.TensorNotFound"/>).</exception>
    public TensorHeader GetHeader(string name) =>
        _byName.TryGetValue(name, out var header)
            ? header
            : throw new CheckpointException(CheckpointErrorKind.TensorNotFound, Path, name, "no such tensor in this file");

    /// <summary>
    /// The raw little-endian element bytes of a tensor, straight from the mapping; valid until <see cref="Dispose"/>.
    /// </summary>
    /// <exception cref="InvalidOperationException">The tensor is 2 GiB or larger; use <see cref="GetAddress"/> or <see cref="ReadTensor"/>.</exception>
    public ReadOnlySpan<byte> GetBytes(string name)
    {
        var header = GetHeader(name);
        if (header.ByteLength > int.MaxValue)
        {
            throw new InvalidOperationException($"{Path}: tensor '{name}' is {header.ByteLength} bytes, too large for a span");
        }

        return new ReadOnlySpan<byte>((byte*)GetAddress(name), (int)header.ByteLength);
    }

    /// <summary>Address of a tensor's first byte in the read-only mapping; valid until <see cref="Dispose"/>.</summary>
    public nint GetAddress(string name)
    {
        ObjectDisposedException.ThrowIf(_disposed, this);
        return (nint)(_start + GetHeader(name).DataOffset);
    }

    /// <summary>
    /// Copies <paramref name="destination"/>.Length bytes of a tensor, starting <paramref name="tensorOffset"/> bytes into
    /// it, with positional reads of the file (no mapping): for data that is read once, this avoids the page faults of a
    /// fresh mapping and is as fast as a plain sequential read. Tensors of any size can be read in pieces.
    /// </summary>
    /// <exception cref="ArgumentOutOfRangeException">The range runs outside the tensor.</exception>
    public void ReadBytes(string name, long tensorOffset, Span<byte> destination)
    {
        ObjectDisposedException.ThrowIf(_disposed, this);
        var header = GetHeader(name);
        ArgumentOutOfRangeException.ThrowIfNegative(tensorOffset);
        ArgumentOutOfRangeException.ThrowIfGreaterThan(tensorOffset + destination.Length, header.ByteLength, nameof(destination));
        var position = header.DataOffset + tensorOffset;
        while (!destination.IsEmpty)
        {
            var read = RandomAccess.Read(_handle, destination, position);
            if (read == 0)
            {
                throw new CheckpointException(CheckpointErrorKind.IncompleteBuffer, Path, name, "the file shrank after it was opened");
            }

            destination = destination[read..];
            position += read;
        }
    }

    /// <summary>
    /// A CPU tensor of the tensor's shape and type (<see cref="SafetensorsDtypes.ToScalarType"/>; F8_E4M3 as uint8 codes).
    /// It is a zero-copy view of the file when the tensor is aligned to its element size (always so for files written
    /// by the official serializer or by <see cref="SafetensorsWriter"/>), else a copy. A view keeps its own mapping alive
    /// and stays valid after this file is disposed; writes into it never reach the file.
    /// </summary>
    public torch.Tensor ReadTensor(string name)
    {
        ObjectDisposedException.ThrowIf(_disposed, this);
        var header = GetHeader(name);
        var dtype = header.Dtype.ToScalarType();
        var shape = header.Shape.ToArray();
        return MappedFileTensors.CanView(header.DataOffset, dtype)
            ? _tensors.Value.View(header.DataOffset, dtype, shape)
            : ReadTensorCopy(name);
    }

    /// <summary>
    /// A new CPU tensor holding a copy of the tensor, read into its memory with <see cref="ReadBytes"/>: the better
    /// choice when every byte is used once (e.g. on its way to a GPU). It does not keep the file mapped.
    /// </summary>
    public torch.Tensor ReadTensorCopy(string name)
    {
        var header = GetHeader(name);
        return TensorBytes.Read(header.Dtype.ToScalarType(), header.Shape.ToArray(), (offset, destination) => ReadBytes(name, offset, destination));
    }

    public void Dispose()
    {
        if (_disposed)
        {
            return;
        }

        _disposed = true;
        if (_tensors.IsValueCreated)
        {
            _tensors.Value.Dispose();
        }

        _view.SafeMemoryMappedViewHandle.ReleasePointer();
        _view.Dispose();
        _map.Dispose();
        _handle.Dispose();
    }
}

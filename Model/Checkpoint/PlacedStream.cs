using Microsoft.Win32.SafeHandles;

namespace MoeQuant.Model.Checkpoint;

/// <summary>
/// A write-only stream over one tensor's place in a file that several threads write at once: each write goes straight
/// to its offset (positional writes share no file position), and a write past the tensor's end is refused before it
/// could overwrite the next tensor.
/// </summary>
internal sealed class PlacedStream(SafeFileHandle file, long fileOffset, long length, Func<long, Exception> tooLong) : Stream
{
    private long _position;

    public override bool CanRead => false;

    public override bool CanSeek => false;

    public override bool CanWrite => true;

    public override long Length => length;

    /// <summary>Bytes written so far.</summary>
    public override long Position
    {
        get => _position;
        set => throw new NotSupportedException();
    }

    public override void Write(byte[] buffer, int offset, int count) => Write(buffer.AsSpan(offset, count));

    public override void Write(ReadOnlySpan<byte> buffer)
    {
        if (_position + buffer.Length > length)
        {
            throw tooLong(_position + buffer.Length);
        }

        RandomAccess.Write(file, buffer, fileOffset + _position);
        _position += buffer.Length;
    }

    public override void Flush()
    {
        // Every write is already in the file; the writer fsyncs the whole file once all tensors are in.
    }

    public override int Read(byte[] buffer, int offset, int count) => throw new NotSupportedException();

    public override long Seek(long offset, SeekOrigin origin) => throw new NotSupportedException();

    public override void SetLength(long value) => throw new NotSupportedException();
}

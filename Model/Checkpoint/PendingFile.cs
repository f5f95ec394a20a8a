namespace MoeQuant.Model.Checkpoint;

/// <summary>
/// A file written under a temporary name in its final folder, fsynced, then renamed over the final name, so that the
/// final name only ever holds complete files. Disposing before <see cref="Commit"/> deletes the temporary file.
/// The folder entry itself is not fsynced (.NET cannot open a directory): after a power cut the file may be missing,
/// but never partial.
/// </summary>
internal sealed class PendingFile : IDisposable
{
    // Large sequential writes; the OS cache absorbs the rest.
    private const int BufferSize = 1 << 20;

    private readonly string _temporaryPath;
    private bool _committed;

    private PendingFile(string finalPath, long preallocationSize)
    {
        FinalPath = finalPath;
        // Unique per attempt and not ending in .safetensors, so a reader that globs a folder never picks it up.
        _temporaryPath = $"{finalPath}.{Guid.NewGuid():N}.tmp";
        Stream = new FileStream(_temporaryPath, new FileStreamOptions
        {
            Mode = FileMode.CreateNew,
            Access = FileAccess.Write,
            Share = FileShare.None,
            BufferSize = BufferSize,
            PreallocationSize = preallocationSize,
        });
    }

    /// <summary>Where the file ends up.</summary>
    public string FinalPath { get; }

    /// <summary>The temporary file, positioned at its start.</summary>
    public FileStream Stream { get; }

    /// <summary>Starts a file that will replace <paramref name="finalPath"/>.</summary>
    /// <param name="finalPath">Where the file ends up.</param>
    /// <param name="preallocationSize">Bytes to reserve on the disk at once (a full disk fails here, not hours later); 0 for none.</param>
    public static PendingFile Create(string finalPath, long preallocationSize = 0) => new(Path.GetFullPath(finalPath), preallocationSize);

    /// <summary>Flushes the data to the disk (fsync) and closes the temporary file.</summary>
    public void Complete()
    {
        Stream.Flush(flushToDisk: true);
        Stream.Dispose();
    }

    /// <summary>Renames the completed file to its final name, replacing what was there.</summary>
    public void Commit()
    {
        File.Move(_temporaryPath, FinalPath, overwrite: true);
        _committed = true;
    }

    public void Dispose()
    {
        if (_committed)
        {
            return;
        }

        try
        {
            Stream.Dispose();
        }
        catch (IOException)
        {
            // Flushing the buffer of an abandoned file can fail (disk full); the file is deleted next anyway, and
            // throwing here would hide the error that abandoned it.
        }

        File.Delete(_temporaryPath);
    }
}

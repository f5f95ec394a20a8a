using System.Runtime.InteropServices;
using System.Security.Cryptography;
using MoeQuant.GpuNode.Native;

namespace MoeQuant.GpuNode.Durability;

/// <summary>
/// Writes a file so that a crash leaves either the old file or the complete new one: the bytes go to a temporary name
/// in the same folder, are flushed to disk, and the temporary file is renamed over the target; the folder is then
/// flushed so that the rename itself survives a power loss.
/// </summary>
public static class AtomicFile
{
    /// <summary>Writes <paramref name="write"/>'s bytes to <paramref name="path"/> and returns their SHA-256 (lower-case hex).</summary>
    public static string Write(string path, Action<Stream> write)
    {
        var folder = Path.GetDirectoryName(Path.GetFullPath(path))!;
        Directory.CreateDirectory(folder);
        var temp = Path.Combine(folder, $".{Path.GetFileName(path)}.{Environment.ProcessId}.tmp");
        string hash;
        using (var file = new FileStream(temp, FileMode.Create, FileAccess.Write, FileShare.None, 1 << 16))
        {
            // SHA-256 as a pass-through transform: the file gets the bytes unchanged and the hash sees each once.
            using var sha = SHA256.Create();
            using var hashing = new CryptoStream(file, sha, CryptoStreamMode.Write, leaveOpen: true);
            write(hashing);
            hashing.FlushFinalBlock();
            hash = Convert.ToHexStringLower(sha.Hash!);
            file.Flush(flushToDisk: true);
        }

        File.Move(temp, path, overwrite: true);
        FlushFolder(folder);
        return hash;
    }

    /// <summary>Writes <paramref name="bytes"/> atomically and returns their SHA-256.</summary>
    public static string WriteAllBytes(string path, ReadOnlySpan<byte> bytes)
    {
        var copy = bytes.ToArray();
        return Write(path, stream => stream.Write(copy));
    }

    /// <summary>SHA-256 of a file's bytes (lower-case hex).</summary>
    public static string Sha256Of(string path)
    {
        using var file = File.OpenRead(path);
        return Convert.ToHexStringLower(SHA256.HashData(file));
    }

    /// <summary>Flushes a folder's entries (a rename or a new file) to disk. Linux only: elsewhere the rename is
    /// left to the file system's own ordering.</summary>
    public static void FlushFolder(string folder)
    {
        if (!OperatingSystem.IsLinux())
        {
            return;
        }

        var fd = NativeMethods.Open(folder, NativeMethods.OpenDirectoryReadOnly);
        if (fd < 0)
        {
            throw new IOException($"{folder}: cannot open the folder to flush it (errno {Marshal.GetLastPInvokeError()})");
        }

        try
        {
            if (NativeMethods.Fsync(fd) != 0)
            {
                throw new IOException($"{folder}: fsync failed (errno {Marshal.GetLastPInvokeError()})");
            }
        }
        finally
        {
            NativeMethods.Close(fd);
        }
    }
}

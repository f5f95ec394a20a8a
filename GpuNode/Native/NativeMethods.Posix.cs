using System.Runtime.InteropServices;

namespace MoeQuant.GpuNode.Native;

/// <summary>libc calls that .NET does not expose: .NET cannot open a folder as a file, which flushing a rename needs.</summary>
internal static partial class NativeMethods
{
    /// <summary>O_RDONLY | O_DIRECTORY on Linux.</summary>
    public const int OpenDirectoryReadOnly = 0x10000;

    [LibraryImport("libc", EntryPoint = "open", StringMarshalling = StringMarshalling.Utf8, SetLastError = true)]
    public static partial int Open(string path, int flags);

    [LibraryImport("libc", EntryPoint = "fsync", SetLastError = true)]
    public static partial int Fsync(int fd);

    [LibraryImport("libc", EntryPoint = "close", SetLastError = true)]
    public static partial int Close(int fd);
}

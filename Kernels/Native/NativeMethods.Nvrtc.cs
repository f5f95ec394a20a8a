using System.Runtime.InteropServices;

namespace MoeQuant.Kernels.Native;

/// <summary>NVRTC: compiles the embedded .cu sources to cubin for the device's architecture at run time.</summary>
internal static partial class NativeMethods
{
    // Resolved by NativeLibraryResolver to the installed major version (libnvrtc.so.13, .12, ...).
    internal const string NvrtcLibrary = "moequant-nvrtc";

    [LibraryImport(NvrtcLibrary)]
    internal static partial int nvrtcVersion(out int major, out int minor);

    [LibraryImport(NvrtcLibrary, StringMarshalling = StringMarshalling.Utf8)]
    internal static partial int nvrtcCreateProgram(out IntPtr program, string source, string name, int headerCount, IntPtr headers, IntPtr includeNames);

    [LibraryImport(NvrtcLibrary)]
    internal static partial int nvrtcCompileProgram(IntPtr program, int optionCount, IntPtr[] options);

    [LibraryImport(NvrtcLibrary)]
    internal static partial int nvrtcGetProgramLogSize(IntPtr program, out nuint size);

    [LibraryImport(NvrtcLibrary)]
    internal static partial int nvrtcGetProgramLog(IntPtr program, byte[] log);

    [LibraryImport(NvrtcLibrary)]
    internal static partial int nvrtcGetCUBINSize(IntPtr program, out nuint size);

    [LibraryImport(NvrtcLibrary)]
    internal static partial int nvrtcGetCUBIN(IntPtr program, byte[] cubin);

    [LibraryImport(NvrtcLibrary)]
    internal static partial int nvrtcDestroyProgram(ref IntPtr program);

    [LibraryImport(NvrtcLibrary)]
    internal static partial IntPtr nvrtcGetErrorString(int result);
}

using System.Reflection;
using System.Runtime.InteropServices;

namespace MoeQuant.Kernels.Native;

/// <summary>
/// Maps the version-free library names of <see cref="NativeMethods"/> to whatever major version the CUDA install has:
/// NVRTC's and cuBLAS's sonames carry the CUDA major (libnvrtc.so.13 with CUDA 13, .12 with CUDA 12), and MoeQuant must run on both.
/// </summary>
internal static class NativeLibraryResolver
{
    private static readonly Dictionary<string, string[]> Candidates = new()
    {
        [NativeMethods.NvrtcLibrary] = ["libnvrtc.so.13", "libnvrtc.so.12", "libnvrtc.so"],
        [NativeMethods.CublasLibrary] = ["libcublas.so.13", "libcublas.so.12", "libcublas.so"],
    };

    private static readonly Lazy<bool> Registration = new(() =>
    {
        NativeLibrary.SetDllImportResolver(typeof(NativeLibraryResolver).Assembly, Resolve);
        return true;
    });

    /// <summary>Installs the resolver once; call before the first NVRTC or cuBLAS call.</summary>
    internal static void EnsureRegistered() => _ = Registration.Value;

    private static IntPtr Resolve(string name, Assembly assembly, DllImportSearchPath? searchPath)
    {
        if (!Candidates.TryGetValue(name, out var candidates))
        {
            return IntPtr.Zero; // default probing for everything else
        }

        foreach (var candidate in candidates)
        {
            if (NativeLibrary.TryLoad(candidate, assembly, searchPath, out var handle))
            {
                return handle;
            }
        }

        throw new DllNotFoundException($"none of {string.Join(", ", candidates)} found; add the CUDA toolkit's lib64 to LD_LIBRARY_PATH");
    }
}

using System.Runtime.InteropServices;
using System.Text;
using MoeQuant.Kernels.Native;

namespace MoeQuant.Kernels.Cuda;

/// <summary>Compiles CUDA C++ source to a cubin for one architecture with NVRTC.</summary>
public static class NvrtcCompiler
{
    /// <summary>NVRTC's version, "major.minor" (part of the cubin cache key).</summary>
    public static string Version()
    {
        NativeLibraryResolver.EnsureRegistered();
        Check(NativeMethods.nvrtcVersion(out var major, out var minor), "nvrtcVersion");
        return $"{major}.{minor}";
    }

    /// <summary>Compiles <paramref name="source"/> for <paramref name="architecture"/> (e.g. "sm_90").</summary>
    /// <exception cref="CudaException">NVRTC failed; the message carries the compile log.</exception>
    public static byte[] Compile(string source, string name, string architecture, IReadOnlyList<string> extraOptions)
    {
        NativeLibraryResolver.EnsureRegistered();
        Check(NativeMethods.nvrtcCreateProgram(out var program, source, name, 0, IntPtr.Zero, IntPtr.Zero), "nvrtcCreateProgram");
        // No fast math: the kernels must round exactly like the CPU engine (IEEE division, no flush to zero).
        var options = new List<string> { $"--gpu-architecture={architecture}", "--std=c++17", "-lineinfo" };
        options.AddRange(extraOptions);
        var pointers = options.Select(Marshal.StringToCoTaskMemUTF8).ToArray();
        try
        {
            var result = NativeMethods.nvrtcCompileProgram(program, pointers.Length, pointers);
            if (result != 0)
            {
                throw new CudaException($"nvrtcCompileProgram({name}, {architecture}):\n{Log(program)}", result, ErrorName(result));
            }

            Check(NativeMethods.nvrtcGetCUBINSize(program, out var size), "nvrtcGetCUBINSize");
            var cubin = new byte[(int)size];
            Check(NativeMethods.nvrtcGetCUBIN(program, cubin), "nvrtcGetCUBIN");
            return cubin;
        }
        finally
        {
            foreach (var pointer in pointers)
            {
                Marshal.FreeCoTaskMem(pointer);
            }

            _ = NativeMethods.nvrtcDestroyProgram(ref program); // cleanup; a failure here cannot be acted on
        }
    }

    private static string Log(IntPtr program)
    {
        if (NativeMethods.nvrtcGetProgramLogSize(program, out var size) != 0 || size <= 1)
        {
            return "(no log)";
        }

        var log = new byte[(int)size];
        return NativeMethods.nvrtcGetProgramLog(program, log) == 0 ? Encoding.UTF8.GetString(log, 0, log.Length - 1) : "(no log)";
    }

    private static void Check(int result, string call)
    {
        if (result != 0)
        {
            throw new CudaException(call, result, ErrorName(result));
        }
    }

    private static string ErrorName(int result) => Marshal.PtrToStringAnsi(NativeMethods.nvrtcGetErrorString(result)) ?? $"nvrtcResult {result}";
}

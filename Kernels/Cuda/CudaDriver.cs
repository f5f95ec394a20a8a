using System.Runtime.InteropServices;
using System.Text;
using MoeQuant.Kernels.Native;

namespace MoeQuant.Kernels.Cuda;

/// <summary>Entry to the CUDA driver API: whether a driver is present, and what devices it has.</summary>
public static class CudaDriver
{
    private const int CudaSuccess = 0;
    private const int CudaErrorNoDevice = 100;
    private const int AttributeMultiprocessorCount = 16;
    private const int AttributeComputeCapabilityMajor = 75;
    private const int AttributeComputeCapabilityMinor = 76;

    private static readonly Lazy<string?> UnavailableReason = new(Initialize);

    /// <summary>True when libcuda.so.1 loaded and cuInit succeeded with at least one device.</summary>
    public static bool IsAvailable => UnavailableReason.Value is null;

    /// <summary>Why CUDA is not usable (no driver library, no device, ...); null when it is.</summary>
    public static string? WhyUnavailable => UnavailableReason.Value;

    /// <summary>The driver's CUDA version as "major.minor", e.g. "13.0".</summary>
    public static string DriverVersion()
    {
        EnsureAvailable();
        Check(NativeMethods.cuDriverGetVersion(out var version), "cuDriverGetVersion");
        return $"{version / 1000}.{version % 1000 / 10}";
    }

    /// <summary>Every device with its name, compute capability and free/total memory.</summary>
    public static IReadOnlyList<CudaDeviceInfo> Devices()
    {
        EnsureAvailable();
        Check(NativeMethods.cuDeviceGetCount(out var count), "cuDeviceGetCount");
        return Enumerable.Range(0, count).Select(Describe).ToList();
    }

    /// <summary>A device's architecture for NVRTC, e.g. "sm_90", from its compute capability (no context needed).</summary>
    public static string Architecture(int ordinal)
    {
        EnsureAvailable();
        Check(NativeMethods.cuDeviceGet(out var device, ordinal), "cuDeviceGet");
        Check(NativeMethods.cuDeviceGetAttribute(out var major, AttributeComputeCapabilityMajor, device), "cuDeviceGetAttribute");
        Check(NativeMethods.cuDeviceGetAttribute(out var minor, AttributeComputeCapabilityMinor, device), "cuDeviceGetAttribute");
        return $"sm_{major}{minor}";
    }

    /// <summary>Throws the typed exception for a failed driver call.</summary>
    internal static void Check(int result, string call)
    {
        if (result == CudaSuccess)
        {
            return;
        }

        var name = NativeMethods.cuGetErrorName(result, out var text) == CudaSuccess && text != IntPtr.Zero
            ? Marshal.PtrToStringAnsi(text) ?? $"CUresult {result}"
            : $"CUresult {result}";
        throw name switch
        {
            "CUDA_ERROR_OUT_OF_MEMORY" => new GpuOutOfMemoryException(call, result, name),
            "CUDA_ERROR_ILLEGAL_ADDRESS" or "CUDA_ERROR_LAUNCH_FAILED" or "CUDA_ERROR_ILLEGAL_INSTRUCTION"
                or "CUDA_ERROR_MISALIGNED_ADDRESS" or "CUDA_ERROR_HARDWARE_STACK_ERROR" => new GpuContextCorruptedException(call, result, name),
            _ => new CudaException(call, result, name),
        };
    }

    private static unsafe CudaDeviceInfo Describe(int ordinal)
    {
        Check(NativeMethods.cuDeviceGet(out var device, ordinal), "cuDeviceGet");
        var nameBytes = stackalloc byte[256];
        Check(NativeMethods.cuDeviceGetName(nameBytes, 256, device), "cuDeviceGetName");
        var name = Encoding.ASCII.GetString(nameBytes, new ReadOnlySpan<byte>(nameBytes, 256).IndexOf((byte)0));
        Check(NativeMethods.cuDeviceGetAttribute(out var major, AttributeComputeCapabilityMajor, device), "cuDeviceGetAttribute");
        Check(NativeMethods.cuDeviceGetAttribute(out var minor, AttributeComputeCapabilityMinor, device), "cuDeviceGetAttribute");
        Check(NativeMethods.cuDeviceGetAttribute(out var sms, AttributeMultiprocessorCount, device), "cuDeviceGetAttribute");
        var (free, total) = CudaMemory.Of(ordinal);
        return new CudaDeviceInfo(ordinal, name, major, minor, sms, free, total);
    }

    private static void EnsureAvailable()
    {
        if (!IsAvailable)
        {
            throw new InvalidOperationException($"CUDA is not available: {WhyUnavailable}");
        }
    }

    private static string? Initialize()
    {
        if (!NativeLibrary.TryLoad("libcuda.so.1", out _))
        {
            return "no NVIDIA driver (libcuda.so.1 not found)";
        }

        var result = NativeMethods.cuInit(0);
        return result switch
        {
            CudaSuccess => null,
            CudaErrorNoDevice => "the NVIDIA driver reports no CUDA device",
            _ => $"cuInit failed with CUresult {result}",
        };
    }
}

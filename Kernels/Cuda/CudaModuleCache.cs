using System.Collections.Concurrent;
using System.Security.Cryptography;
using System.Text;
using System.Text.RegularExpressions;
using MoeQuant.Kernels.Native;

namespace MoeQuant.Kernels.Cuda;

/// <summary>
/// Loads the kernels embedded as Kernels/Cuda/*.cu: compiled once per (source, architecture, NVRTC version) and kept as
/// cubin files in the user cache folder, so a run pays NVRTC's compile time (seconds) only on its first use of a machine.
/// </summary>
public static partial class CudaModuleCache
{
    private static readonly ConcurrentDictionary<(int Device, string Source), IntPtr> Modules = new();
    private static readonly ConcurrentDictionary<(int Device, string Source, string Function), CudaKernel> Kernels = new();

    /// <summary>The kernel <paramref name="function"/> (an extern "C" name) of Cuda/<paramref name="source"/>.cu on a device.</summary>
    public static CudaKernel Get(int device, string source, string function) =>
        Kernels.GetOrAdd((device, source, function), key =>
        {
            var module = Modules.GetOrAdd((key.Device, key.Source), k => Load(k.Device, k.Source));
            CudaDriver.Check(NativeMethods.cuModuleGetFunction(out var handle, module, key.Function), $"cuModuleGetFunction({key.Function})");
            return new CudaKernel(key.Device, key.Function, handle);
        });

    private static IntPtr Load(int device, string source)
    {
        CudaContext.MakeCurrent(device);
        var architecture = CudaDriver.Devices()[device].Architecture;
        var text = ReadEmbeddedSource(source);
        var cubin = CachedCubin(text, source, architecture);
        CudaDriver.Check(NativeMethods.cuModuleLoadData(out var module, cubin), $"cuModuleLoadData({source})");
        return module;
    }

    private static byte[] CachedCubin(string text, string source, string architecture)
    {
        var key = Convert.ToHexString(SHA256.HashData(Encoding.UTF8.GetBytes($"{architecture}\n{NvrtcCompiler.Version()}\n{text}")))[..24];
        var folder = Path.Combine(Environment.GetFolderPath(Environment.SpecialFolder.LocalApplicationData, Environment.SpecialFolderOption.Create), "moequant", "cubin");
        var path = Path.Combine(folder, $"{source}-{architecture}-{key}.cubin");
        if (File.Exists(path))
        {
            return File.ReadAllBytes(path);
        }

        var cubin = NvrtcCompiler.Compile(text, source + ".cu", architecture, []);
        Directory.CreateDirectory(folder);
        var temp = $"{path}.{Environment.ProcessId}.tmp";
        File.WriteAllBytes(temp, cubin);
        File.Move(temp, path, overwrite: true);
        return cubin;
    }

    /// <summary>The kernel source with every <c>#include "X.cuh"</c> line replaced by the embedded header X.cuh, so
    /// that NVRTC gets one self-contained source (and the cubin cache key covers the headers too).</summary>
    internal static string ReadEmbeddedSource(string source) => IncludeLine().Replace(Embedded($"{source}.cu"), m => Embedded(m.Groups[1].Value));

    private static string Embedded(string file)
    {
        var resource = $"MoeQuant.Kernels.Cuda.{file}";
        using var stream = typeof(CudaModuleCache).Assembly.GetManifestResourceStream(resource)
            ?? throw new InvalidOperationException($"embedded CUDA source {resource} not found");
        using var reader = new StreamReader(stream);
        return reader.ReadToEnd();
    }

    [GeneratedRegex("^#include \"([A-Za-z0-9]+\\.cuh)\"\\r?$", RegexOptions.Multiline)]
    private static partial Regex IncludeLine();
}

using System.Collections.Concurrent;
using System.Security.Cryptography;
using System.Text;
using System.Text.RegularExpressions;
using MoeQuant.Kernels.Native;

namespace MoeQuant.Kernels.Cuda;

/// <summary>
/// Loads the kernels embedded as Kernels/Cuda/*.cu: compiled once per (source, architecture, NVRTC version) and kept as
/// cubin files in the user cache folder, so a run pays NVRTC's compile time only on its first use of a machine (under a
/// second per kernel on an H100 machine; <see cref="Precompile"/> moves the largest off the critical path).
/// </summary>
public static partial class CudaModuleCache
{
    private static readonly ConcurrentDictionary<(int Device, string Source), IntPtr> Modules = new();
    private static readonly ConcurrentDictionary<(int Device, string Source, string Function), CudaKernel> Kernels = new();

    // One compile per (source, architecture) in this process, however many threads ask for it at once: a device thread
    // that needs a kernel a background precompile is still building waits for that build instead of starting another.
    private static readonly ConcurrentDictionary<(string Source, string Architecture), Lazy<byte[]>> Cubins = new();

    /// <summary>Raised after each NVRTC compile (not for cubins found in the cache): source, architecture and the time
    /// it took, so a host can log why a machine's first run is slower.</summary>
    public static event Action<string, string, TimeSpan>? Compiled;

    /// <summary>The kernel <paramref name="function"/> (an extern "C" name) of Cuda/<paramref name="source"/>.cu on a device.</summary>
    public static CudaKernel Get(int device, string source, string function) =>
        Kernels.GetOrAdd((device, source, function), key =>
        {
            var module = Modules.GetOrAdd((key.Device, key.Source), k => Load(k.Device, k.Source));
            CudaDriver.Check(NativeMethods.cuModuleGetFunction(out var handle, module, key.Function), $"cuModuleGetFunction({key.Function})");
            return new CudaKernel(key.Device, key.Function, handle);
        });

    /// <summary>
    /// Compiles (or finds cached) the cubins of <paramref name="sources"/> for a device on a thread-pool thread, so that a
    /// kernel is ready when its first launch comes (the GPTQ column loop's once took NVRTC three minutes, when it unrolled
    /// all 128 columns). A failure is kept and raised by that first launch, as without a precompile.
    /// </summary>
    /// <param name="device">CUDA device ordinal (only its architecture is read; no context is needed).</param>
    /// <param name="sources">Kernel sources, as for <see cref="Get"/>.</param>
    public static void Precompile(int device, params string[] sources)
    {
        var task = Task.Run(() =>
        {
            var architecture = CudaDriver.Architecture(device);
            foreach (var source in sources)
            {
                _ = Cubin(source, architecture);
            }
        });
        _ = task.ContinueWith(t => t.Exception, TaskContinuationOptions.OnlyOnFaulted);
    }

    private static IntPtr Load(int device, string source)
    {
        CudaContext.MakeCurrent(device);
        var cubin = Cubin(source, CudaDriver.Architecture(device));
        CudaDriver.Check(NativeMethods.cuModuleLoadData(out var module, cubin), $"cuModuleLoadData({source})");
        return module;
    }

    private static byte[] Cubin(string source, string architecture) =>
        Cubins.GetOrAdd((source, architecture), k => new Lazy<byte[]>(() => CachedCubin(ReadEmbeddedSource(k.Source), k.Source, k.Architecture))).Value;

    private static byte[] CachedCubin(string text, string source, string architecture)
    {
        var key = Convert.ToHexString(SHA256.HashData(Encoding.UTF8.GetBytes($"{architecture}\n{NvrtcCompiler.Version()}\n{text}")))[..24];
        var folder = Path.Combine(Environment.GetFolderPath(Environment.SpecialFolder.LocalApplicationData, Environment.SpecialFolderOption.Create), "moequant", "cubin");
        var path = Path.Combine(folder, $"{source}-{architecture}-{key}.cubin");
        if (File.Exists(path))
        {
            return File.ReadAllBytes(path);
        }

        var started = System.Diagnostics.Stopwatch.GetTimestamp();
        var cubin = NvrtcCompiler.Compile(text, source + ".cu", architecture, []);
        Compiled?.Invoke(source, architecture, System.Diagnostics.Stopwatch.GetElapsedTime(started));
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

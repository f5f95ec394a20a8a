using Microsoft.Extensions.Options;
using MoeQuant.GpuNode.Durability;
using MoeQuant.GpuNode.Execution;
using MoeQuant.GpuNode.Workload;
using MoeQuant.GpuNode.Workload.Torch;
using MoeQuant.Kernels.Cuda;

namespace MoeQuant.Coordinator.Hosting;

/// <summary>Everything a run decides before its actors start: settings, devices, model, save_dir, start layer, and the
/// workload with one device thread per device.</summary>
public sealed class RunSetup : IDisposable
{
    private RunSetup(QuantizeSettings settings, ClusterSettings cluster, ModelIdentity model, RunLayout layout, ILayerWorkload workload, IReadOnlyList<IGpuExecutor> executors, int startLayer)
    {
        Settings = settings;
        Cluster = cluster;
        Model = model;
        Layout = layout;
        Workload = workload;
        Executors = executors;
        StartLayer = startLayer;
    }

    public QuantizeSettings Settings { get; }

    public ClusterSettings Cluster { get; }

    public ModelIdentity Model { get; }

    public RunLayout Layout { get; }

    public ILayerWorkload Workload { get; }

    public IReadOnlyList<IGpuExecutor> Executors { get; }

    public int StartLayer { get; }

    public bool Finished => StartLayer >= Workload.Shape.Layers;

    /// <summary>Reads the validated options and prepares the run; throws <c>UserInputException</c> for bad input.</summary>
    public static RunSetup Create(IServiceProvider services, IWorkloadFactory factory)
    {
        var settings = new QuantizeSettings(
            Value<ModelOptions>(services),
            Value<CalibrationOptions>(services),
            Value<GptqSettings>(services),
            Value<RunOptions>(services));
        var devices = DeviceList.Parse(settings.Run.Devices, CudaDriver.IsAvailable ? CudaDriver.Devices().Count : 0);
        var model = factory.Describe(settings);
        var layout = new RunLayout(Path.GetFullPath(settings.Run.SaveDir is { Length: > 0 } dir ? dir : RunDirectory.DefaultSaveDir(model, settings.Gptq)));

        // The workload is built before save_dir is touched, so that a run that cannot start leaves nothing behind.
        var workload = factory.Create(settings, layout);
        var start = RunDirectory.Prepare(layout, RunDirectory.Fingerprint(settings, model), settings.Run);
        var executors = start >= workload.Shape.Layers ? [] : CreateExecutors(devices);
        return new RunSetup(settings, Value<ClusterSettings>(services), model, layout, workload, executors, start);
    }

    public void Dispose()
    {
        foreach (var executor in Executors)
        {
            executor.Dispose();
        }

        (Workload as IDisposable)?.Dispose();
    }

    // One executor per device; the logical shares of one GPU (cuda:N/k) share a gate (DeviceThreadExecutor).
    private static List<IGpuExecutor> CreateExecutors(IReadOnlyList<string> devices)
    {
        var gates = devices.Where(d => d.Contains('/', StringComparison.Ordinal))
            .Select(d => TorchDevices.Of(d).index)
            .Distinct()
            .ToDictionary(ordinal => ordinal, _ => new object());
        return [.. devices.Select(d => (IGpuExecutor)new DeviceThreadExecutor(
            d, Probe(d), d.Contains('/', StringComparison.Ordinal) ? gates[TorchDevices.Of(d).index] : null))];
    }

    // cuda:N or cuda:N/k (a logical share of GPU N): synchronize and read memory after every job, for the timings and
    // for the report of a job that runs out of memory.
    private static DeviceProbe? Probe(string device)
    {
        if (!device.StartsWith("cuda:", StringComparison.Ordinal))
        {
            return null;
        }

        var torchDevice = TorchDevices.Of(device);
        var ordinal = torchDevice.index;
        return new DeviceProbe(() => TorchSharp.torch.cuda.synchronize(torchDevice), () =>
        {
            var (free, total) = CudaMemory.Of(ordinal);
            return (total - free, total);
        });
    }

    private static T Value<T>(IServiceProvider services)
        where T : class => ((IOptions<T>)services.GetService(typeof(IOptions<T>))!).Value;
}

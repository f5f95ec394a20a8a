using TorchSharp;
using static TorchSharp.torch;

namespace MoeQuant.GpuNode.Workload.Torch;

/// <summary>Maps the pipeline's device names to torch devices: every logical CPU device ("cpu:2") is the CPU, and every
/// logical device on a GPU ("cuda:0/1") is that GPU.</summary>
public static class TorchDevices
{
    public static Device Of(string name) => name.StartsWith("cpu", StringComparison.Ordinal) ? CPU : new Device(name.Split('/')[0]);

    /// <summary>Whether two torch devices are the same memory (Device compares by reference).</summary>
    public static bool Same(Device a, Device b) => a.type == b.type && (a.type == DeviceType.CPU || a.index == b.index);
}

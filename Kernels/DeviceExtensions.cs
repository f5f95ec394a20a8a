using static TorchSharp.torch;

namespace MoeQuant.Kernels;

/// <summary>Device comparisons (TorchSharp's <see cref="Device"/> is a class without value equality).</summary>
internal static class DeviceExtensions
{
    public static bool SameAs(this Device a, Device b) => a.type == b.type && a.index == b.index;
}

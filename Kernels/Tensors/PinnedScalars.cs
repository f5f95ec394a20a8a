using System.Collections.Concurrent;
using TorchSharp;

namespace MoeQuant.Kernels.Tensors;

/// <summary>
/// Scalars that live as long as the process. TorchSharp 0.107 hands a <see cref="Scalar"/>'s raw handle to libtorch
/// without keeping the managed object alive, so an implicitly converted Scalar (a literal such as 0.5, or the alpha = 1
/// that the <c>add_(Tensor)</c> overload makes) can be finalized by the GC while libtorch reads
/// it: a use-after-free that showed up as a corrupted value ("toFloat ... Expected false to be true") in the CPU GPTQ loop
/// under several device threads (dotnet/TorchSharp#1434 is the open fix). Loops that run per column or per unit pass these
/// instead; they are never collected.
/// </summary>
public static class PinnedScalars
{
    private static readonly ConcurrentDictionary<double, Scalar> Values = new();

    public static Scalar One { get; } = 1.0.ToScalar();

    public static Scalar Half { get; } = 0.5.ToScalar();

    public static Scalar Zero { get; } = 0.0.ToScalar();

    /// <summary>The scalar of <paramref name="value"/>; for the few values of a run (code ranges, offsets).</summary>
    public static Scalar Of(double value) => Values.GetOrAdd(value, v => v.ToScalar());
}

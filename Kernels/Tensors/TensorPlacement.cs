using static TorchSharp.torch;

namespace MoeQuant.Kernels.Tensors;

/// <summary>Type and device changes for tensors read from a checkpoint.</summary>
public static class TensorPlacement
{
    /// <summary>
    /// <paramref name="source"/> as <paramref name="type"/> on <paramref name="device"/>; a view of the same memory when
    /// nothing changes, else a copy. Consumes <paramref name="source"/>: its handle is disposed.
    /// </summary>
    public static Tensor MoveTo(Tensor source, ScalarType type, Device device) =>
        source.to(type, device, disposeAfter: true);
}

using MoeQuant.Kernels.Cuda;
using TorchSharp;
using static TorchSharp.torch;

namespace MoeQuant.Kernels.LinearAlgebra;

/// <summary>Batched fp32-accurate products: 3xTF32 tensor cores on CUDA (<see cref="Tf32x3Matmul"/>), plain bmm elsewhere.</summary>
public static class Fp32Bmm
{
    /// <summary>(E, m, k) · (E, k, n) → (E, m, n), either batch may be 1 (shared); fp64 and CPU inputs go through torch's matmul.</summary>
    public static Tensor Multiply(Tensor a, Tensor b) =>
        a.device_type == DeviceType.CUDA && a.dtype == ScalarType.Float32 ? Tf32x3Matmul.Bmm(a, b) : a.matmul(b);
}

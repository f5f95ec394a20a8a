using TorchSharp;
using static TorchSharp.torch;

namespace MoeQuant.Kernels.Cuda;

/// <summary>
/// fp32-accurate batched matrix products on TF32 tensor cores: each operand is split into a TF32 part and a remainder
/// (Cuda/SplitTf32.cu) and C = Ahi·Bhi + Ahi·Blo + Alo·Bhi, three cuBLAS products with TF32 compute chosen per call, so
/// the process-wide TF32 switch stays off for everything else. About 3× the speed of plain fp32 products on Hopper with
/// an error near fp32 rounding.
/// </summary>
public static class Tf32x3Matmul
{
    /// <summary>Batched product.</summary>
    /// <param name="a">(E, m, k) or (1, m, k) fp32 CUDA; a batch of 1 is shared by every product.</param>
    /// <param name="b">(E, k, n) or (1, k, n) fp32 CUDA, same device.</param>
    /// <returns>(E, m, n) fp32 contiguous.</returns>
    public static Tensor Bmm(Tensor a, Tensor b)
    {
        var (batch, m, k, n) = Tf32Matmul.Shape(a, b);
        var device = a.device.index;
        var (aHi, aLo) = Split(a.contiguous(), device);
        var (bHi, bLo) = Split(b.contiguous(), device);
        var c = empty(batch, m, n, dtype: ScalarType.Float32, device: a.device);
        if (batch == 0 || m == 0 || n == 0)
        {
            return c;
        }

        foreach (var (left, right, beta) in new[] { (aHi, bHi, 0f), (aHi, bLo, 1f), (aLo, bHi, 1f) })
        {
            Tf32Matmul.Accumulate(left, right, c, beta);
        }

        foreach (var t in new[] { aHi, aLo, bHi, bLo })
        {
            t.Dispose();
        }

        return c;
    }

    private static (Tensor Hi, Tensor Lo) Split(Tensor x, int device)
    {
        var hi = empty_like(x);
        var lo = empty_like(x);
        var count = x.numel();
        if (count > 0)
        {
            var blocks = (uint)Math.Min(65535, (count + 255) / 256);
            CudaModuleCache.Get(device, "SplitTf32", "split_tf32").Launch((blocks, 1u, 1u), (256u, 1u, 1u), 0, KernelArgument.Of(x), KernelArgument.Of(hi), KernelArgument.Of(lo), count);
        }

        return (hi, lo);
    }
}

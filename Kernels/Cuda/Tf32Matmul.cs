using TorchSharp;
using static TorchSharp.torch;

namespace MoeQuant.Kernels.Cuda;

/// <summary>
/// Batched matrix products on TF32 tensor cores (inputs rounded to 10 mantissa bits, fp32 accumulation), with TF32
/// chosen for this call only, so the process-wide TF32 switch stays off for everything else. For figures that need
/// three significant digits, not fp32 accuracy: the proxy losses of the report.
/// </summary>
public static class Tf32Matmul
{
    /// <summary>Batched product.</summary>
    /// <param name="a">(E, m, k) or (1, m, k) fp32 CUDA; a batch of 1 is shared by every product.</param>
    /// <param name="b">(E, k, n) or (1, k, n) fp32 CUDA, same device.</param>
    /// <returns>(E, m, n) fp32 contiguous.</returns>
    public static Tensor Bmm(Tensor a, Tensor b)
    {
        var (batch, m, k, n) = Shape(a, b);
        using var left = a.contiguous();
        using var right = b.contiguous();
        var c = empty(batch, m, n, dtype: ScalarType.Float32, device: a.device);
        if (batch == 0 || m == 0 || n == 0)
        {
            return c;
        }

        Accumulate(left, right, c, beta: 0f);
        return c;
    }

    /// <summary>
    /// <c>C = A·B + beta·C</c> on TF32 tensor cores for contiguous (E or 1, m, k)·(E or 1, k, n) fp32 operands and a
    /// contiguous (E, m, n) fp32 result.
    /// </summary>
    internal static void Accumulate(Tensor a, Tensor b, Tensor c, float beta)
    {
        var (batch, m, k, n) = ((int)c.shape[0], (int)c.shape[1], (int)a.shape[2], (int)c.shape[2]);
        // Row-major C = A·B is column-major Cᵀ = Bᵀ·Aᵀ: pass B first with the dimensions swapped; a batch stride of 0
        // reuses one matrix for the whole batch.
        Cublas.GemmStridedBatched(
            a.device.index, Cublas.OpN, Cublas.OpN, n, m, k, 1f,
            DevicePointer.Of(b), n, b.shape[0] == 1 ? 0L : (long)k * n, DevicePointer.Of(a), k, a.shape[0] == 1 ? 0L : (long)m * k,
            beta, DevicePointer.Of(c), n, (long)m * n, batch, Cublas.Compute32FFastTf32);
    }

    /// <summary>(E, m, k, n) of a batched fp32 product; a batch of 1 on either side is shared.</summary>
    /// <exception cref="ArgumentException">Not fp32, or the shapes do not multiply.</exception>
    internal static (int Batch, int M, int K, int N) Shape(Tensor a, Tensor b)
    {
        var (m, k, n) = ((int)a.shape[1], (int)a.shape[2], (int)b.shape[2]);
        var batch = (int)Math.Max(a.shape[0], b.shape[0]);
        if (a.dtype != ScalarType.Float32 || b.dtype != ScalarType.Float32 || b.shape[1] != k
            || (a.shape[0] != batch && a.shape[0] != 1) || (b.shape[0] != batch && b.shape[0] != 1))
        {
            throw new ArgumentException($"expected (E,m,k)·(E,k,n) fp32, got {a.dtype}[{string.Join(",", a.shape)}]·{b.dtype}[{string.Join(",", b.shape)}]");
        }

        return (batch, m, k, n);
    }
}

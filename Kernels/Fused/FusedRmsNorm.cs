using MoeQuant.Kernels.Cuda;
using static TorchSharp.torch;

namespace MoeQuant.Kernels.Fused;

/// <summary>
/// RMSNorm of bf16 rows in one pass on CUDA (ForwardFusions.cu <c>rms_norm_bf16</c>): f32 statistics, the normalised
/// value rounded to bf16, then scaled, as transformers' DeepseekV3RMSNorm; the torch reference reads and writes the rows
/// six times (f32 copy, square, mean, product, rounding, scale).
/// </summary>
public static class FusedRmsNorm
{
    /// <summary>Whether the kernel takes these tensors: bf16 on CUDA, rows of a multiple of eight, aligned.</summary>
    /// <param name="x">[rows, d], rows contiguous (they may be strided apart).</param>
    /// <param name="weight">[d].</param>
    public static bool Applies(Tensor x, Tensor weight) =>
        BfloatRows.Fit(x) && weight.is_contiguous() && BfloatRows.Fit(weight.view(1, -1));

    /// <returns>[rows, d] bf16, contiguous.</returns>
    public static Tensor Apply(Tensor x, Tensor weight, double eps)
    {
        var (rows, d) = (x.shape[0], x.shape[1]);
        var result = empty([rows, d], ScalarType.BFloat16, x.device);
        if (rows == 0)
        {
            return result;
        }

        var (address, rowStride) = DevicePointer.OfRows(x);
        BfloatRows.Kernel(x, "rms_norm_bf16").Launch(((uint)checked((int)rows), 1u, 1u), (256u, 1u, 1u), 0,
            address, rowStride, KernelArgument.Of(weight), KernelArgument.Of(result), checked((int)d), (float)eps);
        return result;
    }
}

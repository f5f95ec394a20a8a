using MoeQuant.Kernels.Cuda;
using static TorchSharp.torch;

namespace MoeQuant.Kernels.Fused;

/// <summary>
/// silu(gate)·up of a fused gate/up product in one pass on CUDA (ForwardFusions.cu <c>silu_mul_bf16</c>), with torch's
/// roundings (silu rounded to bf16, then the product); the torch reference writes the silu and reads it back.
/// </summary>
public static class FusedSiluMul
{
    /// <summary>Whether the kernel takes <paramref name="gateUp"/>: [rows, 2·width] contiguous bf16 on CUDA, width a multiple of eight.</summary>
    public static bool Applies(Tensor gateUp) =>
        BfloatRows.Fit(gateUp) && gateUp.is_contiguous() && gateUp.shape[1] % 16 == 0;

    /// <param name="gateUp">[rows, 2·width]: gate_proj outputs, then up_proj outputs.</param>
    /// <returns>[rows, width] bf16, contiguous.</returns>
    public static Tensor Apply(Tensor gateUp)
    {
        var (rows, width) = (gateUp.shape[0], gateUp.shape[1] / 2);
        var result = empty([rows, width], ScalarType.BFloat16, gateUp.device);
        var vectors = rows * width / 8;
        if (vectors == 0)
        {
            return result;
        }

        // Enough blocks to fill every SM several times over; the grid-stride loop covers the rest.
        const int Threads = 256;
        var blocks = (uint)Math.Min((vectors + Threads - 1) / Threads, 65536L);
        BfloatRows.Kernel(gateUp, "silu_mul_bf16").Launch((blocks, 1u, 1u), (Threads, 1u, 1u), 0,
            KernelArgument.Of(gateUp), KernelArgument.Of(result), rows, checked((int)width));
        return result;
    }
}

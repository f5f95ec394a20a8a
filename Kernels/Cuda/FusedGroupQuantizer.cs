using MoeQuant.Kernels.Quantization;
using TorchSharp;
using static TorchSharp.torch;

namespace MoeQuant.Kernels.Cuda;

/// <summary>
/// Round to nearest and dequantization with static group scales on a CUDA device, one pass each (Cuda/GroupRoundToNearest.cu),
/// element for element <see cref="GroupQuantizer.Quantize"/> and <see cref="GroupQuantizer.Dequantize"/>: the tensor-op chains
/// read and write the weights five to seven times.
/// </summary>
public static class FusedGroupQuantizer
{
    private const int Threads = 256;

    /// <summary>Codes and their values.</summary>
    /// <param name="weight">(N, C) fp32 contiguous CUDA.</param>
    /// <param name="scale">(N, G) fp32 contiguous, C = G · group size.</param>
    /// <param name="zero">(N, G) fp32 contiguous unsigned zero points.</param>
    /// <param name="spec">The quantizer.</param>
    /// <returns>(N, C) uint8 unsigned codes and (N, C) fp32 values rounded to the scale dtype.</returns>
    public static (Tensor Codes, Tensor Values) RoundToNearest(Tensor weight, Tensor scale, Tensor zero, QuantizerSpec spec)
    {
        ArgumentNullException.ThrowIfNull(spec);
        var groupSize = Check(weight, scale, zero);
        var codes = empty(weight.shape, ScalarType.Byte, weight.device);
        var values = empty_like(weight);
        var count = weight.numel();
        if (count > 0)
        {
            CudaModuleCache.Get(weight.device.index, "GroupRoundToNearest", "group_round_to_nearest").Launch(
                Grid(count), (Threads, 1u, 1u), 0,
                KernelArgument.Of(weight), KernelArgument.Of(scale), KernelArgument.Of(zero), KernelArgument.Of(codes), KernelArgument.Of(values),
                count, groupSize, (float)spec.MaxCode, spec.Rounding == CodeRounding.HalfUp ? 1 : 0, (int)FusedGptqLoop.RoundingFor(spec.ScaleDtype));
        }

        return (codes, values);
    }

    /// <summary>Values of codes.</summary>
    /// <param name="codes">(N, C) uint8 contiguous CUDA unsigned codes.</param>
    /// <param name="scale">(N, G) fp32 contiguous, C = G · group size.</param>
    /// <param name="zero">(N, G) fp32 contiguous unsigned zero points.</param>
    /// <param name="spec">The quantizer.</param>
    /// <returns>(N, C) fp32 values rounded to the scale dtype.</returns>
    public static Tensor Dequantize(Tensor codes, Tensor scale, Tensor zero, QuantizerSpec spec)
    {
        ArgumentNullException.ThrowIfNull(spec);
        var groupSize = Check(codes, scale, zero);
        var values = empty(codes.shape, ScalarType.Float32, codes.device);
        var count = codes.numel();
        if (count > 0)
        {
            CudaModuleCache.Get(codes.device.index, "GroupRoundToNearest", "group_dequantize").Launch(
                Grid(count), (Threads, 1u, 1u), 0,
                KernelArgument.Of(codes), KernelArgument.Of(scale), KernelArgument.Of(zero), KernelArgument.Of(values),
                count, groupSize, (int)FusedGptqLoop.RoundingFor(spec.ScaleDtype));
        }

        return values;
    }

    /// <summary>Codes held transposed, as the GPTQ loop leaves them, back in natural order with their values, in one pass.</summary>
    /// <param name="codesTransposed">(E, C, R) uint8 contiguous CUDA unsigned codes.</param>
    /// <param name="scale">(E·R, G) fp32 contiguous, C = G · group size.</param>
    /// <param name="zero">(E·R, G) fp32 contiguous unsigned zero points.</param>
    /// <param name="spec">The quantizer.</param>
    /// <returns>(E, R, C) uint8 codes and (E, R, C) fp32 values rounded to the scale dtype.</returns>
    public static (Tensor Codes, Tensor Values) DequantizeTransposed(Tensor codesTransposed, Tensor scale, Tensor zero, QuantizerSpec spec)
    {
        ArgumentNullException.ThrowIfNull(spec);
        if (codesTransposed.dim() != 3)
        {
            throw ShapeError(codesTransposed, scale, zero);
        }

        var (count, columns, rows) = ((int)codesTransposed.shape[0], (int)codesTransposed.shape[1], (int)codesTransposed.shape[2]);
        var groupSize = GroupSize(codesTransposed, (long)count * rows, columns, scale, zero);
        var codes = empty(count, rows, columns, ScalarType.Byte, codesTransposed.device);
        var values = empty(count, rows, columns, ScalarType.Float32, codesTransposed.device);
        if (codes.numel() > 0)
        {
            CudaModuleCache.Get(codesTransposed.device.index, "GroupRoundToNearest", "group_dequantize_transposed").Launch(
                ((uint)((rows + 31) / 32), (uint)((columns + 31) / 32), (uint)count), (32u, 8u, 1u), 0,
                KernelArgument.Of(codesTransposed), KernelArgument.Of(scale), KernelArgument.Of(zero), KernelArgument.Of(codes), KernelArgument.Of(values),
                rows, columns, groupSize, (int)FusedGptqLoop.RoundingFor(spec.ScaleDtype));
        }

        return (codes, values);
    }

    private static (uint, uint, uint) Grid(long count) => ((uint)Math.Min(65535 * 8, (count + Threads - 1) / Threads), 1u, 1u);

    // The group size of (N, C) elements, after checking shapes and layouts.
    private static int Check(Tensor elements, Tensor scale, Tensor zero) =>
        elements.dim() == 2 ? GroupSize(elements, elements.shape[0], elements.shape[1], scale, zero) : throw ShapeError(elements, scale, zero);

    // The group size of the N rows of C elements that elements holds in some layout, with (N, G) scales and zero points.
    private static int GroupSize(Tensor elements, long rows, long columns, Tensor scale, Tensor zero)
    {
        if (scale.dim() != 2 || !scale.shape.SequenceEqual(zero.shape) || scale.shape[0] != rows || scale.shape[1] == 0 || columns % scale.shape[1] != 0)
        {
            throw ShapeError(elements, scale, zero);
        }

        if (!elements.is_contiguous() || !scale.is_contiguous() || !zero.is_contiguous())
        {
            throw new ArgumentException("elements, scales and zero points must be contiguous");
        }

        return (int)(columns / scale.shape[1]);
    }

    private static ArgumentException ShapeError(Tensor elements, Tensor scale, Tensor zero) =>
        new($"expected N rows of C elements ((N, C), or (E, C, R) transposed codes with N = E·R) with (N, G) scales and zero points, G dividing C: [{string.Join(",", elements.shape)}], [{string.Join(",", scale.shape)}], [{string.Join(",", zero.shape)}]");
}

using TorchSharp;
using static TorchSharp.torch;

namespace MoeQuant.Kernels.Fp8;

/// <summary>
/// Block-wise FP8 dequantization of DeepSeek-V3 weights (FORMATS.md §2.5):
/// <c>W[r, c] = fp8(weight[r, c]) * scaleInv[r / block, c / block]</c>, multiplied in f32 and rounded once to the
/// output type. Edge blocks that are only partly covered by the weight use their scale entry like full blocks.
/// On the CPU a managed pass does the work (<see cref="Fp8CpuDequantizer"/>); on CUDA, libtorch operations
/// (<see cref="Fp8TorchDequantizer"/>). Both give the same values (NaN payloads aside).
/// </summary>
public static class Fp8BlockDequantizer
{
    /// <summary>DeepSeek-V3's <c>weight_block_size</c> (128 × 128).</summary>
    public const int DefaultBlockSize = 128;

    /// <summary>The scale shape a weight of <paramref name="rows"/> × <paramref name="cols"/> needs:
    /// [ceil(rows / blockSize), ceil(cols / blockSize)].</summary>
    public static long[] ScaleShape(long rows, long cols, int blockSize = DefaultBlockSize)
    {
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(blockSize);
        return [CeilDiv(rows, blockSize), CeilDiv(cols, blockSize)];
    }

    /// <summary>
    /// Dequantizes one weight.
    /// </summary>
    /// <param name="weight">FP8 E4M3 codes as uint8 (ScalarType.Byte), [rows, cols], on any device.</param>
    /// <param name="scaleInv">Floating (F32 in DeepSeek checkpoints) [ceil(rows / blockSize), ceil(cols / blockSize)];
    /// multiplied, not divided.</param>
    /// <param name="outputType">A floating type, usually BFloat16 or Float32.</param>
    /// <param name="blockSize">Edge of the square scale blocks.</param>
    /// <param name="device">Where to compute and return the result; the weight's device when null. The inputs are
    /// moved there first, so the FP8 bytes (not the wider result) cross the bus.</param>
    /// <returns>A new contiguous [rows, cols] tensor of <paramref name="outputType"/>.</returns>
    /// <exception cref="ArgumentException">The dtypes, ranks or the scale shape do not match.</exception>
    public static Tensor Dequantize(
        Tensor weight, Tensor scaleInv, ScalarType outputType = ScalarType.BFloat16, int blockSize = DefaultBlockSize, Device? device = null)
    {
        // Checked before allocating, so that bad input leaves nothing behind.
        Validate(weight, scaleInv, blockSize);
        if (!is_floating_point(outputType))
        {
            throw new ArgumentException($"output type must be floating, got {outputType}", nameof(outputType));
        }

        var result = empty(weight.shape, outputType, device ?? weight.device);
        DequantizeInto(weight, scaleInv, result, blockSize);
        return result;
    }

    /// <summary>
    /// Dequantizes one weight into an existing tensor, so that a caller can reuse one buffer for many weights.
    /// </summary>
    /// <param name="weight">FP8 E4M3 codes as uint8 (ScalarType.Byte), [rows, cols], on any device.</param>
    /// <param name="scaleInv">Floating [ceil(rows / blockSize), ceil(cols / blockSize)], on any device.</param>
    /// <param name="result">Contiguous floating [rows, cols]; overwritten. Its device is where the work runs.</param>
    /// <param name="blockSize">Edge of the square scale blocks.</param>
    /// <exception cref="ArgumentException">The dtypes, ranks or shapes do not match, or the result is not contiguous.</exception>
    public static void DequantizeInto(Tensor weight, Tensor scaleInv, Tensor result, int blockSize = DefaultBlockSize)
    {
        Validate(weight, scaleInv, blockSize);
        if (!is_floating_point(result) || !result.shape.SequenceEqual(weight.shape) || !result.is_contiguous())
        {
            throw new ArgumentException($"result must be a contiguous floating {Format(weight.shape)} tensor, got {result.dtype} {Format(result.shape)}", nameof(result));
        }

        using var scope = NewDisposeScope();
        var codes = weight.to(result.device).contiguous();
        var scale = scaleInv.to(ScalarType.Float32, result.device);
        if (result.device_type == DeviceType.CPU)
        {
            Fp8CpuDequantizer.Dequantize(codes, scale, result, blockSize);
        }
        else if (result.device_type == DeviceType.CUDA && Fp8CudaDequantizer.Supports(result.dtype))
        {
            Fp8CudaDequantizer.Dequantize(codes, scale, result, blockSize);
        }
        else
        {
            Fp8TorchDequantizer.Dequantize(codes, scale, result, blockSize);
        }
    }

    private static void Validate(Tensor weight, Tensor scaleInv, int blockSize)
    {
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(blockSize);
        if (weight.dtype != ScalarType.Byte || weight.dim() != 2)
        {
            throw new ArgumentException($"weight must be a 2-D uint8 tensor of FP8 codes, got {weight.dtype} {Format(weight.shape)}", nameof(weight));
        }

        if (!is_floating_point(scaleInv) || scaleInv.dim() != 2)
        {
            throw new ArgumentException($"weight_scale_inv must be a 2-D floating tensor, got {scaleInv.dtype} {Format(scaleInv.shape)}", nameof(scaleInv));
        }

        var expected = ScaleShape(weight.shape[0], weight.shape[1], blockSize);
        if (!scaleInv.shape.SequenceEqual(expected))
        {
            throw new ArgumentException($"weight_scale_inv has shape {Format(scaleInv.shape)}, expected {Format(expected)}", nameof(scaleInv));
        }
    }

    private static long CeilDiv(long n, long d) => (n + d - 1) / d;

    private static string Format(IEnumerable<long> shape) => $"[{string.Join(", ", shape)}]";
}

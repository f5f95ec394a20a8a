using TorchSharp;
using static TorchSharp.torch;

namespace MoeQuant.Kernels.Gptq;

/// <summary>Rejects unusable input before any work, with an error that names the unit.</summary>
internal static class GptqValidation
{
    public static void Check(IReadOnlyList<GptqWeight> weights, Hessian hessian, GptqOptions options)
    {
        ArgumentNullException.ThrowIfNull(weights);
        ArgumentNullException.ThrowIfNull(hessian);
        ArgumentNullException.ThrowIfNull(options);
        if (weights.Count == 0 || weights.Any(w => string.IsNullOrWhiteSpace(w.Unit)))
        {
            throw new ArgumentException("Give at least one weight, each with its unit's name", nameof(weights));
        }

        var tied = string.Join("+", weights.Select(w => w.Unit));
        CheckOptions(tied, options, hessian.Columns);
        foreach (var (unit, weight) in weights)
        {
            CheckWeight(unit, weight, hessian);
        }

        // Values last: each check is one device synchronization.
        foreach (var (unit, weight) in weights)
        {
            if (!weight.isfinite().all().item<bool>())
            {
                throw new GptqInputException(unit, "the weight holds NaN or Inf");
            }
        }

        if (!hessian.Matrix.isfinite().all().item<bool>())
        {
            throw new GptqInputException(tied, "the Hessian holds NaN or Inf (were the calibration activations finite?)");
        }
    }

    private static void CheckOptions(string unit, GptqOptions o, int columns)
    {
        string? problem = null;
        if (o.Bits is < 2 or > 8)
        {
            problem = $"bits must be 2..8, got {o.Bits}";
        }
        else if (o.GroupSize != -1 && (o.GroupSize < 1 || columns % o.GroupSize != 0))
        {
            // Partial last groups are not offered: vLLM's kernels and MoE-Quant's loop both need equal groups.
            problem = $"group size {o.GroupSize} does not divide the {columns} input columns; use a divisor or -1 (per channel)";
        }
        else if (!(o.RelDamp > 0) || double.IsInfinity(o.RelDamp))
        {
            problem = $"rel_damp must be positive and finite, got {o.RelDamp}";
        }
        else if (o.DampingRetries < 0 || o.BlockSize < 0 || o.MinTokens < 0)
        {
            problem = "damping retries, block size and minimum tokens must not be negative";
        }
        else if (o.ScaleDtype is not (ScalarType.BFloat16 or ScalarType.Float16 or ScalarType.Float32))
        {
            problem = $"scales are stored as BFloat16, Float16 or Float32, not {o.ScaleDtype}";
        }

        if (problem is not null)
        {
            throw new GptqInputException(unit, problem);
        }
    }

    private static void CheckWeight(string unit, Tensor weight, Hessian hessian)
    {
        ArgumentNullException.ThrowIfNull(weight);
        if (weight.dim() != 2 || !weight.is_floating_point())
        {
            throw new GptqInputException(unit, $"the weight must be a 2-D floating tensor, got {weight.dtype} [{string.Join(", ", weight.shape)}]");
        }

        if (weight.shape[1] != hessian.Columns)
        {
            throw new GptqInputException(unit, $"the weight has {weight.shape[1]} input columns, the Hessian {hessian.Columns}");
        }

        if (!weight.device.SameAs(hessian.Device))
        {
            throw new GptqInputException(unit, $"the weight is on {weight.device}, the Hessian on {hessian.Device}");
        }
    }
}

using TorchSharp;
using static TorchSharp.torch;

namespace MoeQuant.Kernels.Gptq;

/// <summary>Rejects unusable input before any work, with an error that names the unit.</summary>
internal static class GptqValidation
{
    public static void Check(IReadOnlyList<GptqWeight> weights, Hessian hessian, GptqOptions options)
    {
        CheckShapes(weights, hessian, options);
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
            throw new GptqInputException(TiedName(weights), "the Hessian holds NaN or Inf (were the calibration activations finite?)");
        }
    }

    /// <summary>
    /// Checks every item as <see cref="Check"/> does, and that the items can be stacked: one device, one input width, the
    /// same number of weights, and weight k of every item with the same row count. Values (NaN/Inf) of all items are
    /// checked with one device synchronization; the first bad one in item order (weights, then Hessian) is reported.
    /// </summary>
    public static void CheckBatch(IReadOnlyList<GptqBatchItem> items, GptqOptions options)
    {
        ArgumentNullException.ThrowIfNull(items);
        if (items.Count == 0 || items.Any(i => i is null))
        {
            throw new ArgumentException("Give at least one item", nameof(items));
        }

        foreach (var item in items)
        {
            CheckShapes(item.Weights, item.Hessian, options);
        }

        var first = items[0];
        foreach (var item in items.Skip(1))
        {
            var name = TiedName(item.Weights);
            if (item.Hessian.Columns != first.Hessian.Columns || !item.Hessian.Device.SameAs(first.Hessian.Device))
            {
                throw new GptqInputException(name, $"a batch needs one input width and device: {item.Hessian.Columns} columns on {item.Hessian.Device}, "
                    + $"the first item {first.Hessian.Columns} on {first.Hessian.Device} (group items by shape)");
            }

            if (item.Weights.Count != first.Weights.Count
                || item.Weights.Zip(first.Weights).Any(p => p.First.Weight.shape[0] != p.Second.Weight.shape[0]))
            {
                throw new GptqInputException(name, $"a batch needs the same weight shapes in every item: [{Shapes(item)}], the first item [{Shapes(first)}] (group items by shape)");
            }
        }

        // One synchronization for every value check. A tensor is finite exactly when its minimum and maximum are: both
        // propagate NaN, and an Inf is one of them. One read per tensor in its own dtype, where an isfinite mask and its
        // all() cost three passes, and a sum in fp64 a conversion.
        bool[] flags;
        using (NewDisposeScope())
        {
            var extremes = items.SelectMany(i => i.Weights.Select(w => w.Weight).Append(i.Hessian.Matrix))
                .Select(t =>
                {
                    var (min, max) = t.reshape(-1).aminmax(0);
                    return stack([min.to_type(ScalarType.Float64), max.to_type(ScalarType.Float64)]);
                })
                .ToArray();
            flags = stack(extremes).isfinite().all(1).cpu().data<bool>().ToArray();
        }

        var k = 0;
        foreach (var item in items)
        {
            foreach (var (unit, _) in item.Weights)
            {
                if (!flags[k++])
                {
                    throw new GptqInputException(unit, "the weight holds NaN or Inf");
                }
            }

            if (!flags[k++])
            {
                throw new GptqInputException(TiedName(item.Weights), "the Hessian holds NaN or Inf (were the calibration activations finite?)");
            }
        }
    }

    /// <summary>The name of a tied group in errors: the units joined with '+'.</summary>
    public static string TiedName(IReadOnlyList<GptqWeight> weights) => string.Join("+", weights.Select(w => w.Unit));

    private static string Shapes(GptqBatchItem item) => string.Join("; ", item.Weights.Select(w => string.Join("x", w.Weight.shape)));

    private static void CheckShapes(IReadOnlyList<GptqWeight> weights, Hessian hessian, GptqOptions options)
    {
        ArgumentNullException.ThrowIfNull(weights);
        ArgumentNullException.ThrowIfNull(hessian);
        ArgumentNullException.ThrowIfNull(options);
        if (weights.Count == 0 || weights.Any(w => w is null || string.IsNullOrWhiteSpace(w.Unit)))
        {
            throw new ArgumentException("Give at least one weight, each with its unit's name", nameof(weights));
        }

        CheckOptions(TiedName(weights), options, hessian.Columns);
        foreach (var (unit, weight) in weights)
        {
            CheckWeight(unit, weight, hessian);
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

using MoeQuant.Model.Quantized;

namespace MoeQuant.Model.Export;

/// <summary>
/// The one weight scheme of an exported model. Both formats describe all quantized linears with a single scheme, and
/// vLLM fuses a layer's experts into one kernel that needs one bits/group size/act-order (FORMATS.md §3.8), so every
/// linear must agree; <see cref="Of"/> derives the scheme from the state and refuses a mixture.
/// </summary>
/// <param name="Bits">Code width.</param>
/// <param name="GroupSize">Columns per scale; null for one scale per row (strategy "channel").</param>
/// <param name="Symmetric">Whether zero points are all 0 (no zero point tensor is written).</param>
/// <param name="DynamicGroups">Whether some linear's groups are not contiguous, so every linear carries its g_idx
/// (compressed-tensors <c>actorder: "group"</c>, GPTQ <c>desc_act: true</c>).</param>
public sealed record QuantizationScheme(int Bits, int? GroupSize, bool Symmetric, bool DynamicGroups)
{
    /// <summary>Scale columns of a linear with <paramref name="inFeatures"/> columns.</summary>
    public long GroupsOf(long inFeatures) => GroupSize is { } g ? (inFeatures + g - 1) / g : 1;

    /// <summary>The scheme every linear shares. One scale per row everywhere is "channel", whatever each linear's width.</summary>
    /// <exception cref="UserInputException">No linears, or two that differ in bits, symmetry or grouping.</exception>
    public static QuantizationScheme Of(IReadOnlyList<UnitStateLinear> linears)
    {
        var first = linears.Count > 0 ? linears[0] : throw new UserInputException("the run holds no quantized linear to export");
        var grouped = linears.FirstOrDefault(l => l.GroupSize < l.InFeatures);
        var scheme = new QuantizationScheme(first.Bits, grouped?.GroupSize, first.Symmetric, linears.Any(l => !l.ContiguousGroups));
        var odd = linears.FirstOrDefault(l => l.Bits != scheme.Bits || l.Symmetric != scheme.Symmetric || l.Groups != scheme.GroupsOf(l.InFeatures));
        return odd is null
            ? scheme
            : throw new UserInputException(
                $"{odd.File}: {odd.Name} is quantized with {Describe(odd)}, {first.Name} with {Describe(grouped ?? first)}; an exported model has one scheme for every linear");
    }

    /// <summary>What vLLM cannot serve (FORMATS.md §3.3, §3.4, §3.8): it loads 4- and 8-bit symmetric experts only.</summary>
    public IEnumerable<string> VllmLimits()
    {
        if (Bits is not (4 or 8))
        {
            yield return $"vLLM serves 4- and 8-bit weights only; this {Bits}-bit checkpoint loads in HF transformers (which decompresses it), not in vLLM";
        }

        if (!Symmetric)
        {
            yield return "vLLM's MoE kernels accept symmetric quantization only; the routed experts of this asymmetric checkpoint will not load in vLLM";
        }
    }

    private static string Describe(UnitStateLinear l) =>
        $"{l.Bits} bits, {(l.Symmetric ? "symmetric" : "asymmetric")}, {l.Groups} group(s) of {Math.Min(l.GroupSize, l.InFeatures)} columns";
}

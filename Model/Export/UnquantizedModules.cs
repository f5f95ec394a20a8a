using MoeQuant.Model.Config;
using MoeQuant.Model.Forward;

namespace MoeQuant.Model.Export;

/// <summary>
/// What an exported model leaves unquantized, derived from the quantized linears rather than from flags, so that the
/// ignore list says exactly what the files hold: <c>lm_head</c> and the routers always; a whole kind of linear
/// (attention, shared experts, dense MLPs) that no layer quantized as one pattern (MoE-Quant's spellings, FORMATS.md
/// §3.6); any other linear left in its original weights (a unit that fell back) by its exact name; a kept MTP layer.
/// </summary>
/// <param name="Ignore">The compressed-tensors <c>ignore</c> entries.</param>
/// <param name="Fallbacks">Linears of a kind that was quantized elsewhere but not here, by full module name.</param>
public sealed record UnquantizedModules(IReadOnlyList<string> Ignore, IReadOnlyList<string> Fallbacks)
{
    /// <summary>The output head, never quantized.</summary>
    public const string LmHead = "lm_head";

    /// <summary>The MoE routers: not Linear modules in transformers or vLLM, listed to document intent.</summary>
    public const string Routers = @"re:.*mlp\.gate$";

    private const string Attention = "re:.*self_attn.*";
    private const string SharedExperts = "re:.*shared_experts.*";

    // Also matches vLLM's fused gate_up_proj, but neither routed experts (mlp.experts.N.*) nor the router.
    private const string DenseMlp = @"re:.*mlp\.(gate|up|gate_up|down)_proj.*";

    /// <summary>Compares the main layers' linears with <paramref name="quantized"/> (full module names).</summary>
    /// <param name="config">The model.</param>
    /// <param name="quantized">Every quantized linear, e.g. <c>model.layers.3.mlp.experts.5.gate_proj</c>.</param>
    /// <param name="keptMtpLayers">MTP layers written unquantized.</param>
    public static UnquantizedModules Of(DeepseekV3Config config, IReadOnlySet<string> quantized, IEnumerable<int> keptMtpLayers)
    {
        var linears = Enumerable.Range(0, config.NumHiddenLayers)
            .SelectMany(layer => LinearUnit.ForLayer(config, layer).Select(u => (Name: $"model.layers.{layer}.{u.Name}", Kind: KindOf(config, layer, u))))
            .ToList();
        var whole = linears.GroupBy(l => l.Kind)
            .Where(kind => kind.Key is not null && kind.All(l => !quantized.Contains(l.Name)))
            .Select(kind => kind.Key!)
            .Order(StringComparer.Ordinal)
            .ToList();
        var fallbacks = linears.Where(l => !quantized.Contains(l.Name) && (l.Kind is null || !whole.Contains(l.Kind))).Select(l => l.Name).Order(StringComparer.Ordinal).ToList();
        var mtp = keptMtpLayers.Select(layer => $@"re:model\.layers\.{layer}\..*");
        return new UnquantizedModules([LmHead, Routers, .. whole, .. mtp, .. fallbacks], fallbacks);
    }

    /// <summary>The pattern naming a linear's kind, or null for routed experts, which are only ever listed one by one.</summary>
    private static string? KindOf(DeepseekV3Config config, int layer, LinearUnit unit) =>
        unit.Name.StartsWith("self_attn.", StringComparison.Ordinal) ? Attention
        : unit.Name.StartsWith("mlp.shared_experts.", StringComparison.Ordinal) ? SharedExperts
        : !config.IsMoeLayer(layer) ? DenseMlp
        : null;
}

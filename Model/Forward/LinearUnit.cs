using MoeQuant.Model.Config;

namespace MoeQuant.Model.Forward;

/// <summary>
/// A linear layer of a decoder layer, as GPTQ sees it (GPTQ.md §6.2): a weight [OutFeatures, InFeatures] named
/// <c>model.layers.{layer}.{Name}.weight</c> in the checkpoint.
/// </summary>
/// <param name="Name">Relative to the layer: <c>self_attn.q_a_proj</c>, <c>mlp.experts.5.down_proj</c>, ...</param>
/// <param name="OutFeatures">Rows of the weight.</param>
/// <param name="InFeatures">Columns of the weight: the width of the input activations.</param>
/// <param name="InputGroup">Units with the same group read identical activations; the group is named after its first
/// unit (<c>self_attn.q_a_proj</c> for q_a_proj and kv_a_proj_with_mqa, <c>mlp.experts.5.gate_proj</c> for that
/// expert's gate_proj and up_proj).</param>
/// <param name="Expert">The routed expert the unit belongs to, or null.</param>
public sealed record LinearUnit(string Name, long OutFeatures, long InFeatures, string InputGroup, int? Expert)
{
    /// <summary>Every linear unit of decoder layer <paramref name="layer"/>, in module order (attention, then MLP).</summary>
    public static IReadOnlyList<LinearUnit> ForLayer(DeepseekV3Config config, int layer)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(layer);
        ArgumentOutOfRangeException.ThrowIfGreaterThanOrEqual(layer, config.TotalLayers);
        var units = new List<LinearUnit>();
        var heads = config.NumAttentionHeads;
        var hidden = config.HiddenSize;
        var kvA = config.KvLoraRank + config.QkRopeHeadDim;

        // Attention: the first projections of the query and of the latent KV both read the normed hidden states.
        if (config.QLoraRank is { } qRank)
        {
            units.Add(new("self_attn.q_a_proj", qRank, hidden, "self_attn.q_a_proj", null));
            units.Add(new("self_attn.kv_a_proj_with_mqa", kvA, hidden, "self_attn.q_a_proj", null));
            units.Add(new("self_attn.q_b_proj", (long)heads * config.QkHeadDim, qRank, "self_attn.q_b_proj", null));
        }
        else
        {
            units.Add(new("self_attn.q_proj", (long)heads * config.QkHeadDim, hidden, "self_attn.q_proj", null));
            units.Add(new("self_attn.kv_a_proj_with_mqa", kvA, hidden, "self_attn.q_proj", null));
        }

        units.Add(new("self_attn.kv_b_proj", (long)heads * (config.QkNopeHeadDim + config.VHeadDim), config.KvLoraRank, "self_attn.kv_b_proj", null));
        units.Add(new("self_attn.o_proj", hidden, (long)heads * config.VHeadDim, "self_attn.o_proj", null));

        void Mlp(string prefix, long width, int? expert)
        {
            units.Add(new(prefix + ".gate_proj", width, hidden, prefix + ".gate_proj", expert));
            units.Add(new(prefix + ".up_proj", width, hidden, prefix + ".gate_proj", expert));
            units.Add(new(prefix + ".down_proj", hidden, width, prefix + ".down_proj", expert));
        }

        if (!config.IsMoeLayer(layer))
        {
            Mlp("mlp", config.IntermediateSize, null);
            return units;
        }

        // Routed experts before the shared ones, as DeepseekV3MoE declares its modules.
        for (var expert = 0; expert < config.NRoutedExperts; expert++)
        {
            Mlp($"mlp.experts.{expert}", config.MoeIntermediateSize, expert);
        }

        if (config.NSharedExperts > 0)
        {
            Mlp("mlp.shared_experts", (long)config.MoeIntermediateSize * config.NSharedExperts, null);
        }

        return units;
    }
}

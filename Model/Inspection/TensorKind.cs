namespace MoeQuant.Model.Inspection;

/// <summary>What part of the model a tensor belongs to, for parameter and byte breakdowns.</summary>
public enum TensorKind
{
    /// <summary>self_attn projections (q/kv low-rank paths, o_proj) and their biases.</summary>
    Attention,

    /// <summary>gate/up/down projections of a dense layer's MLP.</summary>
    DenseMlp,

    /// <summary>mlp.experts.E.* of MoE layers.</summary>
    RoutedExperts,

    /// <summary>mlp.shared_experts.* of MoE layers.</summary>
    SharedExperts,

    /// <summary>mlp.gate.weight and mlp.gate.e_score_correction_bias.</summary>
    Router,

    /// <summary>RMSNorm weights: per layer, inside attention, final, and the MTP norms.</summary>
    Norm,

    /// <summary>Token embeddings and output heads (lm_head and the MTP layer's copies of both).</summary>
    Embedding,

    /// <summary>Anything else, e.g. the MTP layer's eh_proj.</summary>
    Other,
}

/// <summary>Where a group of tensors sits in the model.</summary>
public enum LayerRole
{
    Embedding,
    Dense,
    Moe,
    Mtp,
    FinalNorm,
    LmHead,
    Other,
}

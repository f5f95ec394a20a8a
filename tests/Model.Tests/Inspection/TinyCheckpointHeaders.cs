using MoeQuant.Model.Checkpoint;

namespace MoeQuant.Model.Tests.Inspection;

/// <summary>
/// Headers of the tiny FP8 model (TinyModelConfig's numbers), written out here from FORMATS.md §2.4 rather than
/// taken from the code under test, together with hand-derived totals.
/// </summary>
internal static class TinyCheckpointHeaders
{
    public const int Hidden = 64, Vocab = 1024, Dense = 128, Expert = 32, Heads = 4, QRank = 32, KvRank = 16, HeadDim = 8, Experts = 8;

    // Parameters by kind. Attention per layer: q_a, q_b, kv_a, kv_b, o_proj; norms per layer: two layer norms, q_a and kv_a norms.
    public const long AttentionPerLayer = (QRank * Hidden) + (Heads * 2 * HeadDim * QRank) + ((KvRank + HeadDim) * Hidden)
        + (Heads * 2 * HeadDim * KvRank) + (Hidden * Heads * HeadDim);
    public const long NormsPerLayer = (2 * Hidden) + QRank + KvRank;
    public const long MlpDense = 3L * Dense * Hidden;
    public const long OneExpert = 3L * Expert * Hidden;
    public const long RouterPerLayer = (Experts * Hidden) + Experts;
    public const long MtpExtras = (2L * Vocab * Hidden) + (3 * Hidden) + (Hidden * 2 * Hidden);

    public const long Attention = 5 * AttentionPerLayer;
    public const long Norms = (5 * NormsPerLayer) + Hidden + (3 * Hidden);          // layers, final norm, MTP enorm/hnorm/shared_head.norm
    public const long RoutedExperts = 4 * Experts * OneExpert;
    public const long SharedExperts = 4 * OneExpert;
    public const long Router = 4 * RouterPerLayer;
    public const long Embedding = 4L * Vocab * Hidden;                              // embed, lm_head, MTP embed and head
    public const long Other = Hidden * 2 * Hidden;                                  // MTP eh_proj
    public const long Parameters = Attention + Norms + MlpDense + RoutedExperts + SharedExperts + Router + Embedding + Other;

    // Every projection is FP8 with one [1, 1] F32 scale (all dims ≤ 128); router biases are F32; the rest BF16.
    public const int Fp8Weights = (5 * 5) + 3 + (4 * ((Experts + 1) * 3));
    public const long Fp8Bytes = Attention + MlpDense + RoutedExperts + SharedExperts;
    public const long F32Bytes = (Fp8Weights + (4 * Experts)) * 4L;
    public const long Bf16Bytes = 2 * (Parameters - Fp8Bytes - (4 * Experts));
    public const long Bytes = Fp8Bytes + F32Bytes + Bf16Bytes;

    public static List<TensorHeader> Create()
    {
        var headers = new List<TensorHeader>();
        void Add(string name, SafetensorsDtype dtype, params long[] shape)
        {
            var bytes = shape.Aggregate(1L, (n, d) => n * d) * (dtype == SafetensorsDtype.F8_E4M3 ? 1 : dtype == SafetensorsDtype.F32 ? 4 : 2);
            headers.Add(new TensorHeader(name, dtype, [.. shape], "model.safetensors", headers.Sum(h => h.ByteLength), bytes));
        }

        void Fp8(string name, long rows, long cols)
        {
            Add(name + ".weight", SafetensorsDtype.F8_E4M3, rows, cols);
            Add(name + ".weight_scale_inv", SafetensorsDtype.F32, 1, 1);
        }

        void Mlp(string prefix, long width)
        {
            Fp8(prefix + ".gate_proj", width, Hidden);
            Fp8(prefix + ".up_proj", width, Hidden);
            Fp8(prefix + ".down_proj", Hidden, width);
        }

        Add("model.embed_tokens.weight", SafetensorsDtype.BF16, Vocab, Hidden);
        for (var layer = 0; layer <= 4; layer++)
        {
            var p = $"model.layers.{layer}.";
            Add(p + "input_layernorm.weight", SafetensorsDtype.BF16, Hidden);
            Add(p + "post_attention_layernorm.weight", SafetensorsDtype.BF16, Hidden);
            Fp8(p + "self_attn.q_a_proj", QRank, Hidden);
            Add(p + "self_attn.q_a_layernorm.weight", SafetensorsDtype.BF16, QRank);
            Fp8(p + "self_attn.q_b_proj", Heads * 2 * HeadDim, QRank);
            Fp8(p + "self_attn.kv_a_proj_with_mqa", KvRank + HeadDim, Hidden);
            Add(p + "self_attn.kv_a_layernorm.weight", SafetensorsDtype.BF16, KvRank);
            Fp8(p + "self_attn.kv_b_proj", Heads * 2 * HeadDim, KvRank);
            Fp8(p + "self_attn.o_proj", Hidden, Heads * HeadDim);
            if (layer == 0)
            {
                Mlp(p + "mlp", Dense);
                continue;
            }

            Add(p + "mlp.gate.weight", SafetensorsDtype.BF16, Experts, Hidden);
            Add(p + "mlp.gate.e_score_correction_bias", SafetensorsDtype.F32, Experts);
            for (var e = 0; e < Experts; e++)
            {
                Mlp(p + $"mlp.experts.{e}", Expert);
            }

            Mlp(p + "mlp.shared_experts", Expert);
            if (layer == 4)
            {
                Add(p + "embed_tokens.weight", SafetensorsDtype.BF16, Vocab, Hidden);
                Add(p + "enorm.weight", SafetensorsDtype.BF16, Hidden);
                Add(p + "hnorm.weight", SafetensorsDtype.BF16, Hidden);
                Add(p + "eh_proj.weight", SafetensorsDtype.BF16, Hidden, 2 * Hidden);
                Add(p + "shared_head.norm.weight", SafetensorsDtype.BF16, Hidden);
                Add(p + "shared_head.head.weight", SafetensorsDtype.BF16, Vocab, Hidden);
            }
        }

        Add("model.norm.weight", SafetensorsDtype.BF16, Hidden);
        Add("lm_head.weight", SafetensorsDtype.BF16, Vocab, Hidden);
        return headers;
    }
}

using System.Collections.Immutable;
using MoeQuant.Model.Checkpoint;

namespace MoeQuant.Model.Config;

public sealed partial record DeepseekV3Config
{
    /// <summary>
    /// Every tensor of a HuggingFace-layout checkpoint of this config, in model order: embedding, decoder layers
    /// (MTP layers last), final norm, lm_head. Each FP8 weight is followed by its <c>weight_scale_inv</c>.
    /// </summary>
    public IReadOnlyList<ExpectedTensor> ExpectedTensors()
    {
        var tensors = new List<ExpectedTensor> { new("model.embed_tokens.weight", ParameterDtype, [VocabSize, HiddenSize]) };
        for (var layer = 0; layer < TotalLayers; layer++)
        {
            tensors.AddRange(ExpectedLayerTensors(layer));
        }

        tensors.Add(new("model.norm.weight", ParameterDtype, [HiddenSize]));
        if (!TieWordEmbeddings)
        {
            tensors.Add(new("lm_head.weight", ParameterDtype, [VocabSize, HiddenSize]));
        }

        return tensors;
    }

    /// <summary>The tensors named <c>model.layers.{layer}.*</c> (FORMATS.md §2.4), MTP extras included for MTP layers.</summary>
    public IReadOnlyList<ExpectedTensor> ExpectedLayerTensors(int layer)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(layer);
        ArgumentOutOfRangeException.ThrowIfGreaterThanOrEqual(layer, TotalLayers);
        var prefix = $"model.layers.{layer}.";
        var tensors = new List<ExpectedTensor>();

        void Plain(string name, SafetensorsDtype dtype, params long[] shape) =>
            tensors.Add(new(prefix + name, dtype, [.. shape]));

        void Vector(string name, long size) => Plain(name, ParameterDtype, size);

        void Linear(string module, long outFeatures, long inFeatures, bool bias = false)
        {
            if (Fp8Quantization is { } fp8)
            {
                var weight = new ExpectedTensor(prefix + module + ".weight", SafetensorsDtype.F8_E4M3, [outFeatures, inFeatures]);
                tensors.Add(weight);
                tensors.Add(new(weight.Name + ExpectedTensor.ScaleSuffix, SafetensorsDtype.F32, fp8.ScaleShape(weight.Shape)));
            }
            else
            {
                Plain(module + ".weight", ParameterDtype, outFeatures, inFeatures);
            }

            if (bias)
            {
                Vector(module + ".bias", outFeatures);
            }
        }

        void Mlp(string module, long width)
        {
            Linear(module + ".gate_proj", width, HiddenSize);
            Linear(module + ".up_proj", width, HiddenSize);
            Linear(module + ".down_proj", HiddenSize, width);
        }

        if (IsMtpLayer(layer))
        {
            // The MTP module wraps a decoder layer with its own embedding, two input norms, a projection of
            // [embedding; hidden] and a head; these extras are never FP8 (FORMATS.md §2.4).
            Plain("embed_tokens.weight", ParameterDtype, VocabSize, HiddenSize);
            Vector("enorm.weight", HiddenSize);
            Vector("hnorm.weight", HiddenSize);
            Plain("eh_proj.weight", ParameterDtype, HiddenSize, 2L * HiddenSize);
            Vector("shared_head.norm.weight", HiddenSize);
            Plain("shared_head.head.weight", ParameterDtype, VocabSize, HiddenSize);
        }

        Vector("input_layernorm.weight", HiddenSize);
        Vector("post_attention_layernorm.weight", HiddenSize);

        // Multi-head latent attention; attention_bias only adds biases to the a-projections and o_proj, as in transformers.
        if (QLoraRank is { } qLoraRank)
        {
            Linear("self_attn.q_a_proj", qLoraRank, HiddenSize, AttentionBias);
            Vector("self_attn.q_a_layernorm.weight", qLoraRank);
            Linear("self_attn.q_b_proj", (long)NumAttentionHeads * QkHeadDim, qLoraRank);
        }
        else
        {
            Linear("self_attn.q_proj", (long)NumAttentionHeads * QkHeadDim, HiddenSize);
        }

        Linear("self_attn.kv_a_proj_with_mqa", KvLoraRank + QkRopeHeadDim, HiddenSize, AttentionBias);
        Vector("self_attn.kv_a_layernorm.weight", KvLoraRank);
        Linear("self_attn.kv_b_proj", (long)NumAttentionHeads * (QkNopeHeadDim + VHeadDim), KvLoraRank);
        Linear("self_attn.o_proj", HiddenSize, (long)NumAttentionHeads * VHeadDim, AttentionBias);

        if (!IsMoeLayer(layer))
        {
            Mlp("mlp", IntermediateSize);
            return tensors;
        }

        var experts = NRoutedExperts!.Value;
        Plain("mlp.gate.weight", ParameterDtype, experts, HiddenSize);
        if (TopkMethod == "noaux_tc")
        {
            Plain("mlp.gate.e_score_correction_bias", SafetensorsDtype.F32, experts);
        }

        for (var expert = 0; expert < experts; expert++)
        {
            Mlp($"mlp.experts.{expert}", MoeIntermediateSize);
        }

        if (NSharedExperts > 0)
        {
            Mlp("mlp.shared_experts", (long)MoeIntermediateSize * NSharedExperts);
        }

        return tensors;
    }
}

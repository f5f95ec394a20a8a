using MoeQuant.Kernels.Attention;
using MoeQuant.Model.Config;
using static TorchSharp.torch;

namespace MoeQuant.Model.Forward;

/// <summary>Multi-head latent attention weights.</summary>
/// <param name="InputProjection">The projections that read the normed hidden states, stacked: q_a_proj [q_lora_rank, hidden]
/// (or q_proj [heads·qk_head_dim, hidden] when q_lora_rank is null), then kv_a_proj_with_mqa [kv_lora_rank + rope, hidden].</param>
/// <param name="QueryANorm">q_a_layernorm [q_lora_rank]; null on the direct query path.</param>
/// <param name="QueryB">q_b_proj [heads·qk_head_dim, q_lora_rank]; null on the direct query path.</param>
/// <param name="KvANorm">kv_a_layernorm [kv_lora_rank].</param>
/// <param name="KvB">kv_b_proj [heads·(nope + v), kv_lora_rank].</param>
/// <param name="Output">o_proj [hidden, heads·v].</param>
internal sealed record AttentionWeights(Tensor InputProjection, Tensor? QueryANorm, Tensor? QueryB, Tensor KvANorm, Tensor KvB, Tensor Output);

/// <summary>
/// DeepSeek-V3's multi-head latent attention, computed as transformers' <c>DeepseekV3Attention</c> (expanded keys and
/// values, not the absorbed form), with causal fused scaled-dot-product attention.
/// </summary>
internal static class MlaAttention
{
    /// <param name="w">The layer's attention weights.</param>
    /// <param name="c">The model config.</param>
    /// <param name="rope">The rotary embedding of the model.</param>
    /// <param name="x">[B, T, hidden], the input-normed hidden states, of the compute dtype.</param>
    /// <param name="cos">[B or 1, T, rope/2], from <see cref="RotaryEmbedding.Angles"/>.</param>
    /// <param name="sin">Like <paramref name="cos"/>.</param>
    /// <param name="inputs">Receives the inputs of the attention's linear units.</param>
    /// <returns>[B, T, hidden].</returns>
    public static Tensor Forward(AttentionWeights w, DeepseekV3Config c, RotaryEmbedding rope, Tensor x, Tensor cos, Tensor sin, LayerInputs inputs)
    {
        using var scope = NewDisposeScope();
        var (batch, time) = (x.shape[0], x.shape[1]);
        var heads = c.NumAttentionHeads;
        var (nope, ropeDim, kvRank) = (c.QkNopeHeadDim, c.QkRopeHeadDim, c.KvLoraRank);
        var fusedNorm = inputs.Options.FusedNorm;
        var flat = x.reshape(-1, c.HiddenSize);

        // 1) the query's first projection and the latent KV projection read the same input: one product.
        inputs.Emit(w.QueryB is null ? "self_attn.q_proj" : "self_attn.q_a_proj", flat);
        var projected = nn.functional.linear(flat, w.InputProjection);
        inputs.Mark("q/kv_a product");
        var queryWidth = projected.shape[1] - kvRank - ropeDim;
        var query = projected.narrow(1, 0, queryWidth);
        if (w.QueryB is not null)
        {
            var latentQuery = RmsNorm.Apply(query, w.QueryANorm!, RmsNorm.LatentEps, fusedNorm);
            inputs.Emit("self_attn.q_b_proj", latentQuery);
            query = nn.functional.linear(latentQuery, w.QueryB);
        }

        // [B, T, heads, qk_head_dim]: as the product lays it out.
        var q = query.view(batch, time, heads, c.QkHeadDim);
        inputs.Mark("q path");

        // 2) the latent KV: normed, then expanded per head; the rope key part is one head shared by all heads.
        var latentKv = RmsNorm.Apply(projected.narrow(1, queryWidth, kvRank), w.KvANorm, RmsNorm.LatentEps, fusedNorm);
        inputs.Emit("self_attn.kv_b_proj", latentKv);
        var kv = nn.functional.linear(latentKv, w.KvB).view(batch, time, heads, nope + c.VHeadDim);
        var keyRope = projected.narrow(1, queryWidth + kvRank, ropeDim).reshape(batch, 1, time, ropeDim);
        inputs.Mark("kv path");

        // 3) rotate the rope parts; queries and keys are [B, heads, T, nope + rope].
        var (queries, keys, values) = inputs.Options.AttentionLayout
            ? InPlace(q, kv, keyRope, c, rope, cos, sin, inputs)
            : Concatenated(q.transpose(1, 2), kv.transpose(1, 2), keyRope, c, rope, cos, sin, inputs);

        // 4) fused causal attention with DeepSeek's YaRN-corrected softmax scale.
        var attended = FusedAttention.Causal(queries, keys, values, c.SoftmaxScale, inputs.Options.Attention);
        inputs.Mark("sdpa");
        var merged = attended.transpose(1, 2).reshape(batch * time, heads * c.VHeadDim);
        inputs.Emit("self_attn.o_proj", merged);
        var output = nn.functional.linear(merged, w.Output).view(batch, time, c.HiddenSize);
        inputs.Mark("o_proj");
        return output.MoveToOuterDisposeScope();
    }

    // transformers' layout: q and kv transposed to [B, heads, T, d], the rotated parts concatenated onto new tensors.
    private static (Tensor Queries, Tensor Keys, Tensor Values) Concatenated(
        Tensor q, Tensor kv, Tensor keyRope, DeepseekV3Config c, RotaryEmbedding rope, Tensor cos, Tensor sin, LayerInputs inputs)
    {
        var (nope, ropeDim) = (c.QkNopeHeadDim, c.QkRopeHeadDim);
        var (batch, heads, time) = (q.shape[0], q.shape[1], q.shape[2]);
        var queryRot = rope.Apply(q.narrow(-1, nope, ropeDim), cos, sin);
        var keyRot = rope.Apply(keyRope, cos, sin).expand(batch, heads, time, ropeDim);
        inputs.Mark("rope");
        var queries = cat([q.narrow(-1, 0, nope), queryRot], -1);
        var keys = cat([kv.narrow(-1, 0, nope), keyRot], -1);
        inputs.Mark("qkv layout");
        return (queries, keys, kv.narrow(-1, nope, c.VHeadDim));
    }

    // The same values without concatenation: the queries' rope part is rotated where the product wrote it, the keys
    // are written once, and all three stay in the [B, T, heads, d] layout the fused kernels read directly (transposed
    // views), so neither the kernel nor the merge of its output copies them again.
    private static (Tensor Queries, Tensor Keys, Tensor Values) InPlace(
        Tensor q, Tensor kv, Tensor keyRope, DeepseekV3Config c, RotaryEmbedding rope, Tensor cos, Tensor sin, LayerInputs inputs)
    {
        var (nope, ropeDim) = (c.QkNopeHeadDim, c.QkRopeHeadDim);
        var (batch, time, heads) = (q.shape[0], q.shape[1], q.shape[2]);
        var queryRope = q.narrow(-1, nope, ropeDim).transpose(1, 2);
        queryRope.copy_(rope.Apply(queryRope, cos, sin));
        var keyRot = rope.Apply(keyRope, cos, sin).transpose(1, 2);
        inputs.Mark("rope");
        var keys = empty([batch, time, heads, c.QkHeadDim], q.dtype, q.device);
        keys.narrow(-1, 0, nope).copy_(kv.narrow(-1, 0, nope));
        keys.narrow(-1, nope, ropeDim).copy_(keyRot);
        inputs.Mark("qkv layout");
        return (q.transpose(1, 2), keys.transpose(1, 2), kv.narrow(-1, nope, c.VHeadDim).transpose(1, 2));
    }
}

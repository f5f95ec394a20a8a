using MoeQuant.Model.Config;
using static TorchSharp.torch;

namespace MoeQuant.Model.Forward;

/// <summary>
/// The weights of one decoder layer on one device, in one compute dtype: everything <see cref="DecoderLayer.Run"/>
/// needs and nothing of other layers. Linear units that read the same input are stored fused (q_a_proj with
/// kv_a_proj_with_mqa, gate_proj with up_proj, all routed experts stacked) so each group is one matrix product;
/// <see cref="Weight"/> and <see cref="ReplaceWeight"/> still address every unit on its own.
/// </summary>
public sealed class DecoderLayerWeights : IDisposable
{
    private readonly Dictionary<string, Tensor> _unitWeights = [];
    private readonly List<Tensor> _owned = [];

    private DecoderLayerWeights(DeepseekV3Config config, int layer, Device device, ScalarType dtype)
    {
        Config = config;
        Layer = layer;
        Device = device;
        DType = dtype;
        Units = LinearUnit.ForLayer(config, layer);
        InputGroups = Units.GroupBy(u => u.InputGroup).ToDictionary(g => g.Key, g => (IReadOnlyList<string>)[.. g.Select(u => u.Name)]);
        Rope = new RotaryEmbedding(config);
    }

    public DeepseekV3Config Config { get; }

    /// <summary>Index of the decoder layer (0-based, as in <c>model.layers.{i}</c>).</summary>
    public int Layer { get; }

    public Device Device { get; }

    /// <summary>Compute dtype (BFloat16 or Float32): of every weight except the router's, which is f32.</summary>
    public ScalarType DType { get; }

    /// <summary>The layer's linear units in module order.</summary>
    public IReadOnlyList<LinearUnit> Units { get; }

    /// <summary>Unit names by input group (see <see cref="LinearUnit.InputGroup"/>).</summary>
    public IReadOnlyDictionary<string, IReadOnlyList<string>> InputGroups { get; }

    internal RotaryEmbedding Rope { get; }

    internal Tensor InputNorm { get; private set; } = null!;

    internal Tensor PostAttentionNorm { get; private set; } = null!;

    internal AttentionWeights Attention { get; private set; } = null!;

    /// <summary>The dense MLP of layers below first_k_dense_replace; null in MoE layers.</summary>
    internal GatedMlpWeights? DenseMlp { get; private set; }

    /// <summary>Router, routed and shared experts of MoE layers; null in dense layers.</summary>
    internal MoeWeights? Moe { get; private set; }

    /// <summary>
    /// Loads decoder layer <paramref name="layer"/> from <paramref name="source"/> onto <paramref name="device"/>,
    /// every weight as <paramref name="dtype"/> (FP8 ones dequantized by the source), except the router weight and
    /// e_score_correction_bias, which the router uses in f32. Peak memory is the layer plus one source tensor.
    /// </summary>
    /// <exception cref="NotSupportedException">A config feature other than DeepSeek-V3's (attention bias, a
    /// non-sigmoid router, an activation other than SiLU).</exception>
    public static DecoderLayerWeights Load(DeepseekV3Config config, int layer, IWeightSource source, Device device, ScalarType dtype)
    {
        CheckSupported(config);
        var weights = new DecoderLayerWeights(config, layer, device, dtype);
        try
        {
            weights.LoadFrom(source);
            return weights;
        }
        catch
        {
            weights.Dispose();
            throw;
        }
    }

    /// <summary>The current weight of <paramref name="unit"/>, [out, in] of <see cref="DType"/>: a view into the layer's
    /// storage, owned by this object (do not dispose; copy it to keep it past <see cref="Dispose"/>).</summary>
    /// <exception cref="KeyNotFoundException">The layer has no such unit.</exception>
    public Tensor Weight(string unit) =>
        _unitWeights.TryGetValue(unit, out var weight) ? weight : throw new KeyNotFoundException($"layer {Layer} has no linear unit '{unit}'");

    /// <summary>
    /// Overwrites the weight of <paramref name="unit"/> in place, e.g. with its dequantized GPTQ result, so later runs
    /// use it; no extra layer-sized memory is taken. The caller keeps ownership of <paramref name="weight"/>.
    /// </summary>
    /// <param name="unit">A name from <see cref="Units"/>, e.g. <c>mlp.experts.5.gate_proj</c>.</param>
    /// <param name="weight">[out, in], any float dtype and device; converted to <see cref="DType"/>.</param>
    /// <exception cref="ArgumentException">The shape differs from the unit's.</exception>
    public void ReplaceWeight(string unit, Tensor weight)
    {
        var target = Weight(unit);
        if (!weight.shape.SequenceEqual(target.shape))
        {
            throw new ArgumentException($"{unit}: replacement has shape [{string.Join(", ", weight.shape)}], expected [{string.Join(", ", target.shape)}]", nameof(weight));
        }

        target.copy_(weight);
    }

    public void Dispose()
    {
        foreach (var tensor in _unitWeights.Values.Concat(_owned))
        {
            tensor.Dispose();
        }

        _unitWeights.Clear();
        _owned.Clear();
    }

    private static void CheckSupported(DeepseekV3Config config)
    {
        if (config.AttentionBias)
        {
            throw new NotSupportedException("attention_bias is true; DeepSeek-V3 attention has no biases and neither does this forward pass");
        }

        if (config.HiddenAct != "silu")
        {
            throw new NotSupportedException($"hidden_act '{config.HiddenAct}' is not supported; DeepSeek-V3 uses 'silu'");
        }

        if (config.NRoutedExperts is not null && (config.ScoringFunc != "sigmoid" || config.TopkMethod != "noaux_tc"))
        {
            throw new NotSupportedException(
                $"router scoring_func '{config.ScoringFunc}' with topk_method '{config.TopkMethod}' is not supported; DeepSeek-V3 uses 'sigmoid' with 'noaux_tc'");
        }
    }

    private void LoadFrom(IWeightSource source)
    {
        var c = Config;
        var prefix = $"model.layers.{Layer}.";
        var loader = new Loader(this, source, prefix);

        InputNorm = loader.Plain("input_layernorm.weight", DType);
        PostAttentionNorm = loader.Plain("post_attention_layernorm.weight", DType);

        var heads = c.NumAttentionHeads;
        var queryUnit = c.QLoraRank is null ? "self_attn.q_proj" : "self_attn.q_a_proj";
        var queryRows = c.QLoraRank ?? (long)heads * c.QkHeadDim;
        Attention = new AttentionWeights(
            InputProjection: loader.Fused(c.HiddenSize, (queryUnit, queryRows), ("self_attn.kv_a_proj_with_mqa", c.KvLoraRank + c.QkRopeHeadDim)),
            QueryANorm: c.QLoraRank is null ? null : loader.Plain("self_attn.q_a_layernorm.weight", DType),
            QueryB: c.QLoraRank is { } rank ? loader.Fused(rank, ("self_attn.q_b_proj", (long)heads * c.QkHeadDim)) : null,
            KvANorm: loader.Plain("self_attn.kv_a_layernorm.weight", DType),
            KvB: loader.Fused(c.KvLoraRank, ("self_attn.kv_b_proj", (long)heads * (c.QkNopeHeadDim + c.VHeadDim))),
            Output: loader.Fused((long)heads * c.VHeadDim, ("self_attn.o_proj", c.HiddenSize)));

        if (!c.IsMoeLayer(Layer))
        {
            DenseMlp = loader.Mlp("mlp", c.IntermediateSize);
            return;
        }

        var experts = c.NRoutedExperts!.Value;
        var width = c.MoeIntermediateSize;
        var gateUp = loader.Owned(empty([experts, 2L * width, c.HiddenSize], DType, Device));
        var down = loader.Owned(empty([experts, c.HiddenSize, width], DType, Device));
        var gateUpT = new Tensor[experts];
        var downT = new Tensor[experts];
        for (var e = 0; e < experts; e++)
        {
            var name = $"mlp.experts.{e}";
            using var expertGateUp = gateUp[e];
            using var expertDown = down[e];
            loader.Fill(name + ".gate_proj", expertGateUp.narrow(0, 0, width));
            loader.Fill(name + ".up_proj", expertGateUp.narrow(0, width, width));
            loader.Fill(name + ".down_proj", expertDown.alias());
            gateUpT[e] = loader.Owned(expertGateUp.t());
            downT[e] = loader.Owned(expertDown.t());
        }

        Moe = new MoeWeights(
            RouterWeight: loader.Router("mlp.gate.weight"),
            CorrectionBias: loader.Plain("mlp.gate.e_score_correction_bias", ScalarType.Float32),
            ExpertGateUpT: gateUpT,
            ExpertDownT: downT,
            Shared: c.NSharedExperts > 0 ? loader.Mlp("mlp.shared_experts", (long)width * c.NSharedExperts) : null);
    }

    /// <summary>Reads tensors of one layer into storage this object owns.</summary>
    private sealed class Loader(DecoderLayerWeights owner, IWeightSource source, string prefix)
    {
        public Tensor Owned(Tensor tensor)
        {
            owner._owned.Add(tensor.DetachFromDisposeScope());
            return tensor;
        }

        public Tensor Plain(string name, ScalarType dtype) => Owned(source.Read(prefix + name, dtype, owner.Device));

        // transformers keeps the router weight in the model dtype and casts it to f32 for the product; rounding through
        // the compute dtype first gives the same f32 values.
        public Tensor Router(string name)
        {
            using var weight = source.Read(prefix + name, owner.DType, owner.Device);
            return Owned(weight.to_type(ScalarType.Float32));
        }

        /// <summary>Units stacked along rows into one [Σ rows, cols] matrix, each unit a view of its rows.</summary>
        public Tensor Fused(long cols, params (string Unit, long Rows)[] parts)
        {
            var fused = Owned(empty([parts.Sum(p => p.Rows), cols], owner.DType, owner.Device));
            var offset = 0L;
            foreach (var (unit, rows) in parts)
            {
                Fill(unit, fused.narrow(0, offset, rows));
                offset += rows;
            }

            return fused;
        }

        public GatedMlpWeights Mlp(string module, long width) => new(
            GateUp: Fused(owner.Config.HiddenSize, (module + ".gate_proj", width), (module + ".up_proj", width)),
            Down: Fused(width, (module + ".down_proj", owner.Config.HiddenSize)));

        /// <summary>Copies unit <paramref name="unit"/> from the source into <paramref name="view"/>, which becomes its weight.</summary>
        public void Fill(string unit, Tensor view)
        {
            owner._unitWeights[unit] = view.DetachFromDisposeScope();
            using var weight = source.Read(prefix + unit + ".weight", owner.DType, owner.Device);
            if (!weight.shape.SequenceEqual(view.shape))
            {
                throw new InvalidDataException(
                    $"{prefix}{unit}.weight has shape [{string.Join(", ", weight.shape)}], the config implies [{string.Join(", ", view.shape)}]");
            }

            view.copy_(weight);
        }
    }
}

using MoeQuant.Model.Config;

namespace MoeQuant.Model.Forward;

/// <summary>The work of one phase: floating-point operations and the bytes it must move at least.</summary>
/// <param name="Flops">Multiply-adds counted as two; 0 for phases bound by memory.</param>
/// <param name="Bytes">Each input and weight read once and each output written once, in the compute dtype
/// (f32 where the phase computes in f32); what an ideal kernel moves.</param>
public sealed record PhaseWork(double Flops, double Bytes);

/// <summary>
/// The work of each phase <see cref="ForwardPhaseClock"/> reports for a MoE decoder layer over B sequences of T tokens
/// in bf16, so measured times become achieved TFLOP/s or GB/s, and their sum at given rates a floor for the layer.
/// </summary>
public static class ForwardPhaseCost
{
    /// <summary>Work by phase name; phases absent from the map (rope angles) are negligible.</summary>
    public static IReadOnlyDictionary<string, PhaseWork> MoeLayer(DeepseekV3Config c, int batch, int sequenceLength)
    {
        const double Bf16 = 2;
        const double F32 = 4;
        double n = (double)batch * sequenceLength;
        double h = c.HiddenSize;
        double heads = c.NumAttentionHeads;
        var (qk, nope, rope, v) = ((double)c.QkHeadDim, (double)c.QkNopeHeadDim, (double)c.QkRopeHeadDim, (double)c.VHeadDim);
        double kvA = c.KvLoraRank + c.QkRopeHeadDim;
        double qA = c.QLoraRank ?? heads * qk;
        double experts = c.NRoutedExperts ?? 0;
        double k = c.NumExpertsPerTok;
        double width = c.MoeIntermediateSize;
        double shared = (double)c.MoeIntermediateSize * c.NSharedExperts;
        double pairs = n * k;

        // A product [rows, in] × [out, in]ᵀ: 2·rows·in·out operations; input, weight and output moved once.
        static PhaseWork Product(double rows, double input, double output) =>
            new(2 * rows * input * output, Bf16 * ((rows * input) + (input * output) + (rows * output)));

        var qPath = c.QLoraRank is { } rank
            ? Product(n, rank, heads * qk) with { Bytes = Bf16 * ((2 * n * rank) + (rank * heads * qk) + (n * heads * qk)) }
            : new PhaseWork(0, 0);
        var norm = new PhaseWork(0, Bf16 * 2 * n * h);
        // Causal: every query attends to itself and the keys before it, T(T+1)/2 pairs per sequence and head.
        var attendedPairs = batch * heads * sequenceLength * (sequenceLength + 1.0) / 2;
        return new Dictionary<string, PhaseWork>
        {
            ["input norm"] = norm,
            ["q/kv_a product"] = Product(n, h, qA + kvA),
            ["q path"] = qPath,
            ["kv path"] = Product(n, c.KvLoraRank, heads * (nope + v)) with
            {
                Bytes = Bf16 * ((2 * n * c.KvLoraRank) + (c.KvLoraRank * heads * (nope + v)) + (n * heads * (nope + v))),
            },
            ["rope"] = new(0, Bf16 * 2 * n * (heads + 1) * rope),
            // The keys must be formed once: the shared rope head broadcast beside every head's no-rope part.
            ["qkv layout"] = new(0, Bf16 * n * heads * (nope + qk)),
            ["sdpa"] = new(2 * attendedPairs * (qk + v), Bf16 * n * heads * ((2 * qk) + (2 * v))),
            ["o_proj"] = Product(n, heads * v, h),
            ["attention residual"] = new(0, Bf16 * 3 * n * h),
            ["post norm"] = norm,
            ["router scores"] = new(2 * n * h * experts, (Bf16 * n * h) + (F32 * ((experts * h) + (n * experts)))),
            ["router group top-k"] = new(0, F32 * 2 * n * experts),
            ["router top-k"] = new(0, F32 * n * experts),
            // Each token's row copied to its k slots, sorted by expert.
            ["dispatch"] = new(0, Bf16 * 2 * pairs * h),
            ["experts gate/up"] = new(2 * pairs * h * 2 * width, Bf16 * ((pairs * h) + (experts * 2 * width * h) + (pairs * 2 * width))),
            ["experts activation"] = new(0, Bf16 * 3 * pairs * width),
            ["experts down"] = new(2 * pairs * width * h, Bf16 * ((pairs * width) + (experts * width * h) + (pairs * h))),
            ["combine"] = new(0, Bf16 * (pairs + n) * h),
            ["shared expert"] = new(2 * n * h * 3 * shared, Bf16 * ((2 * n * h) + (3 * shared * h) + (3 * n * shared))),
            ["mlp residual"] = new(0, Bf16 * 3 * n * h),
        };
    }
}

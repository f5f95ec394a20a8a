using MoeQuant.Kernels.Cuda;
using MoeQuant.Model.Config;
using static TorchSharp.torch;

namespace MoeQuant.Model.Forward;

/// <summary>One implementation variant of the layer, measured beside the reference in the same process.</summary>
/// <param name="Name">The variant's name (<see cref="ForwardOptions.Variants"/>).</param>
/// <param name="Options">Its switches.</param>
/// <param name="Milliseconds">Median wall time of one unclocked forward; null when the variant failed.</param>
/// <param name="Phases">Each phase's time in the clocked forward whose total was the median of three; null without phases.</param>
/// <param name="MaxAbsDiff">Largest |output − reference output| over the layer's output.</param>
/// <param name="RoutingMismatchedTokens">Tokens whose set of chosen experts differs from the reference's.</param>
/// <param name="Error">Why the variant failed (it is then the only other field set), or null.</param>
public sealed record ForwardVariantResult(
    string Name, ForwardOptions Options, double? Milliseconds, IReadOnlyList<PhaseTime>? Phases, double? MaxAbsDiff, long? RoutingMismatchedTokens, string? Error);

/// <summary>
/// Times variants of <see cref="DecoderLayer.Run"/> on layer first_k_dense_replace (the first MoE layer) with random
/// bf16 weights over B × T random hidden states, each against the reference output and routing of the same weights
/// and inputs, and optionally phase by phase. Needs about 40 GB of device memory at DeepSeek-V3's dimensions and 8 × 4096.
/// A variant that throws (a kernel the device lacks) is reported with its error and the others still run.
/// </summary>
public static class ForwardVariantBenchmark
{
    private const int PhaseRuns = 3;

    /// <param name="device">Usually CUDA; CPU works at small sizes.</param>
    /// <param name="variants">Named switch sets, measured in this order.</param>
    /// <param name="batch">Sequences per forward.</param>
    /// <param name="sequenceLength">Tokens per sequence.</param>
    /// <param name="warmup">Untimed forwards of each variant after its checked one.</param>
    /// <param name="repetitions">Timed forwards of each variant; the median is reported.</param>
    /// <param name="phases">Also time each variant's phases (<see cref="ForwardPhaseClock"/>), in separate runs.</param>
    /// <param name="config">Shapes; <see cref="ForwardBenchmark.DeepseekV3Dimensions"/> when null.</param>
    public static IReadOnlyList<ForwardVariantResult> Run(
        Device device, IReadOnlyList<(string Name, ForwardOptions Options)> variants, int batch = 8, int sequenceLength = 4096,
        int warmup = 1, int repetitions = 3, bool phases = false, DeepseekV3Config? config = null)
    {
        config ??= ForwardBenchmark.DeepseekV3Dimensions;
        using var scope = NewDisposeScope();
        manual_seed(0);
        using var weights = DecoderLayerWeights.Load(config, config.FirstKDenseReplace, new RandomWeightSource(config), device, ScalarType.BFloat16);
        var hidden = randn([batch, sequenceLength, config.HiddenSize], ScalarType.BFloat16, device);
        var positions = arange(sequenceLength, ScalarType.Int64, device);
        var (reference, referenceRouting) = Checked(weights, hidden, positions, ForwardOptions.Reference);
        using (reference)
        using (referenceRouting)
        {
            var results = new List<ForwardVariantResult>();
            foreach (var (name, options) in variants)
            {
                try
                {
                    results.Add(Measure(name, options, weights, hidden, positions, reference, referenceRouting, warmup, repetitions, phases));
                }
                catch (Exception error) when (error is not OutOfMemoryException)
                {
                    // libtorch's messages run to dispatcher tables and native frames; the line naming the error says it all
                    // (after a TorchScript traceback, when the operator ran inside one).
                    var lines = error.Message.Split('\n');
                    var message = lines.FirstOrDefault(l => l.Contains("Error: ", StringComparison.Ordinal)) ?? lines[0];
                    results.Add(new ForwardVariantResult(name, options, null, null, null, null, $"{error.GetType().Name}: {message}"));
                }
            }

            return results;
        }
    }

    private static ForwardVariantResult Measure(
        string name, ForwardOptions options, DecoderLayerWeights weights, Tensor hidden, Tensor positions,
        Tensor reference, Tensor referenceRouting, int warmup, int repetitions, bool phases)
    {
        // The checked run also compiles and loads the variant's kernels, so it doubles as a warm-up.
        var (output, routing) = Checked(weights, hidden, positions, options);
        double maxAbsDiff;
        long mismatched;
        using (output)
        using (routing)
        using (var difference = output.to_type(ScalarType.Float32).sub_(reference.to_type(ScalarType.Float32)).abs_())
        using (var differs = routing.ne(referenceRouting).any(1))
        {
            maxAbsDiff = difference.max().item<float>();
            mismatched = differs.sum().item<long>();
        }

        var device = hidden.device;
        var milliseconds = DeviceTimer.MedianMilliseconds(device, () => DecoderLayer.Run(weights, hidden, positions, null, options).Dispose(), warmup, repetitions);
        IReadOnlyList<PhaseTime>? phaseTimes = null;
        if (phases)
        {
            var runs = Enumerable.Range(0, PhaseRuns).Select(_ =>
            {
                var clock = new ForwardPhaseClock(device);
                clock.Start();
                DecoderLayer.Run(weights, hidden, positions, new LayerCapture(Phases: clock), options).Dispose();
                return clock.Phases;
            }).OrderBy(p => p.Sum(x => x.Milliseconds)).ToList();
            phaseTimes = runs[PhaseRuns / 2];
        }

        return new ForwardVariantResult(name, options, milliseconds, phaseTimes, maxAbsDiff, mismatched, null);
    }

    /// <returns>The layer output and each token's chosen experts in ascending order ([tokens, k] int64), both owned by the caller.</returns>
    private static (Tensor Output, Tensor Routing) Checked(DecoderLayerWeights weights, Tensor hidden, Tensor positions, ForwardOptions options)
    {
        Tensor? chosen = null;
        var output = DecoderLayer.Run(weights, hidden, positions, new LayerCapture(OnRouting: r => chosen = r.Indices.sort(1).Values.DetachFromDisposeScope()), options);
        return (output.DetachFromDisposeScope(), chosen ?? throw new InvalidOperationException($"layer {weights.Layer} routed nothing: not a MoE layer"));
    }
}

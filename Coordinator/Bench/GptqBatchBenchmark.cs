using MoeQuant.Kernels.Cuda;
using MoeQuant.Kernels.Gptq;
using MoeQuant.Kernels.Quantization;
using TorchSharp;
using static TorchSharp.torch;

namespace MoeQuant.Coordinator.Bench;

/// <summary>
/// <c>Gptq.QuantizeBatch</c> on N DeepSeek-V3 routed experts (issue #7) beside the single path (<c>QuantizeTied</c> per item)
/// on the same inputs in the same run: gate_proj alone (2048×7168), gate_proj + up_proj tied to one Hessian, and
/// down_proj (7168×2048), for default+absmax and activation+mse. Time per item, per matrix and per expert
/// (gate+up tied, plus down), proxy losses and code agreement between the two paths.
/// </summary>
internal static class GptqBatchBenchmark
{
    private const int GroupSize = 128;
    private const double RelDamp = 0.1;

    /// <summary>The two configurations measured, by name.</summary>
    internal static readonly IReadOnlyDictionary<string, (QuantizationOrder Order, ScaleSearch Scale)> Configs = new Dictionary<string, (QuantizationOrder, ScaleSearch)>
    {
        ["default+absmax"] = (QuantizationOrder.Default, ScaleSearch.AbsMax),
        ["activation+mse"] = (QuantizationOrder.Activation, ScaleSearch.Mse),
    };

    /// <summary>Measures on a CUDA device at DeepSeek-V3's expert shapes (hidden 7168, intermediate 2048, 8192 tokens).</summary>
    public static void Run(BenchRecorder recorder, int device, int batch, bool stages = false, string? config = null) =>
        Run(recorder, new Device(DeviceType.CUDA, device), batch, DeepSeekV3, stages, config);

    /// <summary>DeepSeek-V3's routed expert: hidden 7168, intermediate 2048, Hessians of 8192 tokens.</summary>
    internal static ExpertShape DeepSeekV3 { get; } = new(7168, 2048, 8192);

    /// <summary>The same on any device and expert shape (tests run it on the CPU at a small one).</summary>
    /// <param name="recorder">Where results go.</param>
    /// <param name="cuda">The device.</param>
    /// <param name="batch">Experts per batched call.</param>
    /// <param name="shape">Expert shape.</param>
    /// <param name="stages">Also time every stage of each batched call (GptqStageTimer), recorded as gptq-batch-stages.</param>
    /// <param name="config">Only this configuration (a key of <see cref="Configs"/>); null: both.</param>
    internal static void Run(BenchRecorder recorder, Device cuda, int batch, ExpertShape shape, bool stages = false, string? config = null)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(batch, 1);
        backends.cuda.matmul.allow_tf32 = false;
        var experts = Enumerable.Range(0, batch).Select(e => Expert.Create(cuda, e, shape)).ToList();
        try
        {
            // One budget for every call, measured before the first: libtorch's cached blocks make later readings smaller.
            var settings = Budget(cuda);
            MseSearch(recorder, cuda, experts[0].Gate.Weight);
            GptqFactorAccuracy.Measure(recorder, experts[0].GateUpHessian.Matrix, RelDamp, "gate_proj+up_proj");
            GptqFactorAccuracy.Measure(recorder, experts[0].DownHessian.Matrix, RelDamp, "down_proj");
            if (cuda.type == DeviceType.CUDA)
            {
                GptqFactorAccuracy.MeasureLeaves(recorder, experts[0].GateUpHessian.Matrix);
                GptqLoopBenchmark.MeasureSpans(recorder, cuda, batch, shape.Tokens);
            }
            foreach (var (name, (order, scale)) in Configs.Where(c => config is null || c.Key == config))
            {
                var options = new GptqOptions { GroupSize = GroupSize, RelDamp = RelDamp, Order = order, Scale = scale };
                var run = new MeasureRun(recorder, cuda, name, shape.Tokens, options, settings, stages);
                Measure(run, "gate_proj", [.. experts.Select(x => new GptqBatchItem(x.GateUpHessian, [x.Gate]))]);
                var gateUp = Measure(run, "gate_proj+up_proj (tied)", [.. experts.Select(x => new GptqBatchItem(x.GateUpHessian, [x.Gate, x.Up]))]);
                var down = Measure(run, "down_proj", [.. experts.Select(x => new GptqBatchItem(x.DownHessian, [x.Down]))]);
                var expertInputs = new { batch, config = name, tokens = shape.Tokens, hidden = shape.Hidden, intermediate = shape.Intermediate, bits = options.Bits, groupSize = GroupSize, relDamp = RelDamp, expert = "gate_proj+up_proj tied to one Hessian, plus down_proj", baseline = "single path (Gptq.QuantizeTied per item), same inputs, same run" };
                recorder.Record(
                    "gptq-batch-expert",
                    expertInputs,
                    new
                    {
                        batchMsPerExpert = gateUp.BatchMsPerItem + down.BatchMsPerItem,
                        singleMsPerExpert = gateUp.SingleMsPerItem + down.SingleMsPerItem,
                        speedup = (gateUp.SingleMsPerItem + down.SingleMsPerItem) / (gateUp.BatchMsPerItem + down.BatchMsPerItem),
                    });
                if (stages)
                {
                    GptqBatchStages.RecordExpert(recorder, expertInputs, gateUp.Stages!, down.Stages!);
                }
            }
        }
        finally
        {
            experts.ForEach(x => x.Dispose());
        }
    }

    /// <summary>The workspace budget for every batched call: 85% of the free device memory now; none on the CPU.</summary>
    internal static GptqBatchSettings Budget(Device device) => device.type == DeviceType.CUDA
        ? new GptqBatchSettings { WorkspaceBytes = GptqBatchWorkspace.BudgetFromFreeMemory(device.index < 0 ? 0 : device.index) }
        : GptqBatchSettings.Default;

    /// <summary>The options of a named configuration.</summary>
    internal static GptqOptions Options(string config) =>
        new() { GroupSize = GroupSize, RelDamp = RelDamp, Order = Configs[config].Order, Scale = Configs[config].Scale };

    /// <summary>An expert's sizes: gate/up are (intermediate, hidden), down (hidden, intermediate); Hessians from this many tokens.</summary>
    internal sealed record ExpertShape(int Hidden, int Intermediate, int Tokens);

    private sealed record Timing(double BatchMsPerItem, double SingleMsPerItem, GptqBatchStages.Breakdown? Stages);

    private sealed record MeasureRun(BenchRecorder Recorder, Device Device, string Config, int Tokens, GptqOptions Options, GptqBatchSettings Settings, bool Stages);

    private static Timing Measure(MeasureRun run, string what, List<GptqBatchItem> items)
    {
        var (recorder, cuda, config, tokens, options, settings) = (run.Recorder, run.Device, run.Config, run.Tokens, run.Options, run.Settings);
        IReadOnlyList<IReadOnlyList<QuantResult>>? batched = null;
        var batchMs = DeviceTimer.MedianMilliseconds(cuda, () =>
        {
            Dispose(batched);
            batched = Gptq.QuantizeBatch(items, options, settings);
        }, warmup: 1, repetitions: 2);

        IReadOnlyList<IReadOnlyList<QuantResult>>? single = null;
        var singleMs = DeviceTimer.MedianMilliseconds(cuda, () =>
        {
            Dispose(single);
            single = [.. items.Select(i => Gptq.QuantizeTied(i.Weights, i.Hessian, options))];
        }, warmup: 0, repetitions: 1);

        var pairs = batched!.SelectMany(r => r).Zip(single!.SelectMany(r => r)).ToList();
        long differing = 0, total = 0;
        var maxCodeDifference = 0;
        foreach (var (b, s) in pairs)
        {
            // The comparison's temporaries (three int32 copies per matrix) are freed here, not by finalizers long after.
            using var compare = NewDisposeScope();
            var difference = (b.Codes.to_type(ScalarType.Int32) - s.Codes.to_type(ScalarType.Int32)).abs_();
            differing += difference.gt(0).sum().item<long>();
            total += difference.numel();
            maxCodeDifference = Math.Max(maxCodeDifference, difference.max().item<int>());
        }

        var matrices = pairs.Count;
        var weight = items[0].Weights[0].Weight;
        recorder.Record(
            "gptq-batch",
            new
            {
                matrices = what,
                rows = weight.shape[0],
                columns = weight.shape[1],
                batch = items.Count,
                matricesPerItem = items[0].Weights.Count,
                config,
                tokens,
                bits = options.Bits,
                groupSize = GroupSize,
                relDamp = RelDamp,
                baseline = "single path (Gptq.QuantizeTied per item), same inputs, same run",
            },
            new
            {
                batchMsPerItem = batchMs / items.Count,
                batchMsPerMatrix = batchMs / matrices,
                singleMsPerItem = singleMs / items.Count,
                singleMsPerMatrix = singleMs / matrices,
                speedup = singleMs / batchMs,
                batchMeanProxyLoss = pairs.Average(p => p.First.GptqLoss ?? double.NaN),
                singleMeanProxyLoss = pairs.Average(p => p.Second.GptqLoss ?? double.NaN),
                maxProxyLossRelativeDifference = pairs.Max(p => Math.Abs((p.First.GptqLoss ?? double.NaN) / (p.Second.GptqLoss ?? double.NaN) - 1)),
                meanRoundToNearestLoss = pairs.Average(p => p.Second.RtnLoss ?? double.NaN),
                maxRoundToNearestLossRelativeDifference = pairs.Max(p => Math.Abs((p.First.RtnLoss ?? double.NaN) / (p.Second.RtnLoss ?? double.NaN) - 1)),
                codesDifferingFraction = (double)differing / total,
                maxCodeDifference,
                sameMethods = pairs.All(p => p.First.Method == p.Second.Method),
                sameIssues = pairs.All(p => p.First.Issues == p.Second.Issues),
                gptqMatrices = pairs.Count(p => p.First.Method == QuantMethod.Gptq),
            });
        Dispose(batched);
        Dispose(single);
        var stages = run.Stages ? GptqBatchStages.Measure(recorder, cuda, items, options, settings, batchMs, new { matrices = what, rows = weight.shape[0], columns = weight.shape[1], batch = items.Count, matricesPerItem = items[0].Weights.Count, config, tokens, bits = options.Bits, groupSize = GroupSize, relDamp = RelDamp }) : null;
        return new Timing(batchMs / items.Count, singleMs / items.Count, stages);
    }

    // The fused MSE scale search beside its tensor reference on one weight: time and agreement.
    private static void MseSearch(BenchRecorder recorder, Device cuda, Tensor weight)
    {
        using var scope = NewDisposeScope();
        var spec = new GptqOptions { GroupSize = GroupSize, Scale = ScaleSearch.Mse }.ToQuantizerSpec();
        var values = weight.to_type(ScalarType.Float32).view(weight.shape[0], -1, GroupSize);
        var (fused, reference) = ((Scale: empty(0), Zero: empty(0)), (Scale: empty(0), Zero: empty(0)));
        var fusedMs = DeviceTimer.MedianMilliseconds(cuda, () => fused = GroupQuantizer.Fit(values, spec), warmup: 1, repetitions: 3);
        var referenceMs = DeviceTimer.MedianMilliseconds(cuda, () => reference = GroupQuantizer.FitReference(values, spec), warmup: 0, repetitions: 1);
        recorder.Record(
            "mse-scale-search",
            new { rows = weight.shape[0], columns = weight.shape[1], groupSize = GroupSize, candidates = 100, baseline = "GroupQuantizer.FitReference (tensor operations), same weight, same run" },
            new
            {
                fusedMs,
                referenceMs,
                speedup = referenceMs / fusedMs,
                scalesDifferingFraction = fused.Scale.ne(reference.Scale).to_type(ScalarType.Float64).mean().item<double>(),
                zerosDiffering = fused.Zero.ne(reference.Zero).sum().item<long>(),
            });
    }

    private static void Dispose(IReadOnlyList<IReadOnlyList<QuantResult>>? results)
    {
        foreach (var result in results?.SelectMany(r => r) ?? [])
        {
            result.Dispose();
        }
    }

    /// <summary>One routed expert: gate and up (2048×7168) reading one input (Hessian 7168²), down (7168×2048) with its own.</summary>
    internal sealed class Expert : IDisposable
    {
        private Expert(GptqWeight gate, GptqWeight up, GptqWeight down, Hessian gateUp, Hessian downHessian)
        {
            (Gate, Up, Down, GateUpHessian, DownHessian) = (gate, up, down, gateUp, downHessian);
        }

        public GptqWeight Gate { get; }

        public GptqWeight Up { get; }

        public GptqWeight Down { get; }

        public Hessian GateUpHessian { get; }

        public Hessian DownHessian { get; }

        public static Expert Create(Device cuda, int e, ExpertShape shape)
        {
            var (gate, gateUp) = GptqBenchmarkInputs.Create(shape.Intermediate, shape.Hidden, shape.Tokens, cuda, seed: (ulong)(3 * e));
            var (down, downHessian) = GptqBenchmarkInputs.Create(shape.Hidden, shape.Intermediate, shape.Tokens, cuda, seed: (ulong)((3 * e) + 1));
            // TorchSharp's Generator is CPU-only: on CUDA the device's default generator is seeded instead.
            using var generator = cuda.type == DeviceType.CUDA ? null : new Generator((ulong)((3 * e) + 2), cuda);
            if (generator is null)
            {
                torch.cuda.manual_seed((3 * e) + 2);
            }

            using var raw = randn([shape.Intermediate, shape.Hidden], device: cuda, generator: generator).mul_(0.02);
            var up = raw.to_type(ScalarType.BFloat16);
            return new Expert(
                new GptqWeight($"experts.{e}.gate_proj", gate),
                new GptqWeight($"experts.{e}.up_proj", up),
                new GptqWeight($"experts.{e}.down_proj", down),
                gateUp,
                downHessian);
        }

        public void Dispose()
        {
            Gate.Weight.Dispose();
            Up.Weight.Dispose();
            Down.Weight.Dispose();
            GateUpHessian.Dispose();
            DownHessian.Dispose();
        }
    }
}

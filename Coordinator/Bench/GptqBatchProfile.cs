using MoeQuant.Kernels.Cuda;
using MoeQuant.Kernels.Gptq;
using TorchSharp;
using static TorchSharp.torch;

namespace MoeQuant.Coordinator.Bench;

/// <summary>
/// <c>bench gptq --batch N --profile all|sampled</c>: one batched expert (the tied gate+up call, then the down call) inside
/// a profiler range, for <c>ncu --profile-from-start off</c>. Before the range, both calls run once unprofiled (NVRTC
/// compiles, cuBLAS/cuSOLVER handles, allocator cache) and once timed. <c>all</c> profiles every launch of the two calls;
/// <c>sampled</c> only the launches of some stage entries (<see cref="Sampler"/>), so a profiler that replays each kernel
/// many times stays short while every kind of stage, early and late in the call, is seen.
/// </summary>
internal static class GptqBatchProfile
{
    /// <summary>Runs the profiled expert on <paramref name="device"/> and records a <c>gptq-batch-profile-range</c> line.</summary>
    /// <param name="recorder">Where the line goes.</param>
    /// <param name="device">The device (on the CPU the profiler calls are skipped, for tests).</param>
    /// <param name="batch">Experts per call.</param>
    /// <param name="shape">Expert shape.</param>
    /// <param name="config">A key of <see cref="GptqBatchBenchmark.Configs"/>.</param>
    /// <param name="sampled">Profile sampled stage entries only.</param>
    public static void Run(BenchRecorder recorder, Device device, int batch, GptqBatchBenchmark.ExpertShape shape, string config, bool sampled)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(batch, 1);
        backends.cuda.matmul.allow_tf32 = false;
        var options = GptqBatchBenchmark.Options(config);
        var experts = Enumerable.Range(0, batch).Select(e => GptqBatchBenchmark.Expert.Create(device, e, shape)).ToList();
        try
        {
            var settings = GptqBatchBenchmark.Budget(device);
            List<GptqBatchItem>[] calls =
            [
                [.. experts.Select(x => new GptqBatchItem(x.GateUpHessian, [x.Gate, x.Up]))],
                [.. experts.Select(x => new GptqBatchItem(x.DownHessian, [x.Down]))],
            ];
            void Expert(Action<GptqStage>? stage)
            {
                foreach (var items in calls)
                {
                    foreach (var result in Gptq.QuantizeBatch(items, options, settings with { Stages = stage }).SelectMany(r => r))
                    {
                        result.Dispose();
                    }
                }
            }

            var wallMs = DeviceTimer.MedianMilliseconds(device, () => Expert(null), warmup: 1, repetitions: 1);
            var cuda = device.type == DeviceType.CUDA;
            var ordinal = device.index < 0 ? 0 : device.index;
            var sampler = new Sampler(sampled ? SampleEntry : _ => true, on => Toggle(cuda, ordinal, on));
            if (!sampled)
            {
                sampler.Open();
            }

            Expert(sampler.Enter);
            DeviceTimer.Synchronize(device);
            sampler.Close();
            recorder.Record(
                "gptq-batch-profile-range",
                new
                {
                    batch,
                    config,
                    hidden = shape.Hidden,
                    intermediate = shape.Intermediate,
                    tokens = shape.Tokens,
                    calls = "gate_proj+up_proj tied (one Hessian), then down_proj",
                    mode = sampled ? "sampled: stage entries 0, 1 and every 8th of each stage" : "all launches of both calls",
                    // Nsight tools inject themselves through this variable.
                    underProfiler = Environment.GetEnvironmentVariable("CUDA_INJECTION64_PATH") is { Length: > 0 },
                },
                new
                {
                    wallMsPerExpert = wallMs / batch,
                    wallMs,
                    stageEntries = sampler.Entries.ToDictionary(e => e.Key.ToString(), e => e.Value),
                    profiledEntries = sampler.Profiled.ToDictionary(e => e.Key.ToString(), e => e.Value),
                });
        }
        finally
        {
            experts.ForEach(x => x.Dispose());
        }
    }

    /// <summary>Whether the <paramref name="occurrence"/>-th entry (from 0) of a stage is profiled: the first two, then every 8th.</summary>
    internal static bool SampleEntry(int occurrence) => occurrence < 2 || occurrence % 8 == 0;

    private static void Toggle(bool cuda, int device, bool on)
    {
        if (!cuda)
        {
            return;
        }

        if (on)
        {
            CudaProfiler.Start(device);
        }
        else
        {
            CudaProfiler.Stop(device);
        }
    }

    /// <summary>
    /// Opens and closes the profiled range at stage entries (<see cref="GptqBatchSettings.Stages"/>): a stage's
    /// launches are profiled when its entry count passes <c>sample</c>. Kernels are profiled when launched, so the
    /// range needs no device synchronization.
    /// </summary>
    internal sealed class Sampler(Func<int, bool> sample, Action<bool> toggle)
    {
        private bool _open;

        /// <summary>Entries per stage.</summary>
        public Dictionary<GptqStage, int> Entries { get; } = [];

        /// <summary>Profiled entries per stage.</summary>
        public Dictionary<GptqStage, int> Profiled { get; } = [];

        /// <summary>Opens the range for everything until <see cref="Close"/>.</summary>
        public void Open() => Set(true);

        /// <summary>Closes the range.</summary>
        public void Close() => Set(false);

        /// <summary>A stage begins: profile its launches or not.</summary>
        public void Enter(GptqStage stage)
        {
            var occurrence = Entries.GetValueOrDefault(stage);
            Entries[stage] = occurrence + 1;
            var profile = sample(occurrence);
            if (profile)
            {
                Profiled[stage] = Profiled.GetValueOrDefault(stage) + 1;
            }

            Set(profile);
        }

        private void Set(bool open)
        {
            if (open != _open)
            {
                toggle(open);
                _open = open;
            }
        }
    }
}

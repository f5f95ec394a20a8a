using System.CommandLine;
using System.Diagnostics;
using System.Globalization;
using MoeQuant.Model;
using MoeQuant.Model.Synthetic;

namespace MoeQuant.Coordinator.Cli;

/// <summary><c>moequant synth-model</c>: a checkpoint of random weights with DeepSeek-V3's dimensions (3 dense + 2 MoE
/// layers by default) and a calibration set of random token ids, for runs at the real model's scale without the real
/// model. Every size can be shrunk (config.json's key names as flags).</summary>
public static class SynthModelCommand
{
    // Progress lines at most this often while writing.
    private static readonly TimeSpan ProgressInterval = TimeSpan.FromSeconds(5);

    public static Command Create()
    {
        var output = new Option<string>("--output", "-o") { Description = "Folder to write (default ./synthetic-deepseek-v3)", DefaultValueFactory = _ => "synthetic-deepseek-v3" };
        var seed = new Option<long>("--seed") { Description = "Selects every value; same seed, same bytes (default 0)" };
        var shardSize = new Option<string>("--max-shard-size") { Description = "Data per shard: bytes, or with KB/MB/GB/KiB/MiB/GiB (default 5GB, as transformers)", DefaultValueFactory = _ => "5GB" };
        var threads = new Option<int>("--threads") { Description = "Threads generating and writing (default: every core)", DefaultValueFactory = _ => Environment.ProcessorCount };
        var samples = new Option<int>("--calibration-samples") { Description = "Lines of calibration.jsonl, random token ids; 0 for none (default 64)", DefaultValueFactory = _ => 64 };
        var length = new Option<int>("--sequence-length") { Description = "Token ids per calibration line (default 4096)", DefaultValueFactory = _ => 4096 };
        var overwrite = new Option<bool>("--overwrite") { Description = "Replace a checkpoint already in --output" };
        var command = new Command("synth-model", "Write a DeepSeek-V3-shaped FP8 checkpoint of random weights (and random calibration token ids)")
        {
            output, seed, shardSize, threads, samples, length, overwrite,
        };

        var defaults = new SyntheticModelShape();
        var sizes = new List<(Option<int?> Option, Func<SyntheticModelShape, int, SyntheticModelShape> Set)>();
        void Size(string name, int value, Func<SyntheticModelShape, int, SyntheticModelShape> set)
        {
            var option = new Option<int?>("--" + name) { Description = $"config.json {name.Replace('-', '_')} (default {value})" };
            command.Options.Add(option);
            sizes.Add((option, set));
        }

        Size("num-hidden-layers", defaults.NumHiddenLayers, (s, v) => s with { NumHiddenLayers = v });
        Size("first-k-dense-replace", defaults.FirstKDenseReplace, (s, v) => s with { FirstKDenseReplace = v });
        Size("num-nextn-predict-layers", defaults.NumNextnPredictLayers, (s, v) => s with { NumNextnPredictLayers = v });
        Size("vocab-size", defaults.VocabSize, (s, v) => s with { VocabSize = v });
        Size("hidden-size", defaults.HiddenSize, (s, v) => s with { HiddenSize = v });
        Size("intermediate-size", defaults.IntermediateSize, (s, v) => s with { IntermediateSize = v });
        Size("moe-intermediate-size", defaults.MoeIntermediateSize, (s, v) => s with { MoeIntermediateSize = v });
        Size("num-attention-heads", defaults.NumAttentionHeads, (s, v) => s with { NumAttentionHeads = v });
        Size("q-lora-rank", defaults.QLoraRank, (s, v) => s with { QLoraRank = v });
        Size("kv-lora-rank", defaults.KvLoraRank, (s, v) => s with { KvLoraRank = v });
        Size("qk-nope-head-dim", defaults.QkNopeHeadDim, (s, v) => s with { QkNopeHeadDim = v });
        Size("qk-rope-head-dim", defaults.QkRopeHeadDim, (s, v) => s with { QkRopeHeadDim = v });
        Size("v-head-dim", defaults.VHeadDim, (s, v) => s with { VHeadDim = v });
        Size("n-routed-experts", defaults.NRoutedExperts, (s, v) => s with { NRoutedExperts = v });
        Size("n-shared-experts", defaults.NSharedExperts, (s, v) => s with { NSharedExperts = v });
        Size("num-experts-per-tok", defaults.NumExpertsPerTok, (s, v) => s with { NumExpertsPerTok = v });
        Size("n-group", defaults.NGroup, (s, v) => s with { NGroup = v });
        Size("topk-group", defaults.TopkGroup, (s, v) => s with { TopkGroup = v });

        command.SetAction((parseResult, cancellation) =>
        {
            var shape = sizes.Aggregate(defaults, (s, size) => parseResult.GetValue(size.Option) is { } value ? size.Set(s, value) : s);
            var options = new SyntheticCheckpointOptions
            {
                Seed = parseResult.GetValue(seed),
                MaxShardBytes = ParseSize(parseResult.GetValue(shardSize)!),
                Threads = parseResult.GetValue(threads),
                CalibrationSamples = parseResult.GetValue(samples),
                SequenceLength = parseResult.GetValue(length),
                Overwrite = parseResult.GetValue(overwrite),
            };
            return Task.FromResult(Run(parseResult.GetValue(output)!, shape, options, parseResult.InvocationConfiguration.Output, cancellation));
        });
        return command;
    }

    private static int Run(string folder, SyntheticModelShape shape, SyntheticCheckpointOptions options, TextWriter output, CancellationToken cancellation)
    {
        var config = shape.ToConfig();
        output.WriteLine($"writing a synthetic DeepSeek-V3 checkpoint into {Path.GetFullPath(folder)}: {config.NumHiddenLayers} layers "
            + $"({config.FirstKDenseReplace} dense), hidden {config.HiddenSize}, {config.NRoutedExperts} experts, seed {options.Seed}, {options.Threads} threads");
        var clock = Stopwatch.StartNew();
        var last = TimeSpan.Zero;
        var gate = new Lock();
        void Progress(long bytes)
        {
            lock (gate)
            {
                if (clock.Elapsed - last < ProgressInterval)
                {
                    return;
                }

                last = clock.Elapsed;
                output.WriteLine(string.Create(CultureInfo.InvariantCulture, $"  {bytes / 1e9:F1} GB written, {bytes / 1e6 / clock.Elapsed.TotalSeconds:F0} MB/s"));
            }
        }

        var result = SyntheticCheckpoint.Write(folder, shape.ToConfigJson(), options, Progress, cancellation);
        var shards = result.Files.Count(f => f.EndsWith(".safetensors", StringComparison.Ordinal));
        output.WriteLine(string.Create(CultureInfo.InvariantCulture,
            $"wrote {result.Tensors} tensors, {result.TensorBytes / 1e9:F2} GB in {shards} shard(s) in {result.Elapsed.TotalSeconds:F1} s ({result.BytesPerSecond / 1e6:F0} MB/s)"));
        if (options.CalibrationSamples > 0)
        {
            output.WriteLine($"calibration: {Path.Combine(result.Folder, SyntheticCheckpoint.CalibrationFileName)} ({options.CalibrationSamples} × {options.SequenceLength} token ids)");
        }

        return 0;
    }

    /// <summary>Bytes from "5GB", "500MB", "4GiB" or a plain number (decimal units as transformers' max_shard_size).</summary>
    internal static long ParseSize(string text)
    {
        var units = new (string Suffix, long Factor)[] { ("KiB", 1L << 10), ("MiB", 1L << 20), ("GiB", 1L << 30), ("KB", 1000), ("MB", 1_000_000), ("GB", 1_000_000_000), ("B", 1) };
        var trimmed = text.Trim();
        var (suffix, factor) = units.FirstOrDefault(u => trimmed.EndsWith(u.Suffix, StringComparison.OrdinalIgnoreCase), ("", 1));
        return double.TryParse(trimmed[..^suffix.Length], NumberStyles.Float, CultureInfo.InvariantCulture, out var value) && value * factor is >= 1 and < long.MaxValue
            ? (long)(value * factor)
            : throw new UserInputException($"--max-shard-size '{text}' is not a size such as 5GB, 500MB or 1000000");
    }
}

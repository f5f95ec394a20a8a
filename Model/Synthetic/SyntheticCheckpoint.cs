using System.Diagnostics;
using System.Text;
using MoeQuant.Model.Checkpoint;
using MoeQuant.Model.Config;
using MoeQuant.Model.Export;

namespace MoeQuant.Model.Synthetic;

/// <summary>How <see cref="SyntheticCheckpoint.Write"/> writes a checkpoint.</summary>
public sealed record SyntheticCheckpointOptions
{
    /// <summary>transformers' default shard size ("5GB").</summary>
    public const long DefaultMaxShardBytes = 5_000_000_000;

    /// <summary>Selects every value; the same seed gives the same bytes on any machine and thread count.</summary>
    public long Seed { get; init; }

    /// <summary>Data bytes per shard at most; one shard is written as model.safetensors without an index.</summary>
    public long MaxShardBytes { get; init; } = DefaultMaxShardBytes;

    /// <summary>Threads making and writing the tensors; every core by default.</summary>
    public int Threads { get; init; } = Environment.ProcessorCount;

    /// <summary>Also write DeepSeek-V3's generation_config.json.</summary>
    public bool GenerationConfig { get; init; } = true;

    /// <summary>Lines of <c>calibration.jsonl</c> (random token ids); none when 0.</summary>
    public int CalibrationSamples { get; init; }

    /// <summary>Token ids per calibration line.</summary>
    public int SequenceLength { get; init; } = 4096;

    /// <summary>Replace the checkpoint files of a folder that already holds a checkpoint.</summary>
    public bool Overwrite { get; init; }
}

/// <summary>What <see cref="SyntheticCheckpoint.Write"/> wrote.</summary>
/// <param name="Folder">Full path of the checkpoint folder.</param>
/// <param name="Files">Full paths written, config.json last.</param>
/// <param name="Tensors">Tensors written.</param>
/// <param name="TensorBytes">Data bytes of all shards (the index's total_size).</param>
/// <param name="Elapsed">Wall time of the whole write, fsyncs included.</param>
public sealed record SyntheticCheckpointResult(string Folder, IReadOnlyList<string> Files, int Tensors, long TensorBytes, TimeSpan Elapsed)
{
    /// <summary>Data bytes per second over the whole write.</summary>
    public double BytesPerSecond => TensorBytes / Math.Max(Elapsed.TotalSeconds, 1e-9);
}

/// <summary>
/// Writes a DeepSeek-V3-architecture checkpoint of random weights (<see cref="SyntheticTensors"/>) in the layout of
/// the published FP8 checkpoint: hub tensor names (one tensor per expert), F8_E4M3 linears with F32
/// <c>weight_scale_inv</c> per 128×128 block, BF16 norms, router and embeddings, safetensors shards with their index,
/// config.json and generation_config.json, optionally a calibration set of random token ids. Streams with every
/// core (<see cref="SafetensorsWriter.WriteShardedParallel(string, IReadOnlyList{GeneratedTensor}, long, int, Action{long}?, IReadOnlyDictionary{string, string}?, CancellationToken)"/>); config.json is renamed into place last, so a folder
/// with a config.json is complete.
/// </summary>
public static class SyntheticCheckpoint
{
    /// <summary>Name of the calibration set written beside the checkpoint.</summary>
    public const string CalibrationFileName = "calibration.jsonl";

    private const string GenerationConfigJson = """
        {
          "_from_model_config": true,
          "bos_token_id": 0,
          "eos_token_id": 1,
          "do_sample": true,
          "temperature": 0.6,
          "top_p": 0.95,
          "transformers_version": "4.46.3"
        }

        """;

    /// <summary>Writes the checkpoint of <paramref name="configJson"/> into <paramref name="folder"/>.</summary>
    /// <param name="folder">Created if missing; must not hold a checkpoint unless <see cref="SyntheticCheckpointOptions.Overwrite"/>.</param>
    /// <param name="configJson">A DeepSeek-V3 config.json (e.g. <see cref="SyntheticModelShape.ToConfigJson"/>), written as is.</param>
    /// <param name="options">Seed, shard size, threads, side files.</param>
    /// <param name="progress">Called from writing threads with the data bytes written so far.</param>
    /// <param name="cancellation">Stops the write; the folder is left without a new config.json.</param>
    /// <exception cref="UserInputException">The config is invalid, the folder holds a checkpoint, or the disk is too small.</exception>
    public static SyntheticCheckpointResult Write(string folder, string configJson, SyntheticCheckpointOptions options,
        Action<long>? progress = null, CancellationToken cancellation = default)
    {
        ArgumentNullException.ThrowIfNull(options);
        var stopwatch = Stopwatch.StartNew();
        var full = Path.GetFullPath(folder);
        var config = DeepseekV3Config.Parse(configJson, Path.Combine(full, "config.json"));
        Check(full, config, options);
        var tensors = SyntheticTensors.For(config, options.Seed);
        var bytes = tensors.Sum(t => t.ByteLength);
        CheckDisk(full, bytes);

        Directory.CreateDirectory(full);
        // Another config.json would make the folder look complete while the new shards are being written. The same
        // one stays, so that two processes making the same checkpoint at once never see it without a config.
        var configPath = Path.Combine(full, "config.json");
        if (File.Exists(configPath) && File.ReadAllText(configPath) != configJson)
        {
            File.Delete(configPath);
        }
        var files = new List<string>(SafetensorsWriter.WriteShardedParallel(full, tensors, options.MaxShardBytes, options.Threads, progress, cancellation: cancellation));
        if (options.GenerationConfig)
        {
            files.Add(ExportFiles.Write(Path.Combine(full, "generation_config.json"), s => s.Write(Encoding.UTF8.GetBytes(GenerationConfigJson))));
        }

        if (options.CalibrationSamples > 0)
        {
            files.Add(WriteCalibration(Path.Combine(full, CalibrationFileName), config.VocabSize, options));
        }

        // Shards of an earlier checkpoint with another shard count must not mix with these.
        files.Add(configPath);
        ExportFiles.RemoveStale(full, files);
        ExportFiles.Write(files[^1], s => s.Write(Encoding.UTF8.GetBytes(configJson)));
        return new SyntheticCheckpointResult(full, files, tensors.Count, bytes, stopwatch.Elapsed);
    }

    /// <summary>
    /// <see cref="SyntheticCheckpointOptions.CalibrationSamples"/> lines of <see cref="SyntheticCheckpointOptions.SequenceLength"/>
    /// token ids drawn uniformly from the vocabulary under the seed, each a JSON array: the pre-tokenized dataset format of
    /// <c>moequant quantize --dataset-name-or-path</c>.
    /// </summary>
    /// <returns>The full path written.</returns>
    public static string WriteCalibration(string path, int vocabSize, SyntheticCheckpointOptions options)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(options.SequenceLength, 2);
        var stream = CounterRandom.Stream(options.Seed, CalibrationFileName);
        return ExportFiles.Write(path, file =>
        {
            using var writer = new StreamWriter(file, new UTF8Encoding(false), 1 << 16, leaveOpen: true);
            var line = new StringBuilder();
            for (var sample = 0; sample < options.CalibrationSamples; sample++)
            {
                line.Clear().Append('[');
                for (var position = 0; position < options.SequenceLength; position++)
                {
                    var bits = CounterRandom.At(stream, ((ulong)sample * (ulong)options.SequenceLength) + (ulong)position);
                    line.Append(position == 0 ? "" : ", ").Append((int)(CounterRandom.Uniform(bits) * vocabSize));
                }

                writer.Write(line.Append("]\n"));
            }
        });
    }

    private static void Check(string folder, DeepseekV3Config config, SyntheticCheckpointOptions options)
    {
        if (config.Fp8Quantization is { } fp8 && !fp8.WeightBlockSize.SequenceEqual([128, 128]))
        {
            throw new UserInputException($"{folder}: synthetic checkpoints use DeepSeek-V3's 128×128 FP8 blocks, not [{string.Join(", ", fp8.WeightBlockSize)}]");
        }

        if (options.MaxShardBytes <= 0 || options.Threads <= 0 || options.CalibrationSamples < 0 || (options.CalibrationSamples > 0 && options.SequenceLength < 2))
        {
            throw new UserInputException("the shard size and thread count must be positive, calibration samples not negative, and sequences at least 2 tokens long");
        }

        if (!options.Overwrite && (File.Exists(Path.Combine(folder, "config.json")) || ExportFiles.CheckpointFiles(folder).Count > 0))
        {
            throw new UserInputException($"{folder} already holds a checkpoint; choose another folder or pass --overwrite");
        }
    }

    private static void CheckDisk(string folder, long bytes)
    {
        var root = folder;
        while (!Directory.Exists(root) && Path.GetDirectoryName(root) is { } parent)
        {
            root = parent;
        }

        // Shards that an overwrite replaces are only freed at the end, when the new ones are renamed over them.
        var free = new DriveInfo(root).AvailableFreeSpace;
        if (free < bytes)
        {
            throw new UserInputException($"{folder}: the checkpoint needs {bytes / 1e9:F1} GB, but only {free / 1e9:F1} GB are free there");
        }
    }
}

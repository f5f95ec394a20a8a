using System.Globalization;
using System.Text.Json;
using MoeQuant.Coordinator.Journal;
using MoeQuant.GpuNode.Durability;
using MoeQuant.Model;
using MoeQuant.Model.Export;

namespace MoeQuant.Coordinator.Hosting;

/// <summary>
/// Decides what a run does with its save_dir: start fresh, resume at the first unfinished layer, or refuse. A save_dir
/// holds run.json, the flags that shape the output plus the model's hash; a run with other flags or another model is
/// refused with the differing flag named, and an unrelated non-empty folder is refused unless --overwrite.
/// </summary>
public static class RunDirectory
{
    /// <summary>run.json's record of the model folder, for <c>moequant pack</c>; empty for the built-in tiny model.</summary>
    public const string ModelPathKey = "model-path";

    private static readonly JsonSerializerOptions Json = new() { WriteIndented = true };

    /// <summary>The default save_dir: <c>./quantized/&lt;model&gt;-w&lt;bits&gt;g&lt;group&gt;</c>, or without the
    /// <c>g</c> part for per-channel scales.</summary>
    public static string DefaultSaveDir(ModelIdentity model, GptqSettings gptq) =>
        Path.Combine("quantized", $"{model.Name}-w{gptq.Bits}{(gptq.GroupSize is { } g ? $"g{g}" : "")}");

    /// <summary>Flags that change the output, by their kebab-case name, plus the model hash under "model" and, not part
    /// of the run's identity, the model's folder under <see cref="ModelPathKey"/>.</summary>
    public static SortedDictionary<string, string> Fingerprint(QuantizeSettings s, ModelIdentity model) => new(StringComparer.Ordinal)
    {
        ["model"] = model.Hash,
        [ModelPathKey] = model.Folder ?? "",
        ["dataset-name-or-path"] = s.Calibration.Dataset ?? "",
        ["num-calibration-samples"] = Invariant(s.Calibration.NumCalibrationSamples),
        ["max-sequence-length"] = Invariant(s.Calibration.MaxSequenceLength),
        ["seed"] = Invariant(s.Calibration.Seed),
        ["bits"] = Invariant(s.Gptq.Bits),
        ["group-size"] = s.Gptq.GroupSize is { } g ? Invariant(g) : "",
        ["rel-damp"] = Invariant(s.Gptq.RelDamp),
        ["sym"] = Invariant(s.Gptq.Sym),
        ["block-size"] = Invariant(s.Gptq.BlockSize),
        ["quantization-order"] = s.Gptq.QuantizationOrder,
        ["quantization-scale"] = s.Gptq.QuantizationScale,
        ["method"] = s.Gptq.Method,
        ["quantize-only-experts"] = Invariant(s.Gptq.QuantizeOnlyExperts),
        ["tie-gptq-handles"] = Invariant(s.Gptq.TieGptqHandles),
        ["dtype"] = s.Model.Dtype,
        ["export-format"] = s.Run.ExportFormat,
        ["calibration-shards"] = Invariant(s.Run.CalibrationShards),
    };

    /// <summary>Prepares the folder and returns the layer to start at (0 for a fresh run).</summary>
    public static int Prepare(RunLayout layout, IReadOnlyDictionary<string, string> fingerprint, RunOptions run)
    {
        var dir = layout.SaveDir;
        var existing = File.Exists(layout.RunFile) ? ReadFingerprint(layout) : null;
        var nonEmpty = Directory.Exists(dir) && Directory.EnumerateFileSystemEntries(dir).Any();
        if (run.Resume && existing is null)
        {
            throw new UserInputException($"--resume: {dir} holds no MoeQuant run to resume (no run.json)");
        }

        if (existing is not null && !run.Overwrite)
        {
            if (Difference(existing, fingerprint) is { } difference)
            {
                throw new UserInputException($"{dir} holds a run with {difference}; pass the same flags to resume it, or --overwrite to start over");
            }

            var done = RunJournal.LayersDone(layout);
            DiscardUnfinished(layout, done);
            return done;
        }

        if (nonEmpty && existing is null && !run.Overwrite)
        {
            throw new UserInputException($"{dir} is not empty and holds no MoeQuant run; choose another --save-dir or pass --overwrite");
        }

        try
        {
            Directory.CreateDirectory(dir);
            Discard(layout);
            AtomicFile.WriteAllBytes(layout.RunFile, JsonSerializer.SerializeToUtf8Bytes(fingerprint, Json));
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            throw new UserInputException($"--save-dir {dir} is not writable: {e.Message}", e);
        }

        return 0;
    }

    /// <summary>The flags and model hash stored in a save_dir's run.json.</summary>
    /// <exception cref="UserInputException">run.json is unreadable.</exception>
    public static SortedDictionary<string, string> ReadFingerprint(RunLayout layout)
    {
        try
        {
            return JsonSerializer.Deserialize<SortedDictionary<string, string>>(File.ReadAllBytes(layout.RunFile))
                ?? throw new JsonException("null");
        }
        catch (JsonException e)
        {
            throw new UserInputException($"{layout.RunFile} is damaged ({e.Message}); pass --overwrite to start over", e);
        }
    }

    private static string? Difference(IReadOnlyDictionary<string, string> stored, IReadOnlyDictionary<string, string> current)
    {
        // Where the model lies is not what it is: the hash says that, and a moved checkpoint may resume.
        foreach (var (key, value) in current.Where(c => c.Key != ModelPathKey))
        {
            var before = stored.GetValueOrDefault(key, "(unset)");
            if (before != value)
            {
                return key == "model"
                    ? "a different model (model hash differs)"
                    : $"different --{key}: {Show(before)} there, {Show(value)} now";
            }
        }

        return null;
    }

    private static string Show(string value) => value.Length == 0 ? "(default)" : value;

    // Only what a MoeQuant run writes is removed; anything else in the folder stays.
    /// <summary>
    /// Removes what an interrupted run left of the work it had not committed: temporary files of writes cut short, and
    /// the state of layers from <paramref name="done"/> on, which the resumed run redoes in full. Without this a layer
    /// redone differently (a unit that now falls back to its original weights) could leave a stale file behind.
    /// </summary>
    private static void DiscardUnfinished(RunLayout layout, int done)
    {
        foreach (var temporary in Directory.EnumerateFiles(layout.SaveDir, "*.tmp", SearchOption.AllDirectories))
        {
            File.Delete(temporary);
        }

        Remove(layout.LayersDir, n => n >= done);

        // Only the resumed layer's own input is read again; a crash between a commit and the deletion of the committed
        // layer's input leaves that input behind.
        Remove(layout.ActivationsDir, n => n != done);
    }

    private static void Remove(string folder, Func<int, bool> layer)
    {
        if (!Directory.Exists(folder))
        {
            return;
        }

        foreach (var stale in Directory.EnumerateDirectories(folder).Where(d => int.TryParse(Path.GetFileName(d), NumberStyles.None, CultureInfo.InvariantCulture, out var n) && layer(n)))
        {
            Directory.Delete(stale, recursive: true);
        }
    }

    // An earlier run's export mark goes too: until this run exports, the folder's checkpoint is not its own.
    private static void Discard(RunLayout layout)
    {
        foreach (var file in new[] { layout.RunFile, layout.JournalFile, Path.Combine(layout.SaveDir, CheckpointExporter.ProvenanceFileName) })
        {
            File.Delete(file);
        }

        foreach (var folder in new[] { layout.LayersDir, layout.ActivationsDir, layout.ReportDir })
        {
            if (Directory.Exists(folder))
            {
                Directory.Delete(folder, recursive: true);
            }
        }
    }

    private static string Invariant<T>(T value)
        where T : IFormattable => value.ToString(null, CultureInfo.InvariantCulture);

    private static string Invariant(bool value) => value ? "true" : "false";
}

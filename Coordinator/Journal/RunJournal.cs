using System.Text;
using System.Text.Json;
using System.Text.Json.Nodes;
using System.Text.Json.Serialization;
using MoeQuant.Coordinator.Planning;
using MoeQuant.GpuNode.Durability;
using MoeQuant.Messages;

namespace MoeQuant.Coordinator.Journal;

/// <summary>
/// save_dir/journal.jsonl: one JSON line per step (a layer's plan before its work starts, a layer's commit after its
/// files are durable, a wave budget cut after the device ran out of memory, the run's end). Each line is appended and
/// flushed to disk before the step counts as done; a line torn by a crash is ignored when reading. Appends run off the
/// caller's thread (the coordinator pipes the task).
/// </summary>
public sealed class RunJournal(RunLayout layout)
{
    private static readonly JsonSerializerOptions Json = new()
    {
        NumberHandling = JsonNumberHandling.AllowNamedFloatingPointLiterals,
        Converters = { new JsonStringEnumConverter() },
        PropertyNamingPolicy = JsonNamingPolicy.SnakeCaseLower,
        WriteIndented = true,
    };

    private readonly Lock _append = new();

    /// <summary>Records the plan of a layer attempt and the wave budget it was cut with.</summary>
    public Task RecordPlanAsync(LayerPlan plan, long waveBytes) => AppendAsync(new JsonObject
    {
        ["event"] = "plan",
        ["layer"] = plan.Id.Layer,
        ["attempt"] = plan.Id.Attempt,
        ["wave_bytes"] = waveBytes,
        ["waves"] = plan.Waves,
        ["shards"] = new JsonObject(plan.Shards.Select(s => KeyValuePair.Create($"{s.Shard}", (JsonNode?)s.Device.ToString()))),
        ["units"] = new JsonObject(plan.Units.Select(u => KeyValuePair.Create(u.Unit.Module, (JsonNode?)u.Device.ToString()))),
    });

    /// <summary>Records that the wave budget was cut because the device ran out of memory, keyed by the budget the run
    /// was started with (<paramref name="configuredBytes"/>, from --hessian-memory-gb): a resumed run with the same flag
    /// starts from the cut budget (<see cref="WaveBytes"/>), so that it plans every later layer as this run does.</summary>
    public Task RecordWaveBudgetAsync(OutOfMemoryDecision decision, long configuredBytes) => AppendAsync(new JsonObject
    {
        ["event"] = "wave_budget",
        ["layer"] = decision.Failure.Plan.Layer,
        ["attempt"] = decision.Failure.Plan.Attempt,
        ["configured_bytes"] = configuredBytes,
        ["from_bytes"] = decision.FromBytes,
        ["to_bytes"] = decision.ToBytes,
        ["device"] = decision.Failure.Device.ToString(),
        ["phase"] = decision.Failure.Phase.ToString().ToLowerInvariant(),
        ["wave"] = decision.Failure.Wave,
        ["error"] = decision.Failure.Error,
    });

    /// <summary>The wave budget a run of this save_dir starts with: the smallest budget its journal cut
    /// <paramref name="configuredBytes"/> to, or <paramref name="configuredBytes"/> itself. A different
    /// --hessian-memory-gb (a device with more memory, say) starts afresh.</summary>
    public static long WaveBytes(RunLayout layout, long configuredBytes) => !File.Exists(layout.JournalFile)
        ? configuredBytes
        : File.ReadLines(layout.JournalFile).Select(Parse)
            .Where(e => e is not null && (string?)e["event"] == "wave_budget" && (long?)e["configured_bytes"] == configuredBytes)
            .Select(e => (long)e!["to_bytes"]!)
            .Append(configuredBytes)
            .Min();

    /// <summary>Writes the layer's summary file atomically, runs <paramref name="beforeCommit"/>, then records the layer as
    /// done with the file's hash. What <paramref name="beforeCommit"/> writes (the quality report) is therefore there
    /// for every layer the journal counts done, even after a crash right at the commit.
    /// Once the layer is committed its own input is no longer needed (a resume starts from the next layer's input) and is
    /// deleted: DeepSeek-V3's calibration activations are tens of GB per layer.</summary>
    public Task RecordLayerAsync(int layer, IReadOnlyList<UnitReport> units, IReadOnlyDictionary<int, string> shardHashes, Action? beforeCommit = null) => Task.Run(async () =>
    {
        var summary = new LayerSummary(
            layer,
            [.. units.OrderBy(u => u.Unit.Module, StringComparer.Ordinal)],
            shardHashes.OrderBy(s => s.Key).Select(s => new ShardHash(s.Key, s.Value)).ToList());
        var sha = AtomicFile.WriteAllBytes(layout.LayerFile(layer), JsonSerializer.SerializeToUtf8Bytes(summary, Json));
        beforeCommit?.Invoke();
        await AppendAsync(new JsonObject { ["event"] = "layer", ["layer"] = layer, ["sha256"] = sha }).ConfigureAwait(false);
        DeleteFolder(layout.LayerInputDir(layer));
    });

    /// <summary>The unit reports of a layer's summary file, in the file's order (by module name, ordinal).</summary>
    public static IReadOnlyList<UnitReport> ReadLayerUnits(RunLayout layout, int layer) =>
        JsonSerializer.Deserialize<LayerSummary>(File.ReadAllBytes(layout.LayerFile(layer)), Json)?.Units
            ?? throw new JsonException($"{layout.LayerFile(layer)}: empty");

    /// <summary>Records that every layer is done, and deletes the last layer's output, which nothing reads.</summary>
    public async Task RecordRunDoneAsync(int layers)
    {
        await AppendAsync(new JsonObject { ["event"] = "done", ["layers"] = layers }).ConfigureAwait(false);
        DeleteFolder(layout.ActivationsDir);
    }

    /// <summary>How far the journal says the run got: the number of leading layers whose commit line is present and
    /// whose summary file still has the recorded hash. The run resumes at that layer.</summary>
    public static int LayersDone(RunLayout layout)
    {
        if (!File.Exists(layout.JournalFile))
        {
            return 0;
        }

        var committed = new Dictionary<int, string>();
        foreach (var entry in File.ReadLines(layout.JournalFile).Select(Parse))
        {
            if (entry is not null && (string?)entry["event"] == "layer")
            {
                committed[(int)entry["layer"]!] = (string)entry["sha256"]!;
            }
        }

        var done = 0;
        while (committed.TryGetValue(done, out var sha) && File.Exists(layout.LayerFile(done)) && AtomicFile.Sha256Of(layout.LayerFile(done)) == sha)
        {
            done++;
        }

        return done;
    }

    private static JsonNode? Parse(string line)
    {
        try
        {
            return JsonNode.Parse(line);
        }
        catch (JsonException)
        {
            return null;
        }
    }

    private Task AppendAsync(JsonObject entry) => Task.Run(() =>
    {
        var bytes = Encoding.UTF8.GetBytes(entry.ToJsonString() + "\n");
        lock (_append)
        {
            using var file = new FileStream(layout.JournalFile, FileMode.Append, FileAccess.Write, FileShare.Read);
            file.Write(bytes);
            file.Flush(flushToDisk: true);
        }
    });

    private static void DeleteFolder(string folder)
    {
        if (Directory.Exists(folder))
        {
            Directory.Delete(folder, recursive: true);
        }
    }

    private sealed record LayerSummary(int Layer, IReadOnlyList<UnitReport> Units, IReadOnlyList<ShardHash> Shards);

    private sealed record ShardHash(int Shard, string Sha256);
}

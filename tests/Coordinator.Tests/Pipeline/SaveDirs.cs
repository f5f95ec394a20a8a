namespace MoeQuant.Coordinator.Tests.Pipeline;

/// <summary>Temporary save_dirs and the comparison of what runs wrote.</summary>
internal sealed class SaveDirs : IDisposable
{
    private readonly string _root = Directory.CreateTempSubdirectory("moequant-pipeline-").FullName;

    /// <summary>A HOCON file that turns serialize-messages on, for --config.</summary>
    public string SerializeMessagesConf
    {
        get
        {
            var path = Path.Combine(_root, "serialize.conf");
            File.WriteAllText(path, "akka.actor.serialize-messages = on\n");
            return path;
        }
    }

    public string New(string name) => Path.Combine(_root, name);

    /// <summary>Every output file (state, layer summaries, run.json) by relative path with its bytes; the journal, the
    /// logs and the timings, which record when and where things ran, are left out.</summary>
    public static SortedDictionary<string, string> Outputs(string saveDir) => new(
        Directory.EnumerateFiles(saveDir, "*", SearchOption.AllDirectories)
            .Select(f => Path.GetRelativePath(saveDir, f))
            .Where(f => f != "journal.jsonl" && f != "report/timings.json" && !f.StartsWith("logs", StringComparison.Ordinal))
            .ToDictionary(f => f, f => Convert.ToHexString(File.ReadAllBytes(Path.Combine(saveDir, f)))),
        StringComparer.Ordinal);

    /// <summary>Asserts that two runs wrote the same files with the same bytes, naming the files that differ.</summary>
    public static void AssertSameOutputs(SortedDictionary<string, string> expected, SortedDictionary<string, string> actual)
    {
        var differing = expected.Keys.Union(actual.Keys)
            .Where(f => !expected.TryGetValue(f, out var e) || !actual.TryGetValue(f, out var a) || e != a)
            .Order(StringComparer.Ordinal)
            .ToList();
        Assert.True(differing.Count == 0, $"{differing.Count} of {expected.Count} files differ: {string.Join(", ", differing.Take(20))}");
    }

    public void Dispose() => Directory.Delete(_root, recursive: true);
}

using System.Collections.Concurrent;
using MoeQuant.Coordinator.Cli;
using MoeQuant.Coordinator.Hosting;
using MoeQuant.Coordinator.Tests.Cli;
using MoeQuant.Model.TinyModel;

namespace MoeQuant.Coordinator.Tests.Packing;

/// <summary>Real quantization runs of the generated tiny checkpoint (random FP8 weights, 4 layers and an MTP layer, on
/// 12 token-id samples), each made once per test class (`moequant quantize` in process, which also exports into the
/// save_dir), plus scratch folders for tests that change a copy.</summary>
public sealed class QuantizedRuns : IDisposable
{
    /// <summary>4-bit, symmetric, groups of 16, every linear quantized.</summary>
    public const string W4 = "w4";

    /// <summary>8-bit, asymmetric, groups of 16, bf16 scales.</summary>
    public const string W8Asymmetric = "w8-asym";

    /// <summary>3-bit, symmetric, groups of 16.</summary>
    public const string W3 = "w3";

    private static readonly Dictionary<string, string[]> Flags = new()
    {
        [W4] = ["--bits", "4", "--group-size", "16", "--sym"],
        [W8Asymmetric] = ["--bits", "8", "--group-size", "16", "--dtype", "bfloat16"],
        [W3] = ["--bits", "3", "--group-size", "16", "--sym"],
    };

    private readonly string _root = Directory.CreateTempSubdirectory("moequant-pack-").FullName;
    private readonly ConcurrentDictionary<string, Lazy<Task<CliRun>>> _runs = new();

    private static readonly Lazy<string> Samples = new(WriteSamples);

    /// <summary>The flags a run was made with (for a --resume that must repeat them).</summary>
    public static string[] FlagsOf(string run) =>
        ["--model-name-or-path", TinyCheckpoint.EnsureWritten(), "--dataset-name-or-path", Samples.Value, "--num-calibration-samples", "12", .. Flags[run]];

    /// <summary>The save_dir of a finished run, quantizing on first use.</summary>
    internal async Task<(string SaveDir, CliRun Run)> Get(string run)
    {
        var dir = Path.Combine(_root, run);
        var result = await _runs.GetOrAdd(run, _ => new Lazy<Task<CliRun>>(() => Invoke(["quantize", "--save-dir", dir, "--devices", "cpu", .. FlagsOf(run)]))).Value;
        Assert.True(result.ExitCode == 0, result.Output + result.Error);
        return (dir, result);
    }

    /// <summary>A fresh path under the scratch root (not created).</summary>
    public string NewFolder(string name) => Path.Combine(_root, $"{name}-{Guid.NewGuid():N}");

    /// <summary>A copy of a folder, for a test that damages it.</summary>
    public string Copy(string source, string name)
    {
        var target = NewFolder(name);
        foreach (var file in Directory.EnumerateFiles(source, "*", SearchOption.AllDirectories))
        {
            var copy = Path.Combine(target, Path.GetRelativePath(source, file));
            Directory.CreateDirectory(Path.GetDirectoryName(copy)!);
            File.Copy(file, copy);
        }

        return target;
    }

    /// <summary>Runs the CLI with the real workload factory.</summary>
    internal static Task<CliRun> Invoke(params string[] args) => CliRun.InvokeAsync(MoeQuantCli.Build(new FakeHeaderReader([]), new TorchWorkloadFactory()), args);

    public void Dispose() => Directory.Delete(_root, recursive: true);

    /// <summary>Twelve samples of 40 token ids below the tiny checkpoint's vocabulary of 1024, one JSON array a line.</summary>
    private static string WriteSamples()
    {
        var path = Path.Combine(Path.GetTempPath(), "moequant-pack-samples.jsonl");
        var random = new Random(7);
        File.WriteAllLines(path, Enumerable.Range(0, 12).Select(_ => "[" + string.Join(", ", Enumerable.Range(0, 40).Select(_ => random.Next(1024))) + "]"));
        return path;
    }
}

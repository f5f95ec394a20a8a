using System.Diagnostics;
using MoeQuant.Coordinator.Cli;
using MoeQuant.Coordinator.Hosting;
using MoeQuant.Coordinator.Tests.Cli;

namespace MoeQuant.Coordinator.Tests.Pipeline;

/// <summary>A `moequant quantize` child process is SIGKILLed at several points and resumed; the output must equal an
/// uninterrupted run's, byte for byte.</summary>
[Collection(ProcessEnvironment.Collection)]
public sealed class CrashResumeTests : IDisposable
{
    private static readonly TimeSpan Limit = TimeSpan.FromSeconds(60);
    private readonly SaveDirs _dirs = new();

    /// <param name="workload">"fake" for the deterministic stand-in, "tiny" for the real maths on the tiny model.</param>
    [Theory]
    [InlineData("fake")]
    [InlineData("tiny")]
    public async Task Should_resume_runs_killed_while_calibrating_quantizing_or_writing_to_byte_identical_output(string workload)
    {
        // The reference runs in a child process too: CPU matrix products split their sums by the process's thread
        // count, so runs are byte-identical for equal settings of it, which a test host need not share.
        var reference = _dirs.New($"{workload}-reference");
        using (var uninterrupted = Start(workload, reference, stepDelayMs: 0))
        {
            var log = await uninterrupted.StandardOutput.ReadToEndAsync() + await uninterrupted.StandardError.ReadToEndAsync();
            await uninterrupted.WaitForExitAsync();
            Assert.True(uninterrupted.ExitCode == 0, log);
        }

        foreach (var point in new[] { "calibrating", "quantizing", "writing" })
        {
            await KillAndResume(workload, point, SaveDirs.Outputs(reference));
        }
    }

    public void Dispose() => _dirs.Dispose();

    private async Task KillAndResume(string workload, string point, SortedDictionary<string, string> expected)
    {
        var dir = _dirs.New($"{workload}-{point}");
        using (var victim = Start(workload, dir, stepDelayMs: 120)) // slow enough that a loaded CI machine still lands the kill mid-layer
        {
            // Drain its output, so that a full pipe never stalls it before the kill.
            victim.OutputDataReceived += (_, _) => { };
            victim.ErrorDataReceived += (_, _) => { };
            victim.BeginOutputReadLine();
            victim.BeginErrorReadLine();
            await WaitUntil(() => Reached(point, dir) || victim.HasExited);
            Assert.False(victim.HasExited, $"the run ended before reaching '{point}'");
            victim.Kill();
            await victim.WaitForExitAsync();
        }

        Assert.NotEqual(expected, SaveDirs.Outputs(dir));
        using var resumed = Start(workload, dir, stepDelayMs: 0, "--resume");
        var output = await resumed.StandardOutput.ReadToEndAsync();
        await resumed.WaitForExitAsync();

        Assert.True(resumed.ExitCode == 0, output + await resumed.StandardError.ReadToEndAsync());
        Assert.Contains("resuming at layer", output, StringComparison.Ordinal);
        SaveDirs.AssertSameOutputs(expected, SaveDirs.Outputs(dir));
    }

    // Layer 1 is where each kill lands: its plan is journaled (calibration starts), a unit file of it exists (GPTQ is
    // running), or a next-layer input of it exists (the commit is being written).
    private static bool Reached(string point, string dir) => point switch
    {
        "calibrating" => File.Exists(Path.Combine(dir, "journal.jsonl"))
            && File.ReadAllText(Path.Combine(dir, "journal.jsonl")).Contains("\"event\":\"plan\",\"layer\":1", StringComparison.Ordinal),
        "quantizing" => Directory.Exists(Path.Combine(dir, "layers", "001")) && Directory.EnumerateFiles(Path.Combine(dir, "layers", "001"), "*.safetensors").Any(),
        _ => Directory.Exists(Path.Combine(dir, "activations", "002")) && Directory.EnumerateFiles(Path.Combine(dir, "activations", "002"), "*.safetensors").Any(),
    };

    // The tiny model's run uses few samples, so that the reference and each resumed run take seconds.
    private static string[] Flags(string workload) => workload == "tiny" ? ["--devices", "cpu:2", "--num-calibration-samples", "12", "--skip-eval"] : ["--devices", "cpu:2"];

    private static Process Start(string workload, string saveDir, int stepDelayMs, params string[] flags)
    {
        var start = new ProcessStartInfo("dotnet")
        {
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            UseShellExecute = false,
        };
        foreach (var arg in new[] { typeof(Program).Assembly.Location, "quantize", "--save-dir", saveDir }.Concat(Flags(workload)).Concat(flags))
        {
            start.ArgumentList.Add(arg);
        }

        start.Environment[FakeWorkloadFactory.StepDelayVariable] = $"{stepDelayMs}";
        start.Environment[Program.WorkloadVariable] = workload;
        return Process.Start(start) ?? throw new InvalidOperationException("dotnet did not start");
    }

    private static async Task WaitUntil(Func<bool> condition)
    {
        var clock = Stopwatch.StartNew();
        while (!condition())
        {
            Assert.True(clock.Elapsed < Limit, "timed out waiting for the run");
            await Task.Delay(10);
        }
    }
}

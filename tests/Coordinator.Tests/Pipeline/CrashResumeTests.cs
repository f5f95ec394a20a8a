using System.Diagnostics;
using MoeQuant.Coordinator.Cli;
using MoeQuant.Coordinator.Tests.Cli;

namespace MoeQuant.Coordinator.Tests.Pipeline;

/// <summary>A `moequant quantize` child process is SIGKILLed at several points and resumed; the output must equal an
/// uninterrupted run's, byte for byte.</summary>
[Collection(ProcessEnvironment.Collection)]
public sealed class CrashResumeTests : IDisposable
{
    private static readonly TimeSpan Limit = TimeSpan.FromSeconds(60);
    private readonly SaveDirs _dirs = new();

    [Fact]
    public async Task Should_resume_runs_killed_while_calibrating_quantizing_or_writing_to_byte_identical_output()
    {
        var reference = _dirs.New("reference");
        var uninterrupted = await CliRun.InvokeAsync(MoeQuantCli.Build(new FakeHeaderReader([]), new FakeWorkloadFactory()), ["quantize", "--save-dir", reference, "--devices", "cpu:2"]);
        Assert.Equal(0, uninterrupted.ExitCode);
        foreach (var point in new[] { "calibrating", "quantizing", "writing" })
        {
            await KillAndResume(point, SaveDirs.Outputs(reference));
        }
    }

    public void Dispose() => _dirs.Dispose();

    private async Task KillAndResume(string point, SortedDictionary<string, string> expected)
    {
        var dir = _dirs.New(point);
        using (var victim = Start(dir, stepDelayMs: 120)) // slow enough that a loaded CI machine still lands the kill mid-layer
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
        using var resumed = Start(dir, stepDelayMs: 0, "--resume");
        var output = await resumed.StandardOutput.ReadToEndAsync();
        await resumed.WaitForExitAsync();

        Assert.True(resumed.ExitCode == 0, output + await resumed.StandardError.ReadToEndAsync());
        Assert.Contains("resuming at layer", output, StringComparison.Ordinal);
        Assert.Equal(expected, SaveDirs.Outputs(dir));
    }

    // Layer 1 is where each kill lands: its plan is journaled (calibration starts), a unit file of it exists (GPTQ is
    // running), or a next-layer input of it exists (the commit is being written).
    private static bool Reached(string point, string dir) => point switch
    {
        "calibrating" => File.Exists(Path.Combine(dir, "journal.jsonl"))
            && File.ReadAllText(Path.Combine(dir, "journal.jsonl")).Contains("\"event\":\"plan\",\"layer\":1", StringComparison.Ordinal),
        "quantizing" => Directory.Exists(Path.Combine(dir, "layers", "001")) && Directory.EnumerateFiles(Path.Combine(dir, "layers", "001"), "*.bin").Any(),
        _ => Directory.Exists(Path.Combine(dir, "activations", "002")) && Directory.EnumerateFiles(Path.Combine(dir, "activations", "002"), "*.bin").Any(),
    };

    private static Process Start(string saveDir, int stepDelayMs, params string[] flags)
    {
        var start = new ProcessStartInfo("dotnet")
        {
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            UseShellExecute = false,
        };
        foreach (var arg in new[] { typeof(Program).Assembly.Location, "quantize", "--save-dir", saveDir, "--devices", "cpu:2" }.Concat(flags))
        {
            start.ArgumentList.Add(arg);
        }

        start.Environment[FakeWorkloadFactory.StepDelayVariable] = $"{stepDelayMs}";
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

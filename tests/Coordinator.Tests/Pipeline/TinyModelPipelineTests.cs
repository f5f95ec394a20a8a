using System.Globalization;
using System.Text.RegularExpressions;
using MoeQuant.Coordinator.Cli;
using MoeQuant.Coordinator.Hosting;
using MoeQuant.Coordinator.Tests.Cli;
using MoeQuant.Kernels.Gptq;
using MoeQuant.Model.Calibration;
using MoeQuant.Model.Quantized;
using MoeQuant.Model.Tokenization;
using MoeQuant.Model.TinyModel;
using static TorchSharp.torch;

namespace MoeQuant.Coordinator.Tests.Pipeline;

/// <summary>`moequant quantize` with the real maths on the built-in model, on the CPU.</summary>
[Collection(ProcessEnvironment.Collection)]
public sealed class TinyModelPipelineTests : IDisposable
{
    private const int Samples = 12;
    private const int Shards = 8;
    private readonly SaveDirs _dirs = new();

    [Fact]
    public async Task Should_write_the_codes_and_scales_of_a_straight_sequential_run()
    {
        var run = await Quantize("pipeline", "--devices", "cpu:2", "--skip-eval");
        Assert.True(run.ExitCode == 0, run.Error);

        var options = new GptqOptions { Bits = 4, GroupSize = -1, Symmetric = false, ScaleDtype = ScalarType.BFloat16 };
        var calibration = await CalibrationData.PrepareAsync(new Model.Calibration.CalibrationOptions(BuiltInModel.CalibrationText, Samples, 8192, 0), HfTokenizer.Load(BuiltInModel.Folder));
        var reference = SequentialReference.Run(BuiltInModel.Folder, calibration.Samples, Shards, options);
        var written = Directory.EnumerateFiles(Path.Combine(_dirs.New("pipeline"), "layers"), "*.safetensors", SearchOption.AllDirectories)
            .SelectMany(UnitStateFile.Read).ToDictionary(l => l.Name);
        try
        {
            Assert.Equal(reference.Keys.Order(), written.Keys.Order());
            foreach (var (name, expected) in reference)
            {
                var actual = written[name];
                Assert.True(Same(expected.Codes, actual.Codes), $"{name}: codes differ");
                Assert.True(Same(expected.Scales, actual.Scales), $"{name}: scales differ");
                Assert.True(Same(expected.ZeroPoints, actual.ZeroPoints), $"{name}: zero points differ");
                Assert.True(Same(expected.Dequantized, actual.Dequantize()), $"{name}: dequantized weights differ");
            }
        }
        finally
        {
            foreach (var result in reference.Values.Cast<IDisposable>().Concat(written.Values))
            {
                result.Dispose();
            }
        }
    }

    [Fact]
    public async Task Should_write_byte_identical_output_on_one_device_in_one_wave_or_three_devices_in_many()
    {
        var one = await Quantize("one", "--devices", "cpu");
        // 0.0005 GiB holds two of the hidden-width (256²) Hessians: every layer takes 10 to 30 calibration waves.
        var three = await Quantize("three", "--devices", "cpu:3", "--skip-eval", "--hessian-memory-gb", "0.0005");

        Assert.True((one.ExitCode, three.ExitCode) == (0, 0), one.Error + three.Error);
        // The original's held-out perplexity is what transformers measured when the model was trained (33.068, FP8
        // dequantized, metrics.json); the quantized one is worse, but not by much at 4 bits.
        var perplexity = Regex.Match(one.Output, @"held-out perplexity: (\d+\.\d+) \(FP8 original\) -> (\d+\.\d+) \(quantized\), 47580 tokens");
        Assert.True(perplexity.Success, one.Output);
        var (before, after) = (double.Parse(perplexity.Groups[1].Value, CultureInfo.InvariantCulture), double.Parse(perplexity.Groups[2].Value, CultureInfo.InvariantCulture));
        Assert.InRange(before, 33.068 - 0.04, 33.068 + 0.04);
        Assert.InRange(after, before, before * 1.25);
        Assert.DoesNotContain("held-out perplexity", three.Output, StringComparison.Ordinal);
        var expected = SaveDirs.Outputs(_dirs.New("one"));
        Assert.Contains("layers/003/mlp.experts.7.gate_proj.safetensors", expected.Keys);
        SaveDirs.AssertSameOutputs(expected, SaveDirs.Outputs(_dirs.New("three")));
    }

    [Fact]
    public async Task Should_write_the_bytes_of_a_run_in_one_wave_after_running_out_of_memory_and_re_planning_in_smaller_waves()
    {
        var one = await Quantize("whole", "--devices", "cpu", "--skip-eval");
        // Devices with room for the Hessians of 8 units: each first wave too large fails in its calibration forward and
        // the layer is redone in smaller waves.
        var limited = await CliRun.InvokeAsync(
            MoeQuantCli.Build(new FakeHeaderReader([]), new MemoryLimitedWorkloadFactory(new TorchWorkloadFactory(), _ => 8)),
            ["quantize", "--save-dir", _dirs.New("limited"), "--num-calibration-samples", $"{Samples}", "--devices", "cpu:2", "--skip-eval"]);

        Assert.True((one.ExitCode, limited.ExitCode) == (0, 0), one.Error + limited.Error);
        var journal = await File.ReadAllTextAsync(Path.Combine(_dirs.New("limited"), "journal.jsonl"));
        Assert.Contains("\"event\":\"wave_budget\"", journal, StringComparison.Ordinal);
        SaveDirs.AssertSameOutputs(SaveDirs.Outputs(_dirs.New("whole")), SaveDirs.Outputs(_dirs.New("limited")));
    }

    [Fact]
    public async Task Should_pass_a_layer_with_nothing_to_quantize_through_when_only_experts_are_quantized()
    {
        var run = await Quantize("experts", "--devices", "cpu", "--quantize-only-experts", "--skip-eval");

        Assert.True(run.ExitCode == 0, run.Error);
        var layers = Path.Combine(_dirs.New("experts"), "layers");
        Assert.Empty(Directory.EnumerateFiles(Path.Combine(layers, "000"), "*.safetensors")); // the dense layer 0
        Assert.All(
            Directory.EnumerateFiles(layers, "*.safetensors", SearchOption.AllDirectories),
            f => Assert.StartsWith("mlp.experts.", Path.GetFileName(f), StringComparison.Ordinal));
        Assert.Equal(3 * 16 * 2, Directory.EnumerateFiles(layers, "*.safetensors", SearchOption.AllDirectories).Count());
    }

    [Theory]
    [InlineData("--group-size 48", "--group-size 48 does not divide the 256 input columns of model.layers.0.self_attn.q_a_proj")]
    [InlineData("--model-name-or-path /nonexistent/model", "--model-name-or-path /nonexistent/model: folder does not exist")]
    public async Task Should_reject_settings_the_model_cannot_take(string flags, string message)
    {
        var run = await Quantize("bad", flags.Split(' '));

        Assert.Equal(2, run.ExitCode);
        Assert.Contains(message, run.Error, StringComparison.Ordinal);
        Assert.False(Directory.Exists(_dirs.New("bad")));
    }

    public void Dispose() => _dirs.Dispose();

    private static bool Same(Tensor expected, Tensor actual) =>
        expected.shape.SequenceEqual(actual.shape) && expected.dtype == actual.dtype && expected.eq(actual).all().item<bool>();

    private Task<CliRun> Quantize(string saveDir, params string[] flags) => CliRun.InvokeAsync(
        MoeQuantCli.Build(new FakeHeaderReader([]), new TorchWorkloadFactory()),
        ["quantize", "--save-dir", _dirs.New(saveDir), "--num-calibration-samples", $"{Samples}", .. flags]);
}

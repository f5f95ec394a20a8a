using System.Buffers.Binary;
using System.Globalization;
using System.Text.Json.Nodes;
using MoeQuant.Coordinator.Report;

namespace MoeQuant.Coordinator.Tests.Report;

public sealed class QualityReportTests : IDisposable
{
    private readonly ReportLayers _run = new();

    public void Dispose() => _run.Dispose();

    [Fact]
    public async Task Should_write_every_unit_with_its_type_and_null_for_NaN_losses()
    {
        await _run.CommitAsync();

        new QualityReport(_run.Layout).Write(2);

        var json = Units();
        Assert.Equal(2, (int)json["layers"]!);
        var units = json["units"]!.AsArray();
        Assert.Equal(9, units.Count);
        // Sorted by layer, then module name (ordinal), as layer.json is.
        Assert.Equal(
            ["mlp.gate_proj", "self_attn.kv_b_proj", "self_attn.q_a_proj", "mlp.experts.0.gate_proj", "mlp.experts.1.gate_proj",
             "mlp.experts.10.down_proj", "mlp.experts.2.down_proj", "mlp.experts.2.gate_proj", "mlp.shared_experts.down_proj"],
            units.Select(u => (string)u!["module"]!));
        var unquantized = units.Single(u => (string)u!["module"]! == "mlp.experts.2.down_proj")!;
        Assert.Equal(1, (int)unquantized["layer"]!);
        Assert.Equal("mlp.experts.down_proj", (string)unquantized["unit_type"]!);
        Assert.Equal(200, (long)unquantized["tokens"]!);
        Assert.Null(unquantized["loss"]);
        Assert.Null(unquantized["rtn_loss"]);
        Assert.True(unquantized.AsObject().ContainsKey("loss"));
        Assert.Equal(1.0, (double)unquantized["damping"]!);
        Assert.Equal(3, (int)unquantized["retries"]!);
        Assert.Equal("Unquantized", (string)unquantized["fallback"]!);
        Assert.Equal(["NonInvertible"], unquantized["issues"]!.AsArray().Select(i => (string)i!));
        Assert.Equal("", (string)unquantized["sha256"]!);
        Assert.Equal(ReportLayers.KernelError, (string)unquantized["error"]!);
        var attention = units.Single(u => (string)u!["module"]! == "self_attn.q_a_proj")!;
        Assert.Equal((0.01, 0.04, "None", "sha-0-self_attn.q_a_proj"), ((double)attention["loss"]!, (double)attention["rtn_loss"]!, (string)attention["fallback"]!, (string)attention["sha256"]!));
        Assert.Empty(attention["issues"]!.AsArray());
    }

    [Fact]
    public async Task Should_average_losses_per_layer_and_unit_type_over_units_with_both_losses()
    {
        await _run.CommitAsync();

        new QualityReport(_run.Layout).Write(2);

        var json = Units();
        var gate = json["by_type"]!.AsArray().Single(t => (int)t!["layer"]! == 1 && (string)t["unit_type"]! == "mlp.experts.gate_proj")!;
        // Experts 0 and 1; expert 2 saw no token, so it has no loss and is left out of the means.
        Assert.Equal((3, 2), ((int)gate["units"]!, (int)gate["measured"]!));
        Assert.Equal((0.1 + 0.3) / 2, (double)gate["mean_loss"]!);
        Assert.Equal(0.3, (double)gate["max_loss"]!);
        Assert.Equal((0.3 + 0.5) / 2, (double)gate["mean_rtn_loss"]!);
        Assert.Equal((0.1 + 0.3) / 2 / ((0.3 + 0.5) / 2), (double)gate["gptq_over_rtn"]!);
        Assert.Equal((0L, 500L), ((long)gate["tokens_min"]!, (long)gate["tokens_max"]!));
        Assert.Equal((1, 1, 0), ((int)gate["retries"]!, (int)gate["fallbacks"]!, (int)gate["unquantized"]!));
        Assert.Equal(1, (int)gate["issues"]!["ZeroSamples"]!);

        var down = json["by_type"]!.AsArray().Single(t => (int)t!["layer"]! == 1 && (string)t["unit_type"]! == "mlp.experts.down_proj")!;
        Assert.Equal((2, 1, 0.4), ((int)down["units"]!, (int)down["measured"]!, (double)down["mean_loss"]!));
        Assert.Equal((3, 1, 1), ((int)down["retries"]!, (int)down["fallbacks"]!, (int)down["unquantized"]!));

        Assert.Equal(
            ["0 mlp.gate_proj", "0 self_attn.kv_b_proj", "0 self_attn.q_a_proj", "1 mlp.experts.down_proj", "1 mlp.experts.gate_proj", "1 mlp.shared_experts.down_proj"],
            json["by_type"]!.AsArray().Select(t => $"{(int)t!["layer"]!} {(string)t["unit_type"]!}"));
        var layer1 = json["by_layer"]!.AsArray()[1]!;
        Assert.False(layer1.AsObject().ContainsKey("unit_type"));
        Assert.Equal((0.1 + 0.3 + 0.4 + 0.05) / 4, (double)layer1["mean_loss"]!);
        Assert.Equal((6, 4, 4, 2, 1), ((int)layer1["units"]!, (int)layer1["measured"]!, (int)layer1["retries"]!, (int)layer1["fallbacks"]!, (int)layer1["unquantized"]!));
        Assert.Equal("{\"NanHessian\":1,\"NonInvertible\":1,\"ZeroSamples\":1}", layer1["issues"]!.ToJsonString());
    }

    [Fact]
    public async Task Should_write_a_markdown_summary_with_a_row_per_layer_the_worst_units_and_the_unquantized_ones()
    {
        await _run.CommitAsync();

        new QualityReport(_run.Layout).Write(2);

        var md = File.ReadAllText(_run.ReportFile(QualityReport.SummaryFile));
        var lines = md.Split('\n');
        Assert.Contains("| 0 | 3 | 1,000–1,000 | 1.100e-2 | 2.000e-2 | 3.200e-2 | 0.344 | 0 | 0 | 0 | none |", lines);
        Assert.Contains("| 1 | 6 | 0–800 | 2.125e-1 | 4.000e-1 | 4.250e-1 | 0.500 | 4 | 2 | 1 | NanHessian 1, NonInvertible 1, ZeroSamples 1 |", lines);
        Assert.Contains("| 1 | `model.layers.1.mlp.experts.10.down_proj` | mlp.experts.down_proj | 300 | 4.000e-1 | 8.000e-1 | 0.500 | 0.01 | 0 |", lines);
        Assert.Contains("| 2 | `model.layers.1.mlp.experts.1.gate_proj` | mlp.experts.gate_proj | 500 | 3.000e-1 | 5.000e-1 | 0.600 | 0.1 | 1 |", lines);
        // Seven units have both losses, so the list of the worst ten holds seven rows.
        Assert.Equal(7, lines.Count(l => l.StartsWith("| ", StringComparison.Ordinal) && l.Contains("`model.layers.", StringComparison.Ordinal)));
        Assert.Contains(@"- `model.layers.1.mlp.experts.2.down_proj` after 3 retries (damping 1): CUDA_ERROR_ILLEGAL_ADDRESS \| in gptq_block second line", lines);
        Assert.DoesNotContain("No unit was left unquantized.", md, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Should_say_so_when_no_unit_was_left_unquantized()
    {
        await _run.CommitAsync(layers: 1);

        var data = new QualityReport(_run.Layout).Write(1);

        Assert.Equal((1, 3), (data.Layers, data.Units.Count));
        Assert.Contains("\nNo unit was left unquantized.\n", File.ReadAllText(_run.ReportFile(QualityReport.SummaryFile)), StringComparison.Ordinal);
    }

    [Fact]
    public async Task Should_draw_the_plot_as_a_png()
    {
        await _run.CommitAsync();

        new QualityReport(_run.Layout).Write(2);

        var png = File.ReadAllBytes(_run.ReportFile(QualityReport.PlotFile));
        Assert.True(png.Length > 10_000, $"{png.Length} bytes");
        Assert.Equal(new byte[] { 0x89, (byte)'P', (byte)'N', (byte)'G', 0x0D, 0x0A, 0x1A, 0x0A }, png[..8]);
        // The first chunk is IHDR with the image's width and height.
        Assert.Equal("IHDR", System.Text.Encoding.ASCII.GetString(png, 12, 4));
        Assert.Equal((1400, 800), (BinaryPrimitives.ReadInt32BigEndian(png.AsSpan(16)), BinaryPrimitives.ReadInt32BigEndian(png.AsSpan(20))));
    }

    [Fact]
    public async Task Should_write_the_same_bytes_again_whatever_the_current_culture()
    {
        await _run.CommitAsync();
        new QualityReport(_run.Layout).Write(2);
        var first = Files();

        var culture = CultureInfo.CurrentCulture;
        try
        {
            // A culture with a decimal comma and other digit grouping: nothing in the report may follow it.
            CultureInfo.CurrentCulture = CultureInfo.GetCultureInfo("de-DE");
            new QualityReport(_run.Layout).Write(2);
        }
        finally
        {
            CultureInfo.CurrentCulture = culture;
        }

        Assert.Equal(first, Files());
        // Nothing else: no temporary file left behind.
        Assert.Equal(
            [QualityReport.PlotFile, QualityReport.SummaryFile, QualityReport.UnitsFile],
            Directory.EnumerateFileSystemEntries(_run.Layout.ReportDir).Select(Path.GetFileName).Order(StringComparer.Ordinal));
    }

    [Fact]
    public async Task Should_return_the_failure_instead_of_throwing_when_trying()
    {
        await _run.CommitAsync(layers: 1);

        var failure = new QualityReport(_run.Layout).TryWrite(2);

        // Layer 1 has no summary file.
        Assert.IsType<DirectoryNotFoundException>(failure);
        Assert.Null(new QualityReport(_run.Layout).TryWrite(1));
    }

    private JsonNode Units() => JsonNode.Parse(File.ReadAllText(_run.ReportFile(QualityReport.UnitsFile)))!;

    private Dictionary<string, string> Files() => new[] { QualityReport.UnitsFile, QualityReport.PlotFile, QualityReport.SummaryFile }
        .ToDictionary(f => f, f => Convert.ToHexString(File.ReadAllBytes(_run.ReportFile(f))));
}

using System.Text.Json;
using MoeQuant.Model.Config;
using MoeQuant.Model.Forward;
using MoeQuant.Model.TinyModel;
using TorchSharp;

namespace MoeQuant.Coordinator.Bench;

/// <summary>
/// One DeepSeek-V3 MoE decoder layer at real dimensions, beside transformers' own layer measured by
/// tools/bench_hf_layer.py in the same device call: the reference path and any other <see cref="ForwardOptions.Variants"/>,
/// and with --phases the time of every phase of each (<see cref="ForwardPhaseTable"/>).
/// </summary>
internal static class ForwardLayerBenchmark
{
    /// <summary>Runs the variants and records a forward-moe-layer line, plus a forward-moe-layer-phases line per variant with phases.</summary>
    /// <param name="recorder">Where the lines go.</param>
    /// <param name="console">Where the tables go.</param>
    /// <param name="device">CUDA ordinal; the CPU is used where there is no CUDA device.</param>
    /// <param name="batch">Sequences per forward.</param>
    /// <param name="sequenceLength">Tokens per sequence.</param>
    /// <param name="builtIn">The built-in model's dimensions instead of DeepSeek-V3's (a CPU-sized check of the benchmark).</param>
    /// <param name="variantNames">Names from <see cref="ForwardOptions.Variants"/>; the reference is measured first regardless.</param>
    /// <param name="phases">Time each variant's phases too.</param>
    /// <param name="transformersResultPath">JSON Lines of tools/bench_hf_layer.py from the same call, or null.</param>
    public static void Run(
        BenchRecorder recorder, TextWriter console, int device, int batch, int sequenceLength, bool builtIn,
        IReadOnlyList<string> variantNames, bool phases, string? transformersResultPath)
    {
        var config = builtIn ? TinyModelConfig.Load() : ForwardBenchmark.DeepseekV3Dimensions;
        var on = torch.cuda.is_available() ? new torch.Device(DeviceType.CUDA, device) : torch.CPU;
        var variants = ForwardOptions.Variants.Where(v => v.Name == "reference" || variantNames.Contains(v.Name)).ToList();
        var results = ForwardVariantBenchmark.Run(on, variants, batch, sequenceLength, phases: phases, config: config);
        var reference = results[0];
        var tokens = batch * (double)sequenceLength;
        var transformers = transformersResultPath is null
            ? null
            : File.ReadLines(transformersResultPath).Where(l => l.TrimStart().StartsWith('{')).Select(l => JsonDocument.Parse(l).RootElement).ToList();
        var inputs = new
        {
            layer = config.FirstKDenseReplace,
            batch,
            sequenceLength,
            dims = builtIn ? "built-in model" : "DeepSeek-V3",
            device = on.ToString(),
            weights = "random bf16",
            baseline = "transformers DeepseekV3DecoderLayer (tools/bench_hf_layer.py), same call",
        };
        recorder.Record(
            "forward-moe-layer",
            inputs,
            new
            {
                oursMs = reference.Milliseconds,
                oursTokensPerSecond = tokens / reference.Milliseconds * 1000.0,
                transformers = transformers?.Select(t => JsonSerializer.Deserialize<Dictionary<string, object>>(t.GetRawText())).ToList(),
                speedupOverTransformers = transformers?.Select(t => t.GetProperty("ms").GetDouble() / reference.Milliseconds).ToList(),
                variants = results.Select(r => new
                {
                    name = r.Name,
                    options = r.Options.ToString(),
                    ms = r.Milliseconds,
                    tokensPerSecond = tokens / r.Milliseconds * 1000.0,
                    speedupOverReference = reference.Milliseconds / r.Milliseconds,
                    speedupOverTransformers = transformers?.Select(t => t.GetProperty("ms").GetDouble() / r.Milliseconds).ToList(),
                    maxAbsDiffToReference = r.MaxAbsDiff,
                    routingMismatchedTokens = r.RoutingMismatchedTokens,
                    error = r.Error,
                }).ToList(),
            });

        var work = ForwardPhaseCost.MoeLayer(config, batch, sequenceLength);
        foreach (var result in results.Where(r => r.Phases is not null))
        {
            var table = ForwardPhaseTable.Of(result.Phases!, work);
            console.WriteLine(ForwardPhaseTable.Format(result.Name, result.Milliseconds!.Value, table));
            recorder.Record(
                "forward-moe-layer-phases",
                inputs with { baseline = $"phases of variant {result.Name}: device synchronised at every phase boundary, median of three runs by total" },
                new
                {
                    variant = result.Name,
                    options = result.Options.ToString(),
                    unclockedMs = result.Milliseconds,
                    clockedMs = table.Sum(p => p.Milliseconds),
                    floorMs = table.Sum(p => p.FloorMilliseconds),
                    floorRates = $"{ForwardPhaseTable.FloorTflops} TFLOP/s and {ForwardPhaseTable.FloorGigabytesPerSecond} GB/s",
                    phases = table,
                });
        }

        console.WriteLine(ForwardPhaseTable.Summary(results, transformers?.Select(t => (t.GetProperty("experts").GetString() ?? "?", t.GetProperty("ms").GetDouble())).ToList()));
    }
}

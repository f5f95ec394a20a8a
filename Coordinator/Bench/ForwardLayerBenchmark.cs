using System.Text.Json;
using MoeQuant.Model.Forward;
using TorchSharp;

namespace MoeQuant.Coordinator.Bench;

/// <summary>One DeepSeek-V3 MoE decoder layer at real dimensions, beside transformers' own layer measured by tools/bench_hf_layer.py in the same device call.</summary>
internal static class ForwardLayerBenchmark
{
    public static void Run(BenchRecorder recorder, int device, int batch, int sequenceLength, string? transformersResultPath)
    {
        var ours = ForwardBenchmark.Run(new torch.Device(DeviceType.CUDA, device), batch, sequenceLength);
        var transformers = transformersResultPath is null
            ? null
            : File.ReadLines(transformersResultPath).Where(l => l.TrimStart().StartsWith('{')).Select(l => JsonDocument.Parse(l).RootElement).ToList();
        recorder.Record(
            "forward-moe-layer",
            new { layer = ours.Layer, batch, sequenceLength, weights = "random bf16", baseline = "transformers DeepseekV3DecoderLayer (tools/bench_hf_layer.py), same call" },
            new
            {
                oursMs = ours.Milliseconds,
                oursTokensPerSecond = ours.TokensPerSecond,
                transformers = transformers?.Select(t => JsonSerializer.Deserialize<Dictionary<string, object>>(t.GetRawText())).ToList(),
                speedupOverTransformers = transformers?.Select(t => ours.TokensPerSecond / t.GetProperty("tokensPerSecond").GetDouble()).ToList(),
            });
    }
}

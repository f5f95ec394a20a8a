using System.Text.Json;
using MoeQuant.Kernels.Cuda;
using MoeQuant.Kernels.Gptq;
using MoeQuant.Kernels.Quantization;
using MoeQuant.Model.Checkpoint;
using TorchSharp;
using static TorchSharp.torch;

namespace MoeQuant.Coordinator.Bench;

/// <summary>
/// MoeQuant's GPTQ engine on the very weights and Hessians MoE-Quant quantized in the same device call
/// (tools/bench/moequant_reference_gptq.py writes both the problems and its results): time, proxy loss and code agreement
/// of the single path, and loss and code agreement of the batched path.
/// </summary>
internal static class GptqBenchmark
{
    public static void Run(BenchRecorder recorder, int device, string problemsPath, string moeQuantResultsPath)
    {
        var cuda = new Device(DeviceType.CUDA, device);
        backends.cuda.matmul.allow_tf32 = false;
        using var problems = SafetensorsFile.Open(problemsPath);
        foreach (var line in File.ReadLines(moeQuantResultsPath).Where(l => l.Length > 0))
        {
            using var scope = NewDisposeScope();
            var baseline = JsonDocument.Parse(line).RootElement;
            var (rows, columns) = (baseline.GetProperty("rows").GetInt32(), baseline.GetProperty("columns").GetInt32());
            var (order, scale) = (baseline.GetProperty("order").GetString()!, baseline.GetProperty("scale").GetString()!);
            var weight = problems.ReadTensorCopy($"weight_{rows}x{columns}").to(cuda).to_type(ScalarType.Float32);
            var hessian = Hessian.FromMatrix(problems.ReadTensorCopy($"hessian_{rows}x{columns}").to(cuda), baseline.GetProperty("tokens").GetInt64());
            var options = new GptqOptions
            {
                Bits = baseline.GetProperty("bits").GetInt32(),
                GroupSize = baseline.GetProperty("groupSize").GetInt32(),
                RelDamp = baseline.GetProperty("relDamp").GetDouble(),
                Order = order == "activation" ? QuantizationOrder.Activation : QuantizationOrder.Default,
                Scale = scale == "mse" ? ScaleSearch.Mse : ScaleSearch.AbsMax,
            };

            QuantResult result = null!;
            var ms = DeviceTimer.MedianMilliseconds(cuda, () => result = Gptq.Quantize($"bench.{rows}x{columns}", weight, hessian, options), warmup: 1, repetitions: 5);
            var theirCodes = problems.ReadTensorCopy($"codes_{rows}x{columns}_{order}_{scale}").to(cuda).to_type(ScalarType.Int32);
            var difference = CodeDifference(result, theirCodes, options.Bits);
            // The batched path (what the pipeline runs: the fused loop on R's columns) on the same problem, alone in its batch.
            var batched = Gptq.QuantizeBatch([new GptqBatchItem(hessian, [new GptqWeight($"bench.{rows}x{columns}", weight)])], options)[0][0];
            var batchedDifference = CodeDifference(batched, theirCodes, options.Bits);
            var moeQuantMs = baseline.GetProperty("moeQuantMs").GetDouble();
            var moeQuantLoss = baseline.GetProperty("moeQuantProxyLoss").GetDouble();
            recorder.Record(
                "gptq-vs-moe-quant",
                new { rows, columns, order, scale, options.Bits, options.GroupSize, options.RelDamp, tokens = hessian.Tokens, baseline = "MoE-Quant src/gptq.py (Triton loop, CUDA graph), same weights and Hessian" },
                new
                {
                    oursMs = ms,
                    moeQuantMs,
                    speedup = moeQuantMs / ms,
                    oursProxyLoss = result.GptqLoss,
                    moeQuantProxyLoss = moeQuantLoss,
                    lossRatio = result.GptqLoss / moeQuantLoss,
                    oursRoundToNearestLoss = result.RtnLoss,
                    moeQuantRoundToNearestLoss = baseline.GetProperty("roundToNearestProxyLoss").GetDouble(),
                    codesDifferingFraction = difference.gt(0).to_type(ScalarType.Float64).mean().item<double>(),
                    maxCodeDifference = difference.max().item<int>(),
                    batchedProxyLoss = batched.GptqLoss,
                    batchedLossRatio = batched.GptqLoss / moeQuantLoss,
                    batchedCodesDifferingFraction = batchedDifference.gt(0).to_type(ScalarType.Float64).mean().item<double>(),
                    batchedMaxCodeDifference = batchedDifference.max().item<int>(),
                });
            result.Dispose();
            batched.Dispose();
        }
    }

    // |our code − MoE-Quant's| per weight: ours are signed, MoE-Quant's unsigned.
    private static Tensor CodeDifference(QuantResult result, Tensor theirCodes, int bits) =>
        (result.Codes.to_type(ScalarType.Int32) + (1 << (bits - 1)) - theirCodes).abs();
}

using System.Diagnostics;
using System.Globalization;
using MoeQuant.GpuNode.Workload.Torch;
using MoeQuant.Model.Evaluation;
using MoeQuant.Model.TinyModel;
using TorchSharp;

namespace MoeQuant.Coordinator.Evaluation;

/// <summary>
/// What quantizing cost the built-in model: its held-out perplexity from the FP8 original and from the packed
/// checkpoint just written, on the same token ids, measured as <c>moequant eval</c> does.
/// </summary>
internal static class BuiltInPerplexity
{
    /// <param name="packedFolder">The exported compressed-tensors checkpoint.</param>
    /// <param name="device">The run's first device ("cpu:0", "cuda:1", "cuda:0/1").</param>
    /// <param name="output">Where the line goes.</param>
    public static void Print(string packedFolder, string device, TextWriter output)
    {
        var clock = Stopwatch.StartNew();
        var options = new PerplexityOptions(TorchDevices.Of(device), torch.ScalarType.BFloat16);
        var before = Measure(BuiltInModel.Folder, options);
        var after = Measure(packedFolder, options);
        output.WriteLine(string.Create(
            CultureInfo.InvariantCulture,
            $"held-out perplexity: {before.Perplexity:F3} (FP8 original) -> {after.Perplexity:F3} (quantized), {after.Tokens} tokens, bfloat16 on {device}, {clock.Elapsed.TotalSeconds:F1} s"));
    }

    private static PerplexityResult Measure(string folder, PerplexityOptions options)
    {
        using var model = EvalWeightSources.Open(folder);
        var data = TokenIdLines.Read(BuiltInModel.HeldOutIds, model.Config.VocabSize);
        return PerplexityEvaluator.Evaluate(model.Config, model.Weights, data.Sequences, options);
    }
}

using System.Text.Json.Nodes;
using MoeQuant.Model.Evaluation;
using MoeQuant.Model.TinyModel;
using static TorchSharp.torch;

namespace MoeQuant.Model.Tests.Evaluation;

/// <summary>
/// The built-in model against the independent reference: transformers' DeepseekV3ForCausalLM measured its held-out
/// NLL when it was trained (tools/fixtures/train_tiny_model.py, recorded in metrics.json, bf16 on an H100). MoeQuant's
/// own forward, reading the FP8 checkpoint, must reproduce it on the same token ids.
/// </summary>
public sealed class BuiltInModelPerplexityTests
{
    [Fact]
    public void Should_reproduce_the_held_out_nll_transformers_measured_on_the_fp8_checkpoint()
    {
        var metrics = JsonNode.Parse(File.ReadAllText(BuiltInModel.Metrics))!["heldout"]!;
        var expected = (double)metrics["fp8_dequantized"]!["mean_nll"]!;
        using var model = EvalWeightSources.Open(BuiltInModel.Folder);
        var data = TokenIdLines.Read(BuiltInModel.HeldOutIds, model.Config.VocabSize);

        var result = PerplexityEvaluator.Evaluate(model.Config, model.Weights, data.Sequences, new PerplexityOptions(CPU, ScalarType.BFloat16));

        Assert.Equal((long)metrics["predicted_tokens"]!, result.Tokens);
        // bf16 sums in a different order (CPU here, CUDA grouped_mm there): 1e-3 in mean NLL, the bound.
        Assert.InRange(result.MeanNll, expected - 1e-3, expected + 1e-3);
    }
}

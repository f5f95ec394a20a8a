using MoeQuant.Model.Forward;
using Xunit.Abstractions;
using TorchSharp;
using static TorchSharp.torch;

namespace MoeQuant.Model.Tests.Forward;

/// <summary>
/// The acceptance tests of the forward pass: MoeQuant against transformers 5.17 on the tiny fixtures (issue 4):
/// fp32 hidden states and logits within 1e-4; bf16 (the FP8 checkpoint included) bit-equal where attention is trivial
/// and within the cross-kernel noise elsewhere.
/// </summary>
public sealed class ForwardParityTests(ITestOutputHelper output)
{
    private const double Fp32Tolerance = 1e-4;
    // The issue's 1e-3 holds on CUDA, where the references were made (Δ +4.7e-4, −2.1e-4, +2.7e-4 on an H100; see the
    // CUDA test below). On the CPU the attention kernels round differently, and on 46 tokens that noise alone exceeds
    // 1e-3: transformers itself run on the CPU differs from its own CUDA reference by −1.8e-3 (mla-lora) and +3.3e-3
    // (mla-direct), and one routing near-tie resolved the other way moves the mean by ~2e-3. The CPU bound covers that
    // noise; its exact checks are the position-0 bit equality here and the routing tests.
    private const double MeanNllTolerance = 6e-3;
    private const double CudaMeanNllTolerance = 1e-3;

    [Theory]
    [InlineData("mla-lora", "reference")]
    [InlineData("mla-direct", "reference")]
    [InlineData("mla-lora", "fused")]
    [InlineData("mla-direct", "fused")]
    [InlineData("mla-lora", "attention-layout")]
    [InlineData("mla-direct", "attention-layout")]
    public void Should_match_transformers_hidden_states_of_every_layer_in_fp32(string model, string variant)
    {
        var options = Variant(variant);
        using var scope = NewDisposeScope();
        var fixture = HfFixture.Get(model);
        var config = fixture.Config;
        var ids = fixture.Reference("input_ids");
        var positions = arange(ids.shape[1], ScalarType.Int64);

        // hidden_fp32 holds the embeddings and the outputs of layers 0 .. L-2; transformers reports the last layer's
        // output only after the final norm (normed_fp32), so that one is compared normed.
        var reference = fixture.Reference("hidden_fp32");
        using var table = fixture.Read("model.embed_tokens.weight", ScalarType.Float32, CPU);
        var hidden = CausalLmForward.Embed(table, ids);
        Assert.Equal(0.0, HfFixture.MaxAbsDiff(hidden, reference[0]));
        for (var layer = 0; layer < config.NumHiddenLayers; layer++)
        {
            using var weights = DecoderLayerWeights.Load(config, layer, fixture, CPU, ScalarType.Float32);
            hidden = DecoderLayer.Run(weights, hidden, positions, null, options);
            var last = layer == config.NumHiddenLayers - 1;
            var (ours, theirs) = last
                ? (FinalNorm(fixture, hidden), fixture.Reference("normed_fp32"))
                : (hidden, reference[layer + 1]);
            var diff = HfFixture.MaxAbsDiff(ours, theirs);
            output.WriteLine($"{model} {variant} layer {layer}{(last ? " (after the final norm)" : "")}: max |Δhidden| = {diff:E2}, max |hidden| = {theirs.abs().max().item<float>():F2}");
            Assert.True(diff <= Fp32Tolerance, $"layer {layer}: max abs diff {diff:E3} > {Fp32Tolerance}");
        }
    }

    [Theory]
    [InlineData("mla-lora")]
    [InlineData("mla-direct")]
    public void Should_match_transformers_logits_and_nll_in_fp32(string model)
    {
        var fixture = HfFixture.Get(model);
        using var result = CausalLmForward.Run(fixture.Config, fixture, fixture.Reference("input_ids"),
            new CausalLmOptions(CPU, ScalarType.Float32) { KeepLogits = true });

        var logitsDiff = HfFixture.MaxAbsDiff(result.Logits!, fixture.Reference("logits_fp32"));
        var nllDiff = HfFixture.MaxAbsDiff(result.Nll, fixture.Reference("nll_fp32"));
        output.WriteLine($"{model} fp32: max |Δlogits| = {logitsDiff:E2}, max |Δnll| = {nllDiff:E2}, mean nll {result.MeanNll:F5}");
        Assert.True(logitsDiff <= Fp32Tolerance, $"logits max abs diff {logitsDiff:E3}");
        Assert.True(nllDiff <= Fp32Tolerance, $"nll max abs diff {nllDiff:E3}");
    }

    [Theory]
    [InlineData("mla-lora", "reference")]
    [InlineData("mla-direct", "reference")]
    [InlineData("mla-lora-fp8", "reference")]
    [InlineData("mla-lora", "fused")]
    [InlineData("mla-direct", "fused")]
    [InlineData("mla-lora-fp8", "fused")]
    public void Should_match_transformers_in_bf16(string model, string variant)
    {
        var fixture = HfFixture.Get(model);
        var ids = fixture.Reference("input_ids");
        using var result = CausalLmForward.Run(fixture.Config, fixture, ids,
            new CausalLmOptions(CPU, ScalarType.BFloat16) { KeepLogits = true, Forward = Variant(variant) });
        var referenceNll = fixture.Reference("nll_bf16");
        var expected = referenceNll.mean().item<float>();

        // At position 0 attention is the identity on v in every kernel, so all other rounding (embedding, norms, every
        // product, rope, routing, expert combine, head) is compared bit for bit there.
        var firstTokenDiff = HfFixture.MaxAbsDiff(result.Nll.select(1, 0), referenceNll.select(1, 0));

        // transformers' bf16 logits exist for the FP8 model; the fp32 models are compared with their fp32 logits.
        var referenceLogits = fixture.Name == "mla-lora-fp8" ? fixture.Reference("logits_bf16") : fixture.Reference("logits_fp32");
        var relativeLogits = ((result.Logits! - referenceLogits).norm() / referenceLogits.norm()).item<float>();
        output.WriteLine($"{model} {variant} bf16: mean nll {result.MeanNll:F5}, transformers {expected:F5} (Δ {result.MeanNll - expected:+0.00000;-0.00000}); position-0 max |Δnll| {firstTokenDiff:E1}; relative logits error {relativeLogits:E2}");
        Assert.Equal(0.0, firstTokenDiff);
        Assert.InRange(result.MeanNll, expected - MeanNllTolerance, expected + MeanNllTolerance);
        Assert.True(relativeLogits <= 0.1, $"relative logits error {relativeLogits:E2}");
    }

    [GpuTheory]
    [InlineData("mla-lora", "reference")]
    [InlineData("mla-direct", "reference")]
    [InlineData("mla-lora-fp8", "reference")]
    [InlineData("mla-lora", "fused")]
    [InlineData("mla-direct", "fused")]
    [InlineData("mla-lora-fp8", "fused")]
    public void Should_match_transformers_mean_nll_within_1e_3_in_bf16_on_cuda(string model, string variant)
    {
        var fixture = HfFixture.Get(model);
        using var result = CausalLmForward.Run(fixture.Config, fixture, fixture.Reference("input_ids"),
            new CausalLmOptions(new Device(DeviceType.CUDA, 0), ScalarType.BFloat16) { Forward = Variant(variant) });
        var expected = fixture.Reference("nll_bf16").mean().item<float>();
        output.WriteLine($"{model} {variant} bf16 on CUDA: mean nll {result.MeanNll:F5}, transformers {expected:F5}");
        Assert.InRange(result.MeanNll, expected - CudaMeanNllTolerance, expected + CudaMeanNllTolerance);
    }

    [Fact]
    public void Should_give_the_same_nll_for_any_micro_batch_and_with_offloaded_hidden_states()
    {
        var fixture = HfFixture.Get("mla-lora");
        var ids = fixture.Reference("input_ids");
        using var whole = CausalLmForward.Run(fixture.Config, fixture, ids, new CausalLmOptions(CPU, ScalarType.Float32) { MicroBatch = 2 });
        using var single = CausalLmForward.Run(fixture.Config, fixture, ids,
            new CausalLmOptions(CPU, ScalarType.Float32) { MicroBatch = 1, OffloadHidden = true });

        Assert.Null(whole.Logits);
        Assert.Equal([2, ids.shape[1] - 1], whole.Nll.shape);
        Assert.True(HfFixture.MaxAbsDiff(whole.Nll, single.Nll) <= 1e-5);
    }

    private static ForwardOptions Variant(string name) => ForwardOptions.Variants.Single(v => v.Name == name).Options;

    private static Tensor FinalNorm(HfFixture fixture, Tensor hidden)
    {
        using var weight = fixture.Read("model.norm.weight", ScalarType.Float32, CPU);
        var variance = hidden.pow(2).mean([-1L], keepdim: true);
        return hidden.mul(variance.add(fixture.Config.RmsNormEps).rsqrt()).mul(weight);
    }
}

using System.Security.Cryptography;
using System.Text.Json.Nodes;
using MoeQuant.Kernels.Tensors;
using MoeQuant.Model.Evaluation;
using MoeQuant.Model.Export;
using MoeQuant.Model.TinyModel;
using static TorchSharp.torch;

namespace MoeQuant.Model.Tests.Export;

/// <summary>
/// A packed checkpoint MoeQuant wrote (the built-in model, 4-bit symmetric, groups of 64, act-order) against
/// tools/verify/unpack_compressed_tensors.py, which unpacked it with torch from the format spec alone and ran
/// transformers' DeepseekV3ForCausalLM on the result (H100, bf16; transformers-reference.json, made by
/// `python3 tools/verify/unpack_compressed_tensors.py --packed tests/Model.Tests/Fixtures/packed-tiny-w4g64
/// --input-ids assets/tiny-deepseek-v3/heldout_ids.jsonl --out transformers-reference.json` on the GPU machine).
/// </summary>
public sealed class PackedCheckpointReferenceTests
{
    private static readonly string Folder = Fixtures.PathOf("packed-tiny-w4g64");

    private static JsonNode Reference => JsonNode.Parse(File.ReadAllText(Path.Combine(Folder, "transformers-reference.json")))!;

    [Fact]
    public void Should_unpack_every_quantized_weight_to_the_bytes_the_independent_unpacker_got()
    {
        var expected = Reference["dequantized_sha256"]!.AsObject();
        using var packed = CompressedTensorsCheckpoint.Open(Folder);

        Assert.Equal(176, expected.Count);
        foreach (var (name, hash) in expected)
        {
            using var weight = packed.Weights.Read(name, ScalarType.BFloat16, CPU);
            using var bytes = new MemoryStream();
            TensorBytes.Write(weight, bytes);
            Assert.True(Convert.ToHexStringLower(SHA256.HashData(bytes.ToArray())) == (string)hash!, $"{name}: dequantized bytes differ from the torch unpacker's");
        }
    }

    [Fact]
    public void Should_reproduce_the_held_out_nll_transformers_measured_on_the_unpacked_weights()
    {
        var expected = (double)Reference["mean_nll"]!;
        using var model = EvalWeightSources.Open(Folder);
        var data = TokenIdLines.Read(BuiltInModel.HeldOutIds, model.Config.VocabSize);

        var result = PerplexityEvaluator.Evaluate(model.Config, model.Weights, data.Sequences, new PerplexityOptions(CPU, ScalarType.BFloat16));

        Assert.Equal(EvalCheckpointKind.Packed, model.Kind);
        Assert.Equal((long)Reference["predicted_tokens"]!, result.Tokens);
        Assert.InRange(result.MeanNll, expected - 1e-3, expected + 1e-3);
    }
}

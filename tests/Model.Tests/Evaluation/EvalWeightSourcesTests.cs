using System.Text.Json.Nodes;
using MoeQuant.Model.Checkpoint;
using MoeQuant.Model.Evaluation;
using MoeQuant.Model.Tests.Checkpoint;
using MoeQuant.Model.TinyModel;
using static TorchSharp.torch;

namespace MoeQuant.Model.Tests.Evaluation;

public sealed class EvalWeightSourcesTests : IDisposable
{
    private readonly TempFolder _folder = new();

    public void Dispose() => _folder.Dispose();

    private string Tiny(string name) => TinyCheckpoint.EnsureWritten(_folder.File(name));

    /// <summary>Rewrites config.json of <paramref name="folder"/> through <paramref name="edit"/>.</summary>
    private static void EditConfig(string folder, Action<JsonObject> edit)
    {
        var path = Path.Combine(folder, "config.json");
        var config = JsonNode.Parse(File.ReadAllText(path))!.AsObject();
        edit(config);
        File.WriteAllText(path, config.ToJsonString());
    }

    [Fact]
    public void Should_give_a_bf16_copy_of_the_fp8_checkpoint_the_same_nll_in_bf16()
    {
        // The FP8 reader dequantizes in f32 and rounds once to bf16, so a bf16 copy (what a fake-quantized checkpoint
        // looks like) must give bit-equal bf16 results through the unquantized path.
        var fp8Folder = Tiny("fp8");
        var copyFolder = _folder.File("bf16");
        Directory.CreateDirectory(copyFolder);
        using (var checkpoint = ShardedCheckpoint.Open(fp8Folder))
        using (var scope = NewDisposeScope())
        {
            var source = new Model.Forward.CheckpointWeightSource(checkpoint);
            var entries = checkpoint.Tensors.Where(t => !t.Name.EndsWith("_scale_inv", StringComparison.Ordinal))
                .Select(t => t.Dtype == SafetensorsDtype.F8_E4M3
                    ? SafetensorsEntry.FromTensor(t.Name, source.Read(t.Name, ScalarType.BFloat16, CPU))
                    : SafetensorsEntry.FromTensor(t.Name, checkpoint.ReadTensorCopy(t.Name)))
                .ToList();
            SafetensorsWriter.WriteFile(Path.Combine(copyFolder, ShardedCheckpoint.SingleFileName), entries);
        }

        File.Copy(Path.Combine(fp8Folder, "config.json"), Path.Combine(copyFolder, "config.json"));
        EditConfig(copyFolder, c => c.Remove("quantization_config"));
        int[][] sequences = [[3, 1, 4, 1, 5, 9, 2, 6], [5, 3, 5]];
        var options = new PerplexityOptions(CPU, ScalarType.BFloat16);

        using var fp8 = EvalWeightSources.Open(fp8Folder);
        using var copy = EvalWeightSources.Open(copyFolder);
        var fromFp8 = PerplexityEvaluator.Evaluate(fp8.Config, fp8.Weights, sequences, options);
        var fromCopy = PerplexityEvaluator.Evaluate(copy.Config, copy.Weights, sequences, options);

        Assert.Equal((EvalCheckpointKind.Fp8, EvalCheckpointKind.Unquantized), (fp8.Kind, copy.Kind));
        Assert.True(double.IsFinite(fromFp8.MeanNll));
        Assert.Equal(fromFp8.TotalNll, fromCopy.TotalNll);
    }

    [Fact]
    public void Should_read_a_config_marked_packed_through_the_packed_reader_and_say_what_it_lacks()
    {
        var folder = Tiny("packed");
        EditConfig(folder, c => c["quantization_config"] = new JsonObject { ["quant_method"] = "compressed-tensors", ["format"] = "pack-quantized" });

        var error = Assert.ThrowsAny<UserInputException>(() => EvalWeightSources.Open(folder));

        Assert.Contains("config_groups", error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void Should_name_a_tensor_the_forward_needs_that_the_checkpoint_lacks()
    {
        // Layer 0 becomes an MoE layer, whose router the tiny checkpoint (dense layer 0) does not hold.
        var folder = Tiny("missing");
        EditConfig(folder, c => c["first_k_dense_replace"] = 0);

        var error = Assert.Throws<CheckpointException>(() => EvalWeightSources.Open(folder));

        Assert.Equal(CheckpointErrorKind.TensorNotFound, error.Kind);
        Assert.StartsWith("model.layers.0.mlp.", error.Tensor, StringComparison.Ordinal);
        Assert.EndsWith("missing from the checkpoint, and the forward pass needs it", error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void Should_name_a_tensor_whose_shape_the_config_contradicts()
    {
        var folder = Tiny("shape");
        EditConfig(folder, c => c["vocab_size"] = 2048);

        var error = Assert.Throws<CheckpointException>(() => EvalWeightSources.Open(folder));

        Assert.Equal(
            $"{Path.Combine(folder, ShardedCheckpoint.SingleFileName)}: tensor 'model.embed_tokens.weight': shape [1024, 64], but config.json implies [2048, 64]",
            error.Message);
    }

    [Fact]
    public void Should_report_a_truncated_shard_as_a_user_error()
    {
        var folder = Tiny("truncated");
        using (var file = File.OpenWrite(Path.Combine(folder, ShardedCheckpoint.SingleFileName)))
        {
            file.SetLength(file.Length - 100);
        }

        var error = Assert.Throws<CheckpointException>(() => EvalWeightSources.Open(folder));

        Assert.Contains("truncated", error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void Should_name_the_folder_when_it_does_not_exist()
    {
        var missing = _folder.File("nope");

        var error = Assert.Throws<UserInputException>(() => EvalWeightSources.Open(missing));

        Assert.Equal($"--model-name-or-path {missing}: folder does not exist", error.Message);
    }
}

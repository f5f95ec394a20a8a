using MoeQuant.Kernels.Fp8;
using MoeQuant.Model.Checkpoint;
using MoeQuant.Model.Config;
using MoeQuant.Model.Inspection;
using MoeQuant.Model.Synthetic;
using MoeQuant.Model.Tests.Checkpoint;
using static TorchSharp.torch;

namespace MoeQuant.Model.Tests.Synthetic;

public sealed class SyntheticCheckpointTests : IDisposable
{
    private readonly TempFolder _folder = new();

    public void Dispose() => _folder.Dispose();

    [Fact]
    public void Should_describe_DeepSeek_V3_with_five_layers_by_default()
    {
        var config = new SyntheticModelShape().ToConfig();

        Assert.Equal((129280, 7168, 18432, 2048), (config.VocabSize, config.HiddenSize, config.IntermediateSize, config.MoeIntermediateSize));
        Assert.Equal((5, 3, 0), (config.NumHiddenLayers, config.FirstKDenseReplace, config.NumNextnPredictLayers));
        Assert.Equal((128, 128, 1536, 512), (config.NumAttentionHeads, config.NumKeyValueHeads, config.QLoraRank, config.KvLoraRank));
        Assert.Equal((128, 64, 128), (config.QkNopeHeadDim, config.QkRopeHeadDim, config.VHeadDim));
        Assert.Equal((256, 1, 8, 8, 4), (config.NRoutedExperts, config.NSharedExperts, config.NumExpertsPerTok, config.NGroup, config.TopkGroup));
        Assert.Equal(new RopeScaling("yarn", 40, 4096, 32, 1, 1, 1), config.RopeScaling);
        Assert.Equal(("sigmoid", "noaux_tc", 2.5, 163840), (config.ScoringFunc, config.TopkMethod, config.RoutedScalingFactor, config.MaxPositionEmbeddings));
        Assert.Equal([128, 128], config.Fp8Quantization!.WeightBlockSize.ToArray());
        // Embedding and lm_head 1.85 GB each, three dense layers 0.58 GB each, two MoE layers 11.5 GB each: 26.5 GiB.
        Assert.Equal(28_481_552_480L, SyntheticTensors.For(config, 0).Sum(t => t.ByteLength));
    }

    [Fact]
    public void Should_write_every_tensor_its_config_expects_in_shards_with_an_index_and_no_NaN_codes()
    {
        var shape = SyntheticModels.Small;

        var result = SyntheticCheckpoint.Write(_folder.Path, shape.ToConfigJson(), new() { MaxShardBytes = 400_000, CalibrationSamples = 3, SequenceLength = 5 });

        using var checkpoint = ShardedCheckpoint.Open(_folder.Path);
        var config = DeepseekV3Config.Load(_folder.File("config.json"));
        var summary = CheckpointSummary.Create(config, checkpoint.Tensors);
        Assert.Equal((0, 0, 0), (summary.Check.Missing.Length, summary.Check.Unexpected.Length, summary.Check.Mismatched.Length));
        Assert.True(checkpoint.Shards.Count > 1, "a small shard limit gives several shards");
        Assert.True(File.Exists(_folder.File(ShardedCheckpoint.IndexFileName)));
        Assert.True(File.Exists(_folder.File("generation_config.json")));
        Assert.Equal(_folder.File("config.json"), result.Files[^1]);
        Assert.Equal(checkpoint.Tensors.Sum(t => t.ByteLength), result.TensorBytes);
        Assert.All(checkpoint.Tensors.Where(t => t.Dtype == SafetensorsDtype.F8_E4M3),
            t => Assert.DoesNotContain(checkpoint.GetBytes(t.Name).ToArray(), b => (b & 0x7F) == 0x7F));
        Assert.Equal(SafetensorsDtype.BF16, checkpoint.GetHeader("model.layers.1.mlp.gate.weight").Dtype);
        Assert.Equal(SafetensorsDtype.F32, checkpoint.GetHeader("model.layers.1.mlp.gate.e_score_correction_bias").Dtype);
        Assert.Equal([3L, 2L], checkpoint.GetHeader("model.layers.0.mlp.gate_proj.weight_scale_inv").Shape.ToArray());
        Assert.Empty(Directory.EnumerateFiles(_folder.Path, "*.tmp"));
    }

    [Fact]
    public void Should_draw_linear_weights_with_a_deviation_of_one_over_the_root_of_their_fan_in()
    {
        SyntheticCheckpoint.Write(_folder.Path, SyntheticModels.Small.ToConfigJson(), new());
        using var checkpoint = ShardedCheckpoint.Open(_folder.Path);

        foreach (var name in new[] { "model.layers.0.mlp.down_proj.weight", "model.layers.1.self_attn.q_a_proj.weight", "model.layers.2.mlp.experts.7.up_proj.weight", "model.layers.1.mlp.gate.weight" })
        {
            using var weight = checkpoint.ReadDequantizedWeight(name, ScalarType.Float32);
            var expected = 1 / Math.Sqrt(weight.shape[1]);
            Assert.InRange(weight.std().item<float>(), 0.9 * expected, 1.1 * expected);
            Assert.InRange(weight.mean().item<float>(), -0.05 * expected, 0.05 * expected);
        }

        using var norm = checkpoint.ReadTensor("model.layers.0.input_layernorm.weight").to_type(ScalarType.Float32);
        Assert.InRange(norm.min().item<float>(), 0.89f, 1f);
        Assert.InRange(norm.max().item<float>(), 1f, 1.11f);
        // Codes of a normal of deviation 100: the largest ones come close to E4M3's 448.
        var codes = checkpoint.GetBytes("model.layers.0.mlp.gate_proj.weight").ToArray();
        Assert.InRange(codes.Max(c => Math.Abs(Fp8E4M3.Decode(c))), 300f, 448f);
    }

    [Fact]
    public void Should_write_the_same_bytes_for_a_seed_whatever_the_thread_count()
    {
        using var other = new TempFolder();
        using var reseeded = new TempFolder();
        var json = SyntheticModels.Small.ToConfigJson();

        SyntheticCheckpoint.Write(_folder.Path, json, new() { Seed = 5, Threads = 1, MaxShardBytes = 300_000, CalibrationSamples = 2, SequenceLength = 9 });
        SyntheticCheckpoint.Write(other.Path, json, new() { Seed = 5, Threads = 3, MaxShardBytes = 300_000, CalibrationSamples = 2, SequenceLength = 9 });
        SyntheticCheckpoint.Write(reseeded.Path, json, new() { Seed = 6, Threads = 3, MaxShardBytes = 300_000, CalibrationSamples = 2, SequenceLength = 9 });

        var files = Directory.GetFiles(_folder.Path).Select(Path.GetFileName).Order().ToList();
        Assert.Equal(files, Directory.GetFiles(other.Path).Select(Path.GetFileName).Order());
        foreach (var file in files)
        {
            Assert.True(File.ReadAllBytes(_folder.File(file!)).SequenceEqual(File.ReadAllBytes(other.File(file!))), file);
        }

        var shard = files.First(f => f!.EndsWith(".safetensors", StringComparison.Ordinal))!;
        Assert.False(File.ReadAllBytes(_folder.File(shard)).SequenceEqual(File.ReadAllBytes(reseeded.File(shard))));
        Assert.NotEqual(File.ReadAllText(_folder.File(SyntheticCheckpoint.CalibrationFileName)), File.ReadAllText(reseeded.File(SyntheticCheckpoint.CalibrationFileName)));
    }

    [Fact]
    public void Should_write_calibration_lines_of_token_ids_inside_the_vocabulary()
    {
        SyntheticCheckpoint.Write(_folder.Path, SyntheticModels.Small.ToConfigJson(), new() { CalibrationSamples = 4, SequenceLength = 300 });

        var lines = File.ReadAllLines(_folder.File(SyntheticCheckpoint.CalibrationFileName));
        Assert.Equal(4, lines.Length);
        var ids = lines.Select(l => System.Text.Json.JsonSerializer.Deserialize<int[]>(l)!).ToList();
        Assert.All(ids, line => Assert.Equal(300, line.Length));
        Assert.All(ids.SelectMany(i => i), id => Assert.InRange(id, 0, 511));
        Assert.True(ids.SelectMany(i => i).Distinct().Count() > 400, "ids spread over the vocabulary");
    }

    [Fact]
    public void Should_refuse_a_folder_with_a_checkpoint_unless_told_to_overwrite_it_and_then_leave_no_stale_shard()
    {
        var json = SyntheticModels.Small.ToConfigJson();
        SyntheticCheckpoint.Write(_folder.Path, json, new() { MaxShardBytes = 300_000 });

        Assert.Throws<UserInputException>(() => SyntheticCheckpoint.Write(_folder.Path, json, new()));
        SyntheticCheckpoint.Write(_folder.Path, json, new() { Overwrite = true });

        Assert.Equal(["config.json", "generation_config.json", "model.safetensors"], Directory.GetFiles(_folder.Path).Select(Path.GetFileName).Order());
        using var checkpoint = ShardedCheckpoint.Open(_folder.Path);
    }

    [Fact]
    public void Should_name_the_config_field_that_does_not_fit()
    {
        var shape = SyntheticModels.Small with { NGroup = 3 };

        var error = Assert.Throws<ConfigException>(() => SyntheticCheckpoint.Write(_folder.Path, shape.ToConfigJson(), new()));

        Assert.Contains("n_group", error.Message, StringComparison.Ordinal);
        Assert.Empty(Directory.EnumerateFileSystemEntries(_folder.Path));
    }
}

using System.Text.Json.Nodes;
using MoeQuant.Model.Config;

namespace MoeQuant.Model.Tests.Config;

public sealed class DeepseekV3ConfigErrorTests : IDisposable
{
    private const string Path = "/models/broken/config.json";
    private readonly string _folder = Directory.CreateTempSubdirectory("moequant-config-").FullName;

    public void Dispose() => Directory.Delete(_folder, recursive: true);

    [Fact]
    public void Should_name_the_file_when_config_json_is_missing()
    {
        var path = System.IO.Path.Combine(_folder, "config.json");

        var e = Assert.Throws<ConfigException>(() => DeepseekV3Config.Load(path));

        Assert.Equal(path, e.ConfigPath);
        Assert.StartsWith(path + ": not found", e.Message, StringComparison.Ordinal);
        Assert.IsAssignableFrom<UserInputException>(e);
    }

    [Fact]
    public void Should_read_the_file_when_config_json_exists()
    {
        var path = System.IO.Path.Combine(_folder, "config.json");
        File.WriteAllText(path, ConfigTexts.KimiK2);

        Assert.Equal(384, DeepseekV3Config.Load(path).NRoutedExperts);
    }

    [Theory]
    [InlineData("")]
    [InlineData("{\"hidden_size\": 7168")]
    [InlineData("hidden_size = 7168")]
    public void Should_name_the_file_when_config_json_is_not_JSON(string text)
    {
        var e = Assert.Throws<ConfigException>(() => DeepseekV3Config.Parse(text, Path));

        Assert.StartsWith(Path + ": is not valid JSON", e.Message, StringComparison.Ordinal);
        Assert.Null(e.Field);
    }

    [Theory]
    [InlineData("[1, 2]", "a list")]
    [InlineData("\"DeepseekV3ForCausalLM\"", "the string")]
    [InlineData("null", "null")]
    public void Should_name_the_file_when_config_json_is_not_an_object(string text, string found)
    {
        var e = Assert.Throws<ConfigException>(() => DeepseekV3Config.Parse(text, Path));

        Assert.StartsWith($"{Path}: must hold a JSON object, not {found}", e.Message, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData("hidden_size")]
    [InlineData("vocab_size")]
    [InlineData("num_hidden_layers")]
    [InlineData("kv_lora_rank")]
    [InlineData("qk_rope_head_dim")]
    [InlineData("moe_intermediate_size")]
    [InlineData("num_experts_per_tok")]
    [InlineData("n_group")]
    [InlineData("norm_topk_prob")]
    [InlineData("rms_norm_eps")]
    [InlineData("q_lora_rank")]
    [InlineData("n_routed_experts")]
    public void Should_name_the_field_when_a_required_field_is_missing(string field)
    {
        var json = ConfigTexts.DeepseekV3With(o => o.Remove(field));

        var e = Assert.Throws<ConfigException>(() => DeepseekV3Config.Parse(json, Path));

        Assert.Equal(field, e.Field);
        Assert.StartsWith($"{Path}: field \"{field}\" is missing", e.Message, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData("hidden_size", "\"7168\"", "must be an integer, not the string \"7168\"")]
    [InlineData("num_hidden_layers", "61.5", "must be an integer, not the number 61.5")]
    [InlineData("norm_topk_prob", "1", "must be true or false, not the number 1")]
    [InlineData("rms_norm_eps", "\"1e-6\"", "must be a number, not the string \"1e-6\"")]
    [InlineData("hidden_act", "[\"silu\"]", "must be a string, not a list")]
    [InlineData("rope_scaling", "\"yarn\"", "must be an object, not the string \"yarn\"")]
    [InlineData("architectures", "\"DeepseekV3ForCausalLM\"", "must be a list of strings, not the string")]
    [InlineData("eos_token_id", "[1, \"2\"]", "must be a list of integers, but holds the string \"2\"")]
    public void Should_name_the_field_when_a_field_has_the_wrong_type(string field, string value, string problem)
    {
        var json = ConfigTexts.DeepseekV3With(o => o[field] = JsonNode.Parse(value));

        var e = Assert.Throws<ConfigException>(() => DeepseekV3Config.Parse(json, Path));

        Assert.Equal(field, e.Field);
        Assert.StartsWith($"{Path}: field \"{field}\" {problem}", e.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void Should_name_the_nested_field_when_a_rope_scaling_field_is_missing()
    {
        var json = ConfigTexts.DeepseekV3With(o => o["rope_scaling"]!.AsObject().Remove("factor"));

        var e = Assert.Throws<ConfigException>(() => DeepseekV3Config.Parse(json, Path));

        Assert.Equal("rope_scaling.factor", e.Field);
    }

    [Theory]
    [InlineData("LlamaForCausalLM")]
    [InlineData("Qwen3MoeForCausalLM")]
    public void Should_name_the_architecture_when_it_is_not_DeepSeek_V3(string architecture)
    {
        var json = ConfigTexts.DeepseekV3With(o => o["architectures"] = new JsonArray(architecture));

        var e = Assert.Throws<ConfigException>(() => DeepseekV3Config.Parse(json, Path));

        Assert.Equal("architectures", e.Field);
        Assert.StartsWith($"{Path}: field \"architectures\" names {architecture}, which is not supported", e.Message, StringComparison.Ordinal);
        Assert.DoesNotContain('\n', e.Message);
    }

    [Fact]
    public void Should_name_model_type_when_architectures_is_absent_and_model_type_is_another()
    {
        var json = ConfigTexts.DeepseekV3With(o =>
        {
            o.Remove("architectures");
            o["model_type"] = "llama";
        });

        var e = Assert.Throws<ConfigException>(() => DeepseekV3Config.Parse(json, Path));

        Assert.Equal("model_type", e.Field);
        Assert.Contains("is llama", e.Message, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData("num_experts_per_tok", 257, "num_experts_per_tok", "(257) exceeds n_routed_experts (256)")]
    [InlineData("n_group", 7, "n_group", "(7) does not divide n_routed_experts (256)")]
    [InlineData("topk_group", 9, "topk_group", "(9) must be between 1 and n_group (8)")]
    [InlineData("topk_group", 0, "topk_group", "(0) must be between 1 and n_group (8)")]
    [InlineData("hidden_size", 0, "hidden_size", "must be positive, not 0")]
    [InlineData("qk_rope_head_dim", 63, "qk_rope_head_dim", "must be even (rotary pairs), not 63")]
    [InlineData("moe_layer_freq", 0, "moe_layer_freq", "must be positive, not 0")]
    [InlineData("num_nextn_predict_layers", -1, "num_nextn_predict_layers", "must not be negative, not -1")]
    public void Should_name_the_field_when_values_are_inconsistent(string field, int value, string blamed, string problem)
    {
        var json = ConfigTexts.DeepseekV3With(o => o[field] = value);

        var e = Assert.Throws<ConfigException>(() => DeepseekV3Config.Parse(json, Path));

        Assert.Equal($"{Path}: field \"{blamed}\" {problem}", e.Message);
    }

    [Fact]
    public void Should_name_num_experts_per_tok_when_the_kept_groups_hold_fewer_experts()
    {
        var json = ConfigTexts.DeepseekV3With(o =>
        {
            o["topk_group"] = 1;
            o["num_experts_per_tok"] = 33;
        });

        var e = Assert.Throws<ConfigException>(() => DeepseekV3Config.Parse(json, Path));

        Assert.Equal($"{Path}: field \"num_experts_per_tok\" (33) exceeds the experts in topk_group (1) groups of 32", e.Message);
    }

    [Theory]
    [InlineData("quant_method", "\"compressed-tensors\"", "quantization_config.quant_method")]
    [InlineData("fmt", "\"e5m2\"", "quantization_config.fmt")]
    [InlineData("weight_block_size", "[128]", "quantization_config.weight_block_size")]
    [InlineData("weight_block_size", "null", "quantization_config.weight_block_size")]
    public void Should_name_the_field_when_quantization_config_is_not_block_FP8(string field, string value, string blamed)
    {
        var json = ConfigTexts.DeepseekV3With(o => o["quantization_config"]![field] = JsonNode.Parse(value));

        var e = Assert.Throws<ConfigException>(() => DeepseekV3Config.Parse(json, Path));

        Assert.Equal(blamed, e.Field);
    }

    [Fact]
    public void Should_name_the_field_when_torch_dtype_is_not_a_float_type()
    {
        var e = Assert.Throws<ConfigException>(() => DeepseekV3Config.Parse(ConfigTexts.DeepseekV3With(o => o["torch_dtype"] = "int8"), Path));

        Assert.Equal("torch_dtype", e.Field);
    }
}

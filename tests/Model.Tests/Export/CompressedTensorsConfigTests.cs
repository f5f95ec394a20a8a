using System.Text.Json;
using System.Text.Json.Nodes;
using MoeQuant.Model.Config;
using MoeQuant.Model.Export;

namespace MoeQuant.Model.Tests.Export;

/// <summary>The quantization_config of FORMATS.md §3.6: what MoeQuant writes, and what its reader accepts.</summary>
public sealed class CompressedTensorsConfigTests
{
    private const string Path = "/m/config.json";

    [Fact]
    public void Should_write_the_keys_compressed_tensors_accepts_and_no_others()
    {
        var json = CompressedTensorsConfig.For(new QuantizationScheme(4, 128, Symmetric: true, DynamicGroups: false), ["lm_head", @"re:.*mlp\.gate$"]).ToJson();

        var expected = JsonNode.Parse("""
            {
              "config_groups": {
                "group_0": {
                  "input_activations": null,
                  "output_activations": null,
                  "targets": ["Linear"],
                  "weights": {
                    "actorder": null, "block_structure": null, "dynamic": false, "group_size": 128, "num_bits": 4,
                    "observer": "minmax", "observer_kwargs": {}, "strategy": "group", "symmetric": true, "type": "int"
                  }
                }
              },
              "format": "pack-quantized",
              "global_compression_ratio": null,
              "ignore": ["lm_head", "re:.*mlp\\.gate$"],
              "kv_cache_scheme": null,
              "quant_method": "compressed-tensors",
              "quantization_status": "compressed"
            }
            """);
        Assert.True(JsonNode.DeepEquals(expected, json), json.ToJsonString());
    }

    [Fact]
    public void Should_write_channel_strategy_and_group_actorder_when_the_scheme_says_so()
    {
        var weights = CompressedTensorsConfig.For(new QuantizationScheme(8, null, Symmetric: false, DynamicGroups: true), []).ToJson()["config_groups"]!["group_0"]!["weights"]!;

        Assert.Equal(("channel", null, "group", false), ((string?)weights["strategy"], (int?)weights["group_size"], (string?)weights["actorder"], (bool)weights["symmetric"]!));
    }

    [Theory]
    [InlineData("\"dynamic\"", true)]
    [InlineData("true", true)]
    [InlineData("\"group\"", true)]
    [InlineData("\"static\"", false)]
    [InlineData("false", false)]
    [InlineData("null", false)]
    public void Should_read_the_actorder_aliases(string actorder, bool dynamicGroups)
    {
        var config = Parse(Config(weights: $$"""{"num_bits": 4, "type": "int", "symmetric": true, "strategy": "group", "group_size": 64, "actorder": {{actorder}}}"""));

        Assert.Equal(new QuantizationScheme(4, 64, true, dynamicGroups), config.Groups[0].Scheme);
    }

    [Fact]
    public void Should_match_targets_and_ignore_entries_as_python_re_match_does()
    {
        var config = Parse(Config(
            weights: """{"num_bits": 4, "strategy": "channel"}""",
            targets: """["re:.*experts.*", "model.layers.0.self_attn.o_proj"]""",
            ignore: """["lm_head", "re:.*experts\\.3\\.", "re:down_proj"]"""));

        Assert.NotNull(config.SchemeOf("model.layers.1.mlp.experts.2.up_proj"));
        Assert.NotNull(config.SchemeOf("model.layers.0.self_attn.o_proj"));
        Assert.Null(config.SchemeOf("model.layers.1.mlp.experts.3.up_proj"));
        Assert.Null(config.SchemeOf("model.layers.1.self_attn.o_proj"));
        // re.match anchors at the start only: "down_proj" does not match a name that merely contains it.
        Assert.NotNull(config.SchemeOf("model.layers.1.mlp.experts.2.down_proj"));
        Assert.Null(config.SchemeOf("lm_head"));
    }

    [Theory]
    [InlineData("quant_method", "\"fp8\"", "quantization_config.quant_method", "expected compressed-tensors")]
    [InlineData("format", "\"naive-quantized\"", "quantization_config.format", "pack-quantized only")]
    [InlineData("config_groups", "{}", "quantization_config.config_groups", "missing or empty")]
    public void Should_name_the_field_of_an_unsupported_quantization_config(string field, string value, string blamed, string message)
    {
        var json = JsonNode.Parse(Config(weights: """{"num_bits": 4, "strategy": "channel"}"""))!;
        json["quantization_config"]![field] = JsonNode.Parse(value);

        var e = Assert.Throws<ConfigException>(() => Parse(json.ToJsonString()));

        Assert.Equal(blamed, e.Field);
        Assert.Contains(message, e.Message, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData("""{"num_bits": 8, "type": "float", "strategy": "channel"}""", "weights.type")]
    [InlineData("""{"num_bits": 4, "strategy": "tensor"}""", "weights.strategy")]
    [InlineData("""{"num_bits": 4, "strategy": "group"}""", "weights.group_size")]
    [InlineData("""{"num_bits": 16, "strategy": "channel"}""", "weights.num_bits")]
    [InlineData("""{"num_bits": 4, "strategy": "channel", "dynamic": true}""", "weights.dynamic")]
    public void Should_refuse_weight_schemes_it_cannot_dequantize(string weights, string field)
    {
        var e = Assert.Throws<ConfigException>(() => Parse(Config(weights)));

        Assert.Equal($"quantization_config.config_groups.g.{field}", e.Field);
    }

    [Fact]
    public void Should_refuse_schemes_that_quantize_activations()
    {
        var json = Config("""{"num_bits": 4, "strategy": "channel"}""").Replace("\"input_activations\": null", "\"input_activations\": {\"num_bits\": 8}", StringComparison.Ordinal);

        Assert.Equal("quantization_config.config_groups.g.input_activations", Assert.Throws<ConfigException>(() => Parse(json)).Field);
    }

    private static CompressedTensorsConfig Parse(string json)
    {
        using var document = JsonDocument.Parse(json);
        return CompressedTensorsConfig.Parse(document.RootElement, Path);
    }

    private static string Config(string weights, string targets = """["Linear"]""", string ignore = "[]") => $$$"""
        {"quantization_config": {
          "quant_method": "compressed-tensors", "format": "pack-quantized", "ignore": {{{ignore}}},
          "config_groups": {"g": {"input_activations": null, "targets": {{{targets}}}, "weights": {{{weights}}}}}
        }}
        """;
}

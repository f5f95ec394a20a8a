using MoeQuant.Model.Config;
using MoeQuant.Model.Forward;
using MoeQuant.Model.Tests.Config;

namespace MoeQuant.Model.Tests.Forward;

public sealed class LinearUnitTests
{
    private static readonly DeepseekV3Config DeepseekV3 = DeepseekV3Config.Parse(ConfigTexts.DeepseekV3, "config.json");

    [Fact]
    public void Should_list_the_gptq_units_of_a_dense_deepseek_v3_layer()
    {
        var units = LinearUnit.ForLayer(DeepseekV3, 0);
        Assert.Equal(
            ["self_attn.q_a_proj", "self_attn.kv_a_proj_with_mqa", "self_attn.q_b_proj", "self_attn.kv_b_proj", "self_attn.o_proj", "mlp.gate_proj", "mlp.up_proj", "mlp.down_proj"],
            units.Select(u => u.Name));
        Assert.Equal((24576L, 1536L), Shape(units, "self_attn.q_b_proj"));
        Assert.Equal((576L, 7168L), Shape(units, "self_attn.kv_a_proj_with_mqa"));
        Assert.Equal((32768L, 512L), Shape(units, "self_attn.kv_b_proj"));
        Assert.Equal((7168L, 16384L), Shape(units, "self_attn.o_proj"));
        Assert.Equal((7168L, 18432L), Shape(units, "mlp.down_proj"));
        Assert.Equal("self_attn.q_a_proj", units.Single(u => u.Name == "self_attn.kv_a_proj_with_mqa").InputGroup);
        Assert.Equal("mlp.gate_proj", units.Single(u => u.Name == "mlp.up_proj").InputGroup);
    }

    [Fact]
    public void Should_list_every_routed_and_shared_expert_of_a_moe_layer()
    {
        var units = LinearUnit.ForLayer(DeepseekV3, 3);
        Assert.Equal(5 + (256 * 3) + 3, units.Count);
        Assert.Equal((2048L, 7168L), Shape(units, "mlp.experts.255.gate_proj"));
        Assert.Equal((7168L, 2048L), Shape(units, "mlp.shared_experts.down_proj"));
        Assert.Equal(255, units.Single(u => u.Name == "mlp.experts.255.up_proj").Expert);
        Assert.Equal("mlp.experts.255.gate_proj", units.Single(u => u.Name == "mlp.experts.255.up_proj").InputGroup);
        Assert.Null(units.Single(u => u.Name == "mlp.shared_experts.up_proj").Expert);
    }

    [Fact]
    public void Should_read_the_direct_query_projection_when_q_lora_rank_is_null()
    {
        var units = LinearUnit.ForLayer(DeepseekV3 with { QLoraRank = null }, 0);
        Assert.Equal((24576L, 7168L), Shape(units, "self_attn.q_proj"));
        Assert.Equal("self_attn.q_proj", units.Single(u => u.Name == "self_attn.kv_a_proj_with_mqa").InputGroup);
        Assert.DoesNotContain(units, u => u.Name.StartsWith("self_attn.q_a", StringComparison.Ordinal) || u.Name == "self_attn.q_b_proj");
    }

    private static (long Out, long In) Shape(IReadOnlyList<LinearUnit> units, string name)
    {
        var unit = units.Single(u => u.Name == name);
        return (unit.OutFeatures, unit.InFeatures);
    }
}

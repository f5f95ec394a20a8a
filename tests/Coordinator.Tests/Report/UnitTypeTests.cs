using MoeQuant.Coordinator.Report;

namespace MoeQuant.Coordinator.Tests.Report;

public sealed class UnitTypeTests
{
    [Theory]
    [InlineData("mlp.experts.17.gate_proj", "mlp.experts.gate_proj")]
    [InlineData("mlp.experts.255.down_proj", "mlp.experts.down_proj")]
    [InlineData("mlp.shared_experts.down_proj", "mlp.shared_experts.down_proj")]
    [InlineData("self_attn.kv_b_proj", "self_attn.kv_b_proj")]
    [InlineData("mlp.gate_proj", "mlp.gate_proj")]
    public void Should_drop_the_expert_index_from_the_module_name(string module, string type) => Assert.Equal(type, UnitType.Of(module));
}

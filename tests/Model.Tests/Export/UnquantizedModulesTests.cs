using MoeQuant.Model.Config;
using MoeQuant.Model.Export;
using MoeQuant.Model.Forward;
using MoeQuant.Model.TinyModel;

namespace MoeQuant.Model.Tests.Export;

/// <summary>The ignore list derived from what was quantized (FORMATS.md §3.6), on the tiny model's layers.</summary>
public sealed class UnquantizedModulesTests
{
    private static readonly DeepseekV3Config Tiny = TinyModelConfig.Load();

    private static readonly List<string> Linears =
    [
        .. Enumerable.Range(0, Tiny.NumHiddenLayers).SelectMany(l => LinearUnit.ForLayer(Tiny, l).Select(u => $"model.layers.{l}.{u.Name}")),
    ];

    [Fact]
    public void Should_ignore_only_the_head_and_routers_when_every_linear_is_quantized()
    {
        var modules = UnquantizedModules.Of(Tiny, Linears.ToHashSet(), []);

        Assert.Equal(["lm_head", @"re:.*mlp\.gate$"], modules.Ignore);
        Assert.Empty(modules.Fallbacks);
    }

    [Fact]
    public void Should_name_whole_kinds_by_pattern_when_only_routed_experts_are_quantized()
    {
        var modules = UnquantizedModules.Of(Tiny, Linears.Where(l => l.Contains(".mlp.experts.", StringComparison.Ordinal)).ToHashSet(), []);

        Assert.Equal(["lm_head", @"re:.*mlp\.gate$", @"re:.*mlp\.(gate|up|gate_up|down)_proj.*", "re:.*self_attn.*", "re:.*shared_experts.*"], modules.Ignore);
        Assert.Empty(modules.Fallbacks);
    }

    [Fact]
    public void Should_name_single_fallbacks_exactly_and_kept_mtp_layers_by_pattern()
    {
        string[] failed = ["model.layers.1.self_attn.o_proj", "model.layers.3.mlp.experts.6.down_proj"];

        var modules = UnquantizedModules.Of(Tiny, Linears.Except(failed).ToHashSet(), [4]);

        Assert.Equal(["lm_head", @"re:.*mlp\.gate$", @"re:model\.layers\.4\..*", .. failed], modules.Ignore);
        Assert.Equal(failed, modules.Fallbacks);
    }
}

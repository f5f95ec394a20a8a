using MoeQuant.Kernels.Attention;

namespace MoeQuant.Kernels.Tests.Cuda;

/// <summary>Every attention kernel's TorchScript binds its ATen operator: compiling resolves the schema, on any device.</summary>
public sealed class FusedAttentionScriptTests
{
    [Theory]
    [InlineData(AttentionKernel.PaddedAuto)]
    [InlineData(AttentionKernel.Auto)]
    [InlineData(AttentionKernel.Flash)]
    [InlineData(AttentionKernel.Efficient)]
    [InlineData(AttentionKernel.Cudnn)]
    public void Should_compile_the_script_of_every_attention_kernel(AttentionKernel kernel)
    {
        Assert.NotNull(FusedAttention.Function(kernel, 0.135234));
    }
}

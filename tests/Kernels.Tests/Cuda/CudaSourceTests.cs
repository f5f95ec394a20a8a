using MoeQuant.Kernels.Cuda;

namespace MoeQuant.Kernels.Tests.Cuda;

/// <summary>The kernel sources NVRTC gets are self-contained: shared headers are inlined, once, where included.</summary>
public sealed class CudaSourceTests
{
    [Theory]
    [InlineData("GptqBlock", "gptq_block")]
    [InlineData("MseScale", "mse_scale")]
    public void Should_inline_the_shared_rounding_header_into_the_kernel_source(string source, string kernel)
    {
        var text = CudaModuleCache.ReadEmbeddedSource(source);

        Assert.DoesNotMatch(new System.Text.RegularExpressions.Regex("^#include", System.Text.RegularExpressions.RegexOptions.Multiline), text);
        Assert.Single(System.Text.RegularExpressions.Regex.Matches(text, @"float round_bf16\("));
        Assert.Single(System.Text.RegularExpressions.Regex.Matches(text, @"float round_fp16\("));
        Assert.True(text.IndexOf("round_bf16(", StringComparison.Ordinal) < text.IndexOf(kernel, StringComparison.Ordinal), "the helpers come before the kernel");
    }
}

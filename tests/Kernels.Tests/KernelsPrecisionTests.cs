using TorchSharp;

namespace MoeQuant.Kernels.Tests;

public class KernelsPrecisionTests
{
    [Fact]
    public void Should_turn_tf32_off_when_configured()
    {
        KernelsPrecision.Configure();

        Assert.True(KernelsPrecision.IsConfigured);
        Assert.False(torch.backends.cuda.matmul.allow_tf32);
        Assert.False(torch.backends.cudnn.allow_tf32);
    }
}

using MoeQuant.Kernels.Gptq;
using static TorchSharp.torch;

namespace MoeQuant.Kernels.Tests.Gptq;

public class GptqDeviceBenchmarkTests
{
    [Fact]
    public void Should_report_timings_and_a_gptq_gain_for_both_configurations_when_run_on_the_cpu()
    {
        var rows = GptqDeviceBenchmark.Run(CPU, [(32, 256)], tokens: 512, repeats: 1);

        Assert.Equal(2, rows.Count);
        Assert.All(rows, row =>
        {
            Assert.Equal("cpu", row.Device);
            Assert.True(row.GptqMilliseconds > 0);
            Assert.True(row.GptqLoss < row.RtnLoss);
        });
    }
}

using MoeQuant.Coordinator.Hosting;
using MoeQuant.Model;

namespace MoeQuant.Coordinator.Tests.Cli;

public sealed class DeviceListTests
{
    [Theory]
    [InlineData(null, 0, "cpu:0")]
    [InlineData(null, 2, "cuda:0 cuda:1")]
    [InlineData("cpu:3", 0, "cpu:0 cpu:1 cpu:2")]
    [InlineData("0-2,5", 8, "cuda:0 cuda:1 cuda:2 cuda:5")]
    [InlineData("1:2", 2, "cuda:1/0 cuda:1/1")]
    public void Should_name_one_executor_per_logical_device(string? flag, int cudaDevices, string expected) =>
        Assert.Equal(expected, string.Join(' ', DeviceList.Parse(flag, cudaDevices)));

    [Theory]
    [InlineData("0:2", 0, "--devices 0:2: there is no CUDA device 0 (this machine has no CUDA device; use --devices cpu)")]
    [InlineData("0:0", 1, "--devices 0:0: N:k needs a count k from 1 to 16")]
    [InlineData("x", 1, "--devices x: 'x' is not a device; use cpu, cpu:N, 0-7, 0,2 or 0:2")]
    public void Should_name_the_flag_and_what_is_wrong(string flag, int cudaDevices, string message) =>
        Assert.Equal(message, Assert.Throws<UserInputException>(() => DeviceList.Parse(flag, cudaDevices)).Message);
}

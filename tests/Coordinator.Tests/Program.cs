using MoeQuant.Coordinator.Cli;
using MoeQuant.Coordinator.Tests.Cli;
using MoeQuant.Coordinator.Tests.Pipeline;

namespace MoeQuant.Coordinator.Tests;

/// <summary>`dotnet MoeQuant.Coordinator.Tests.dll quantize ...` runs moequant with the fake workload, in a process of
/// its own that a test can kill.</summary>
public static class Program
{
    public static Task<int> Main(string[] args) => MoeQuantCli.Build(new FakeHeaderReader([]), new FakeWorkloadFactory()).Parse(args).InvokeAsync();
}

using MoeQuant.Coordinator.Cli;
using MoeQuant.Coordinator.Hosting;
using MoeQuant.Coordinator.Tests.Cli;
using MoeQuant.Coordinator.Tests.Pipeline;

namespace MoeQuant.Coordinator.Tests;

/// <summary>`dotnet MoeQuant.Coordinator.Tests.dll quantize ...` runs moequant in a process of its own that a test can
/// kill: with the fake workload, or with MOEQUANT_TEST_WORKLOAD=tiny the real maths on the tiny model; either way
/// MOEQUANT_FAKE_STEP_DELAY_MS slows every device step down.</summary>
public static class Program
{
    public const string WorkloadVariable = "MOEQUANT_TEST_WORKLOAD";

    public static Task<int> Main(string[] args)
    {
        IWorkloadFactory factory = Environment.GetEnvironmentVariable(WorkloadVariable) == "tiny"
            ? new DelayedWorkloadFactory(new TorchWorkloadFactory(), FakeWorkloadFactory.StepDelayMs)
            : new FakeWorkloadFactory();
        return MoeQuantCli.Build(new FakeHeaderReader([]), factory).Parse(args).InvokeAsync();
    }
}

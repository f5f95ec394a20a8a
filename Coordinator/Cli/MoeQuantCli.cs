using System.CommandLine;
using MoeQuant.Coordinator.Hosting;
using MoeQuant.Model.Inspection;

namespace MoeQuant.Coordinator.Cli;

/// <summary>The root command: each subcommand parses its flags and hands them to the code that does the work.</summary>
public static class MoeQuantCli
{
    /// <param name="headerReader">Lists a checkpoint's tensors for <c>inspect</c>: the safetensors reader, or synthetic headers in tests.</param>
    /// <param name="workloads">Builds the maths of <c>quantize</c>; a fake in tests.</param>
    public static RootCommand Build(ITensorHeaderReader headerReader, IWorkloadFactory? workloads = null)
    {
        var root = new RootCommand("MoeQuant: GPTQ quantization of DeepSeek-V3-family Mixture-of-Experts checkpoints")
        {
            InspectCommand.Create(headerReader),
            TokenizeCommand.Create(),
            DoctorCommand.Create(),
            Bench.BenchCommand.Create(),
            QuantizeCommand.Create(workloads ?? new TorchWorkloadFactory()),
            EvalCommand.Create(),
            ReportCommand.Create(),
            PackCommand.Create(),
            SynthModelCommand.Create(),
        };
        UserErrorAction.Apply(root);
        return root;
    }
}

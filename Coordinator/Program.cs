using MoeQuant.Coordinator.Cli;
using MoeQuant.Model.Checkpoint;

return await MoeQuantCli.Build(new CheckpointHeaderReader()).Parse(args).InvokeAsync();

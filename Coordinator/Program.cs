using MoeQuant.Coordinator.Cli;

return await MoeQuantCli.Build(new PendingSafetensorsReader()).Parse(args).InvokeAsync();

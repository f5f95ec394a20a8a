using MoeQuant.Coordinator.Cli;

return await MoeQuantCli.Build().Parse(args).InvokeAsync();

using BenchmarkDotNet.Running;
using MoeQuant.Benchmarks.Tokenization;

// A plain timing run for machines where BenchmarkDotNet's long runs don't fit (the GPU machine's device calls).
if (args.Length > 0 && args[0] == TokenizerThroughputCommand.Name)
{
    return TokenizerThroughputCommand.Run(args);
}

BenchmarkSwitcher.FromAssembly(typeof(Program).Assembly).Run(args);
return 0;

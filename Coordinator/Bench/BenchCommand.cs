using System.CommandLine;
using MoeQuant.Model.Forward;
using MoeQuant.Model.Synthetic;
using MoeQuant.Model.Tokenization;

namespace MoeQuant.Coordinator.Bench;

/// <summary>`moequant bench ...`: device benchmarks run on the GPU machine, each measuring its baseline in the same run.</summary>
public static class BenchCommand
{
    public static Command Create()
    {
        var output = new Option<string>("--out") { Description = "JSON Lines file the results are appended to", DefaultValueFactory = _ => "bench-results.jsonl", Recursive = true };
        var device = new Option<int>("--device") { Description = "CUDA device ordinal", DefaultValueFactory = _ => 0, Recursive = true };
        var tokens = new Option<int>("--tokens") { Description = "Calibration tokens per Hessian", DefaultValueFactory = _ => 65536 };

        var hessian = new Command("hessian", "Expert Hessian accumulation: bf16 tensor cores vs fp32 addmm") { tokens };
        hessian.SetAction(parseResult => HessianBenchmark.Run(Recorder(parseResult, output), parseResult.GetValue(device), parseResult.GetValue(tokens)));

        var batch = new Option<int>("--batch") { Description = "Matrices per batched launch", DefaultValueFactory = _ => 32 };
        var gptq = new Command("gptq-loop", "Fused GPTQ column loop vs a column-by-column torch loop") { batch };
        gptq.SetAction(parseResult => GptqLoopBenchmark.Run(Recorder(parseResult, output), parseResult.GetValue(device), 8192, parseResult.GetValue(batch)));

        var matmul = new Command("matmul", "3xTF32 batched products vs fp32");
        matmul.SetAction(parseResult => MatmulBenchmark.Run(Recorder(parseResult, output), parseResult.GetValue(device)));

        var problems = new Option<string>("--problems") { Description = "Weights and Hessians written by tools/bench/moequant_reference_gptq.py" };
        var baseline = new Option<string>("--moe-quant") { Description = "MoE-Quant's results (JSON Lines) from the same script" };
        var experts = new Option<int?>("--batch") { Description = "Instead: Gptq.QuantizeBatch on this many synthetic DeepSeek-V3 experts vs the single path" };
        var stages = new Option<bool>("--stages") { Description = "With --batch: also time every stage of each batched call (device synchronized between stages), recorded as gptq-batch-stages" };
        var config = new Option<string?>("--config") { Description = "With --batch: only this configuration (default+absmax or activation+mse)" };
        var profile = new Option<string?>("--profile") { Description = "With --batch: instead run one batched expert inside a profiler range for ncu --profile-from-start off: all (every launch) or sampled (some stage entries)" };
        var versus = new Command("gptq", "GPTQ engine vs MoE-Quant on the same weights and Hessians, or (--batch N) batched vs single path") { problems, baseline, experts, stages, config, profile };
        versus.Validators.Add(result =>
        {
            if (result.GetValue(experts) is null && (result.GetValue(problems) is null || result.GetValue(baseline) is null))
            {
                result.AddError("bench gptq needs --problems and --moe-quant, or --batch N");
            }

            if (result.GetValue(config) is { } name && !GptqBatchBenchmark.Configs.ContainsKey(name))
            {
                result.AddError($"--config must be one of {string.Join(", ", GptqBatchBenchmark.Configs.Keys)}, not {name}");
            }

            if (result.GetValue(profile) is { } mode && mode is not ("all" or "sampled"))
            {
                result.AddError($"--profile must be all or sampled, not {mode}");
            }
        });
        versus.SetAction(parseResult =>
        {
            if (parseResult.GetValue(experts) is { } count)
            {
                var recorder = Recorder(parseResult, output);
                var cuda = new TorchSharp.torch.Device(TorchSharp.DeviceType.CUDA, parseResult.GetValue(device));
                if (parseResult.GetValue(profile) is { } mode)
                {
                    GptqBatchProfile.Run(recorder, cuda, count, GptqBatchBenchmark.DeepSeekV3, parseResult.GetValue(config) ?? "default+absmax", sampled: mode == "sampled");
                    return;
                }

                GptqBatchBenchmark.Run(recorder, parseResult.GetValue(device), count, parseResult.GetValue(stages), parseResult.GetValue(config));
                return;
            }

            GptqBenchmark.Run(Recorder(parseResult, output), parseResult.GetValue(device), parseResult.GetValue(problems)!, parseResult.GetValue(baseline)!);
        });

        var fp8 = new Command("fp8", "FP8 block dequantization throughput vs a device copy");
        fp8.SetAction(parseResult => Fp8Benchmark.Run(Recorder(parseResult, output), parseResult.GetValue(device)));

        var sequences = new Option<int>("--sequences") { Description = "Sequences per forward", DefaultValueFactory = _ => 8 };
        var length = new Option<int>("--sequence-length") { Description = "Tokens per sequence", DefaultValueFactory = _ => 4096 };
        var transformers = new Option<string?>("--transformers") { Description = "JSON Lines printed by tools/bench_hf_layer.py in the same call" };
        var variants = new Option<string>("--variants")
        {
            Description = $"Comma-separated implementation variants measured after the reference: {string.Join(", ", ForwardOptions.Variants.Select(v => v.Name))}, or all",
            DefaultValueFactory = _ => "reference",
        };
        var phases = new Option<bool>("--phases") { Description = "Also time every phase of each variant (device synchronised at each boundary, separate runs) and record them with their FLOPs and bytes" };
        var builtIn = new Option<bool>("--built-in-dims") { Description = "The built-in model's dimensions instead of DeepSeek-V3's (a check of the benchmark; runs on the CPU where there is no GPU)" };
        var forward = new Command("forward", "One DeepSeek-V3 MoE layer forward vs transformers' layer") { sequences, length, transformers, variants, phases, builtIn };
        forward.Validators.Add(result =>
        {
            var unknown = VariantNames(result.GetValue(variants)!).Where(n => ForwardOptions.Variants.All(v => v.Name != n)).ToList();
            if (unknown.Count > 0)
            {
                result.AddError($"unknown --variants {string.Join(", ", unknown)}; known: {string.Join(", ", ForwardOptions.Variants.Select(v => v.Name))}, all");
            }
        });
        forward.SetAction(parseResult => ForwardLayerBenchmark.Run(
            Recorder(parseResult, output), parseResult.InvocationConfiguration.Output, parseResult.GetValue(device), parseResult.GetValue(sequences),
            parseResult.GetValue(length), parseResult.GetValue(builtIn), VariantNames(parseResult.GetValue(variants)!), parseResult.GetValue(phases),
            parseResult.GetValue(transformers)));

        var tokenize = Tokenize(output);
        var export = Export(output);

        return new Command("bench", "Device benchmarks (GPU machine); results as JSON Lines") { output, device, hessian, gptq, matmul, versus, fp8, forward, tokenize, export };
    }

    // CPU only: the GPU machine has the cores, python and HF tokenizers for the baseline, but no .NET SDK.
    private static Command Tokenize(Option<string> output)
    {
        var model = new Option<string?>("--model-name-or-path", "--model_name_or_path") { Description = "Folder holding tokenizer.json and tokenizer_config.json" };
        var text = new Option<string?>("--text") { Description = "JSON Lines of strings to encode (default: generated in memory)" };
        var writeText = new Option<string?>("--write-text") { Description = "Only write the generated benchmark text to this file, for tools/bench_tokenizer_hf.py and --text" };
        var megabytes = new Option<double>("--megabytes") { Description = "Size of the generated text", DefaultValueFactory = _ => TokenizerBenchText.DefaultBytes / 1e6 };
        var hf = new Option<string?>("--hf") { Description = "The JSON tools/bench_tokenizer_hf.py printed for the same --text file in the same call" };
        var repeat = new Option<int>("--repeat") { Description = "Timed passes per mode (one thread, all cores); the fastest counts", DefaultValueFactory = _ => 3 };
        var command = new Command("tokenize", "Tokenization throughput, one thread and all cores, vs HF tokenizers (Rust) on the same text")
        {
            model, text, writeText, megabytes, hf, repeat,
        };
        command.Validators.Add(result =>
        {
            if (result.GetValue(writeText) is null && result.GetValue(model) is null)
            {
                result.AddError("bench tokenize needs --model-name-or-path (or only --write-text FILE)");
            }
        });
        command.SetAction(parseResult =>
        {
            var bytes = (long)(parseResult.GetValue(megabytes) * 1e6);
            if (parseResult.GetValue(writeText) is { } path)
            {
                TokenizeBenchmark.WriteText(path, bytes, parseResult.InvocationConfiguration.Output);
                return;
            }

            TokenizeBenchmark.Run(Recorder(parseResult, output), parseResult.GetValue(model)!, parseResult.GetValue(text), bytes,
                parseResult.GetValue(hf), parseResult.GetValue(repeat));
        });
        return command;
    }

    private static IReadOnlyList<string> VariantNames(string list) =>
        list.Trim() == "all"
            ? [.. ForwardOptions.Variants.Select(v => v.Name)]
            : [.. list.Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries)];
    // CPU and disk only: a synthetic model and its quantized state, exported on one thread and on several.
    private static Command Export(Option<string> output)
    {
        var workDir = new Option<string>("--work-dir") { Description = "Folder for the model, state and exports (emptied first)", DefaultValueFactory = _ => "bench-export" };
        var threads = new Option<int>("--threads") { Description = "Threads of the parallel export (default: every core)", DefaultValueFactory = _ => Environment.ProcessorCount };
        var bits = new Option<int>("--bits") { Description = "Code width of every linear", DefaultValueFactory = _ => 4 };
        var repeat = new Option<int>("--repeat") { Description = "Timed exports of each kind; the fastest counts", DefaultValueFactory = _ => 2 };
        var command = new Command("export", "Export speed: one thread (serial writer) vs several on a synthetic DeepSeek-V3-shaped model, and unit state written packed vs int8")
        {
            workDir, threads, bits, repeat,
        };

        // DeepSeek-V3's widths, fewer experts and a smaller vocabulary, so that a run fits a small machine's disk.
        var defaults = new SyntheticModelShape { NumHiddenLayers = 2, FirstKDenseReplace = 1, NRoutedExperts = 16, VocabSize = 16384 };
        Option<int> Size(string name, int value)
        {
            var option = new Option<int>("--" + name) { Description = $"config.json {name.Replace('-', '_')}", DefaultValueFactory = _ => value };
            command.Options.Add(option);
            return option;
        }

        var layers = Size("num-hidden-layers", defaults.NumHiddenLayers);
        var dense = Size("first-k-dense-replace", defaults.FirstKDenseReplace);
        var experts = Size("n-routed-experts", defaults.NRoutedExperts);
        var vocab = Size("vocab-size", defaults.VocabSize);
        var hidden = Size("hidden-size", defaults.HiddenSize);
        var intermediate = Size("intermediate-size", defaults.IntermediateSize);
        var moeIntermediate = Size("moe-intermediate-size", defaults.MoeIntermediateSize);
        command.SetAction(parseResult => ExportBenchmark.Run(
            Recorder(parseResult, output),
            new ExportBenchmarkOptions(
                parseResult.GetValue(workDir)!,
                defaults with
                {
                    NumHiddenLayers = parseResult.GetValue(layers),
                    FirstKDenseReplace = parseResult.GetValue(dense),
                    NRoutedExperts = parseResult.GetValue(experts),
                    VocabSize = parseResult.GetValue(vocab),
                    HiddenSize = parseResult.GetValue(hidden),
                    IntermediateSize = parseResult.GetValue(intermediate),
                    MoeIntermediateSize = parseResult.GetValue(moeIntermediate),
                },
                parseResult.GetValue(bits),
                parseResult.GetValue(threads),
                parseResult.GetValue(repeat)),
            parseResult.InvocationConfiguration.Output));
        return command;
    }

    private static BenchRecorder Recorder(ParseResult parseResult, Option<string> output) =>
        new(parseResult.GetValue(output)!, parseResult.InvocationConfiguration.Output);
}

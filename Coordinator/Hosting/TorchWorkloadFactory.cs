using System.Security.Cryptography;
using System.Text;
using MoeQuant.Coordinator.Packing;
using MoeQuant.GpuNode.Durability;
using MoeQuant.GpuNode.Workload;
using MoeQuant.GpuNode.Workload.Torch;
using MoeQuant.Kernels.Gptq;
using MoeQuant.Kernels.Quantization;
using MoeQuant.Model;
using MoeQuant.Model.Calibration;
using MoeQuant.Model.Config;
using MoeQuant.Model.Export;
using MoeQuant.Model.Forward;
using MoeQuant.Model.Tokenization;
using MoeQuant.Model.TinyModel;
using static TorchSharp.torch;

namespace MoeQuant.Coordinator.Hosting;

/// <summary>
/// Builds <see cref="TorchLayerWorkload"/> from a run's settings: the model folder (or the built-in tiny model), the
/// calibration samples (a dataset, or the tiny model's built-in samples), and the GPTQ options, checked against the
/// model's shapes before anything is written.
/// </summary>
internal sealed class TorchWorkloadFactory : IWorkloadFactory
{
    public ModelIdentity Describe(QuantizeSettings settings)
    {
        var folder = ModelFolder(settings);
        var configPath = Path.Combine(folder, "config.json");
        if (!File.Exists(configPath))
        {
            throw new UserInputException($"--model-name-or-path {folder}: no config.json; expected a DeepSeek-V3 checkpoint folder");
        }

        DeepseekV3Config.Load(configPath);
        var custom = settings.Model.Path is { Length: > 0 };
        return new ModelIdentity(custom ? new DirectoryInfo(folder).Name : BuiltInModel.Name, Fingerprint(folder), custom ? folder : null);
    }

    public ILayerWorkload Create(QuantizeSettings settings, RunLayout layout)
    {
        var folder = ModelFolder(settings);
        var config = DeepseekV3Config.Load(Path.Combine(folder, "config.json"));
        var dtype = DType(settings.Model.Dtype);
        var gptq = GptqOptions(settings.Gptq, dtype);
        CheckGroupSize(config, settings.Gptq);
        // Hours of GPTQ must not end in a checkpoint the chosen format cannot hold.
        ExportFormats.Parse(settings.Run.ExportFormat).RequireBits(settings.Gptq.Bits);
        var samples = Samples(settings, folder, config);
        return new TorchLayerWorkload(
            new TorchWorkloadOptions(
                config,
                folder,
                samples,
                settings.Run.CalibrationShards,
                dtype,
                gptq,
                settings.Gptq.QuantizeOnlyExperts,
                settings.Gptq.TieGptqHandles,
                settings.Calibration.OffloadActivations,
                settings.Run.ProfilePhases),
            layout);
    }

    public ExportResult Export(QuantizeSettings settings, RunLayout layout) =>
        RunExport.Run(new PackOptions(layout.SaveDir, Output: null, settings.Run.ExportFormat, KeepMtp: false, Overwrite: true, settings.Model.Path));

    private static string ModelFolder(QuantizeSettings settings) => settings.Model.Path is { Length: > 0 } path
        ? Directory.Exists(path) ? Path.GetFullPath(path) : throw new UserInputException($"--model-name-or-path {path}: folder does not exist")
        : BuiltInModel.Folder;

    /// <summary>The config plus every tensor's name, dtype and shape: what makes two checkpoints the same model.</summary>
    internal static string Fingerprint(string folder)
    {
        using var checkpoint = Model.Checkpoint.ShardedCheckpoint.Open(folder);
        var text = new StringBuilder(File.ReadAllText(Path.Combine(folder, "config.json")));
        foreach (var tensor in checkpoint.Tensors.OrderBy(t => t.Name, StringComparer.Ordinal))
        {
            text.Append('\n').Append(tensor.Name).Append(' ').Append(tensor.Dtype).Append(' ').AppendJoin(',', tensor.Shape);
        }

        return Convert.ToHexStringLower(SHA256.HashData(Encoding.UTF8.GetBytes(text.ToString())));
    }

    private static ScalarType DType(string dtype) => dtype switch
    {
        "float16" => ScalarType.Float16,
        "bfloat16" => ScalarType.BFloat16,
        "float32" => ScalarType.Float32,
        _ => throw new UserInputException($"--dtype must be one of float16, bfloat16, float32 (got '{dtype}')"),
    };

    private static GptqOptions GptqOptions(GptqSettings s, ScalarType dtype) => new()
    {
        Bits = s.Bits,
        GroupSize = s.GroupSize ?? -1,
        Symmetric = s.Sym,
        RelDamp = s.RelDamp,
        BlockSize = s.BlockSize,
        Order = s.QuantizationOrder == "activation" ? QuantizationOrder.Activation : QuantizationOrder.Default,
        Scale = s.QuantizationScale == "mse" ? ScaleSearch.Mse : ScaleSearch.AbsMax,

        // Round-to-nearest: no unit has "enough" tokens, and the engine's policy for too few is RTN with the same scales.
        MinTokens = s.Method == "rtn" ? long.MaxValue : null,
        FewTokens = FewTokensPolicy.RoundToNearest,
        ScaleDtype = dtype,
    };

    /// <summary>Every quantized linear's input width must split into whole groups; say which one does not.</summary>
    private static void CheckGroupSize(DeepseekV3Config config, GptqSettings s)
    {
        if (s.GroupSize is not { } group)
        {
            return;
        }

        var misfit = Enumerable.Range(0, config.NumHiddenLayers)
            .SelectMany(layer => LinearUnit.ForLayer(config, layer).Select(u => (Layer: layer, Unit: u)))
            .FirstOrDefault(u => (!s.QuantizeOnlyExperts || u.Unit.Expert is not null) && u.Unit.InFeatures % group != 0);
        if (misfit.Unit is { } unit)
        {
            throw new UserInputException(
                $"--group-size {group} does not divide the {unit.InFeatures} input columns of model.layers.{misfit.Layer}.{unit.Name}; use a divisor of every input width, or omit it for one group per row");
        }
    }

    private static IReadOnlyList<int[]> Samples(QuantizeSettings settings, string folder, DeepseekV3Config config)
    {
        var c = settings.Calibration;
        var dataset = c.Dataset;
        var count = c.NumCalibrationSamples;
        if (dataset is not { Length: > 0 })
        {
            if (settings.Model.Path is { Length: > 0 } path)
            {
                throw new UserInputException($"--dataset-name-or-path is required for {path} (open-thoughts, open-platypus, fineweb-edu, or a local .jsonl, .parquet or .txt)");
            }

            // The built-in text has fewer chapters than MoE-Quant's default sample count; the user chose neither, so
            // all of them are used without the warning a short dataset of the user's own would get.
            dataset = BuiltInModel.CalibrationText;
            count = Math.Min(count, BuiltInModel.CalibrationSamples);
        }

        var tokenizer = File.Exists(Path.Combine(folder, "tokenizer.json")) ? HfTokenizer.Load(folder) : null;
        var set = CalibrationData.PrepareAsync(new Model.Calibration.CalibrationOptions(dataset, count, c.MaxSequenceLength, c.Seed), tokenizer)
            .GetAwaiter().GetResult();
        foreach (var warning in set.Warnings)
        {
            Console.Error.WriteLine($"warning: {warning}");
        }

        var outside = set.Samples.SelectMany(s => s).FirstOrDefault(id => id < 0 || id >= config.VocabSize, -1);
        return outside >= 0
            ? throw new UserInputException($"--dataset-name-or-path {dataset}: token id {outside} is outside the model's vocabulary of {config.VocabSize}")
            : set.Samples;
    }
}

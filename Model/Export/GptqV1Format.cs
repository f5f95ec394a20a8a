using System.Text.Json.Nodes;
using System.Text.RegularExpressions;
using MoeQuant.Model.Checkpoint;
using MoeQuant.Model.Quantized;
using static TorchSharp.torch;

namespace MoeQuant.Model.Export;

/// <summary>
/// AutoGPTQ's v1 checkpoint (FORMATS.md §4): per linear <c>qweight</c>, <c>qzeros</c> (zero − 1), F16 <c>scales</c>
/// ([groups, out], the transpose of compressed-tensors' layout) and <c>g_idx</c>; <c>quantize_config.json</c>, also
/// placed under config.json's <c>quantization_config</c>. v1 has no ignore list: unquantized modules are named in
/// GPTQModel's <c>dynamic</c> map as negative (<c>-:</c>) patterns, which vLLM honours; <c>lm_head</c> by its own flag.
/// </summary>
internal sealed class GptqV1Format(QuantizationScheme scheme, double relDamp) : ILinearFormat
{
    /// <summary>AutoGPTQ's config file, read by AutoGPTQ and GPTQModel.</summary>
    public const string ConfigFileName = "quantize_config.json";

    public void Check(IReadOnlyList<UnitStateLinear> linears)
    {
        var perWord = 32 / scheme.Bits;
        var misfit = linears.FirstOrDefault(l => l.InFeatures % perWord != 0 || l.OutFeatures % perWord != 0);
        if (misfit is not null)
        {
            throw new UserInputException(
                $"--export-format gptq-v1 packs {perWord} {scheme.Bits}-bit values per word along both dimensions, but {misfit.Name} is [{misfit.OutFeatures}, {misfit.InFeatures}]; use compressed-tensors, which pads");
        }
    }

    public IEnumerable<SafetensorsEntry> Entries(UnitStateLinear l)
    {
        var (rows, columns, groups) = ((int)l.OutFeatures, (int)l.InFeatures, (int)l.Groups);
        var perWord = 32 / scheme.Bits;
        yield return new SafetensorsEntry(l.Name + ".qweight", SafetensorsDtype.I32, [columns / perWord, rows], stream =>
        {
            StateTensors.Write(stream, GptqV1Packing.QWeight(StateTensors.PackedCodes(l), rows, columns, scheme.Bits));
        });
        yield return new SafetensorsEntry(l.Name + ".qzeros", SafetensorsDtype.I32, [groups, rows / perWord], stream =>
        {
            var zeros = StateTensors.Int8(l.File, l.ZeroPointsTensor);
            StateTensors.Write(stream, StateTensors.Checked(l, l.ZeroPointsTensor, () => GptqV1Packing.PackQZeros(zeros, rows, groups, scheme.Bits)));
        });
        yield return new SafetensorsEntry(l.Name + ".scales", SafetensorsDtype.F16, [groups, rows], stream => WriteScales(l, stream));
        yield return new SafetensorsEntry(l.Name + ".g_idx", SafetensorsDtype.I32, [columns], stream => StateTensors.Copy(l.File, l.GIdxTensor, stream));
    }

    public JsonObject QuantizationConfig(UnquantizedModules unquantized) => new()
    {
        ["bits"] = scheme.Bits,
        ["group_size"] = scheme.GroupSize ?? -1,
        ["damp_percent"] = relDamp,
        ["desc_act"] = scheme.DynamicGroups,
        // Contiguous groups need no reordering at load time, whatever order GPTQ visited the columns in.
        ["static_groups"] = false,
        ["sym"] = scheme.Symmetric,
        // A layer's units are all quantized from one calibration forward, not one sub-module after another.
        ["true_sequential"] = false,
        ["lm_head"] = false,
        ["model_name_or_path"] = null,
        ["model_file_base_name"] = "model",
        ["quant_method"] = "gptq",
        ["checkpoint_format"] = "gptq",
        ["dynamic"] = new JsonObject(unquantized.Ignore.Where(i => i != UnquantizedModules.LmHead)
            .Select(i => KeyValuePair.Create("-:" + (i.StartsWith("re:", StringComparison.Ordinal) ? i[3..] : Regex.Escape(i) + "$"), (JsonNode?)new JsonObject()))),
    };

    public IReadOnlyDictionary<string, JsonNode> ExtraFiles(UnquantizedModules unquantized) =>
        new Dictionary<string, JsonNode> { [ConfigFileName] = QuantizationConfig(unquantized) };

    /// <summary>Scales as F16 [groups, out]; a scale that F16 cannot hold (0 or infinite after conversion) is refused.</summary>
    private static void WriteScales(UnitStateLinear l, Stream stream)
    {
        using var scope = NewDisposeScope();
        using var state = SafetensorsFile.Open(l.File);
        var scales = state.ReadTensorCopy(l.ScalesTensor).t().to(ScalarType.Float16).contiguous();
        if (!scales.isfinite().all().item<bool>() || scales.le(0).any().item<bool>())
        {
            throw StateTensors.Invalid(l, l.ScalesTensor, "has scales that float16 cannot hold (GPTQ v1 stores float16 scales); use compressed-tensors");
        }

        Kernels.Tensors.TensorBytes.Write(scales, stream);
    }
}

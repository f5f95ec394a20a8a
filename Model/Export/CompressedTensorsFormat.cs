using System.Text.Json.Nodes;
using MoeQuant.Model.Checkpoint;
using MoeQuant.Model.Quantized;

namespace MoeQuant.Model.Export;

/// <summary>
/// compressed-tensors <c>pack-quantized</c> (FORMATS.md §3.2–3.5): per linear <c>weight_packed</c> (codes + 2^(b−1),
/// packed along the input), <c>weight_scale</c> (kept in the dtype GPTQ chose its codes for, so the file dequantizes to
/// exactly the weights the run measured; loaders cast it to the model dtype), <c>weight_shape</c> (I64), and only where
/// the scheme needs them <c>weight_zero_point</c> (packed along the output) and <c>weight_g_idx</c>.
/// </summary>
internal sealed class CompressedTensorsFormat(QuantizationScheme scheme) : ILinearFormat
{
    public void Check(IReadOnlyList<UnitStateLinear> linears)
    {
        // pack-quantized pads rows and columns, so every shape fits.
    }

    public IEnumerable<SafetensorsEntry> Entries(UnitStateLinear l)
    {
        var (rows, columns, groups) = ((int)l.OutFeatures, (int)l.InFeatures, (int)l.Groups);
        var perWord = Int32Packing.ValuesPerWord(scheme.Bits);
        // The state keeps codes in this very layout: the words are copied, not unpacked and packed again.
        yield return new SafetensorsEntry(l.Name + ".weight_packed", SafetensorsDtype.I32, [rows, Int32Packing.CeilDiv(columns, perWord)], stream =>
        {
            StateTensors.RequireScheme(l, scheme);
            StateTensors.WritePackedCodes(l, stream);
        });
        yield return new SafetensorsEntry(l.Name + ".weight_scale", l.ScaleDtype, [rows, groups], stream => StateTensors.Copy(l.File, l.ScalesTensor, stream));
        yield return SafetensorsEntry.FromBytes(l.Name + ".weight_shape", SafetensorsDtype.I64, [2], BitConverter.GetBytes(l.OutFeatures).Concat(BitConverter.GetBytes(l.InFeatures)).ToArray());
        if (!scheme.Symmetric)
        {
            yield return new SafetensorsEntry(l.Name + ".weight_zero_point", SafetensorsDtype.I32, [Int32Packing.CeilDiv(rows, perWord), groups], stream =>
            {
                var zeros = StateTensors.Int8(l.File, l.ZeroPointsTensor);
                StateTensors.Write(stream, StateTensors.Checked(l, l.ZeroPointsTensor, () => Int32Packing.PackColumns(zeros, rows, groups, scheme.Bits)));
            });
        }

        if (scheme.DynamicGroups)
        {
            yield return new SafetensorsEntry(l.Name + ".weight_g_idx", SafetensorsDtype.I32, [columns], stream => StateTensors.Copy(l.File, l.GIdxTensor, stream));
        }
    }

    public JsonObject QuantizationConfig(UnquantizedModules unquantized) => CompressedTensorsConfig.For(scheme, unquantized.Ignore).ToJson();

    public IReadOnlyDictionary<string, JsonNode> ExtraFiles(UnquantizedModules unquantized) => new Dictionary<string, JsonNode>();
}

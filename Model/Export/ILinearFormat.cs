using System.Text.Json.Nodes;
using MoeQuant.Model.Checkpoint;
using MoeQuant.Model.Quantized;

namespace MoeQuant.Model.Export;

/// <summary>How one export format stores quantized linears and describes them in config.json.</summary>
internal interface ILinearFormat
{
    /// <summary>Refuses, before anything is written, linears whose shapes the format cannot hold.</summary>
    /// <exception cref="UserInputException">A linear does not fit the format.</exception>
    void Check(IReadOnlyList<UnitStateLinear> linears);

    /// <summary>The tensors replacing <c>NAME.weight</c>, each reading its data from the state file when written.</summary>
    IEnumerable<SafetensorsEntry> Entries(UnitStateLinear linear);

    /// <summary>config.json's <c>quantization_config</c>.</summary>
    JsonObject QuantizationConfig(UnquantizedModules unquantized);

    /// <summary>Further top-level JSON files the format's loaders read, by file name.</summary>
    IReadOnlyDictionary<string, JsonNode> ExtraFiles(UnquantizedModules unquantized);
}

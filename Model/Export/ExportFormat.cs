namespace MoeQuant.Model.Export;

/// <summary>The checkpoint layouts MoeQuant writes (<c>--export-format</c>).</summary>
public enum ExportFormat
{
    /// <summary>compressed-tensors <c>pack-quantized</c> (FORMATS.md §3), what vLLM and transformers load natively.</summary>
    CompressedTensors,

    /// <summary>AutoGPTQ's legacy v1 layout (FORMATS.md §4).</summary>
    GptqV1,
}

/// <summary>Names and capabilities of <see cref="ExportFormat"/>.</summary>
public static class ExportFormats
{
    /// <summary>Every format, in the order the CLI lists them.</summary>
    public static readonly IReadOnlyList<ExportFormat> All = [ExportFormat.CompressedTensors, ExportFormat.GptqV1];

    /// <summary>The flag spelling: "compressed-tensors" or "gptq-v1".</summary>
    public static string Name(this ExportFormat format) => format switch
    {
        ExportFormat.CompressedTensors => "compressed-tensors",
        ExportFormat.GptqV1 => "gptq-v1",
        _ => throw new ArgumentOutOfRangeException(nameof(format), format, null),
    };

    /// <summary>Code widths the format can store. compressed-tensors packs any width into 32-bit words, though vLLM
    /// serves 4 and 8 only (FORMATS.md §3.3); v1's 3-bit layout straddles words and is not implemented (§4.1).</summary>
    public static IReadOnlyList<int> SupportedBits(this ExportFormat format) => format switch
    {
        ExportFormat.CompressedTensors => [2, 3, 4, 8],
        _ => GptqV1Packing.SupportedBits,
    };

    /// <summary>Parses a flag value.</summary>
    /// <exception cref="UserInputException">Not a format name.</exception>
    public static ExportFormat Parse(string name) =>
        All.FirstOrDefault(f => f.Name() == name, (ExportFormat)(-1)) is var format && Enum.IsDefined(format)
            ? format
            : throw new UserInputException($"--export-format must be one of {string.Join(", ", All.Select(f => f.Name()))} (got '{name}')");

    /// <summary>Refuses a code width the format cannot store, naming the formats that can.</summary>
    /// <exception cref="UserInputException">The format cannot store <paramref name="bits"/>-bit codes.</exception>
    public static void RequireBits(this ExportFormat format, int bits)
    {
        if (format.SupportedBits().Contains(bits))
        {
            return;
        }

        var able = All.Where(f => f.SupportedBits().Contains(bits)).Select(f => f.Name()).ToList();
        throw new UserInputException(
            $"--export-format {format.Name()} cannot store {bits}-bit weights (it stores {string.Join(", ", format.SupportedBits())} bits); "
            + (able.Count > 0 ? $"formats that can: {string.Join(", ", able)}" : "no export format can"));
    }
}

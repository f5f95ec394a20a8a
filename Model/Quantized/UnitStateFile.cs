using System.Collections.Immutable;
using System.Globalization;
using MoeQuant.Model.Checkpoint;
using static TorchSharp.torch;

namespace MoeQuant.Model.Quantized;

/// <summary>
/// MoeQuant's per-unit state file: the quantized linears of one quantization unit (the modules that share one
/// Hessian), as a .safetensors file that <c>moequant pack</c> turns into any export format without re-quantizing.
/// For each linear <c>NAME</c>: <c>NAME.codes</c> (int8), <c>NAME.scales</c>, <c>NAME.zero_points</c> (int8),
/// <c>NAME.g_idx</c> (int32); the metadata holds the format tag and, per linear, bits, group size, symmetry and
/// whether the groups are contiguous.
/// </summary>
public static class UnitStateFile
{
    /// <summary>The format tag in <c>__metadata__</c>; a file without it is not a unit state file.</summary>
    public const string Format = "moequant-unit/1";

    private const string FormatKey = "format";

    /// <summary>Writes the linears to <paramref name="path"/> (temporary name, fsync, rename).</summary>
    public static void Write(string path, IReadOnlyList<QuantizedLinear> linears)
    {
        var entries = new List<SafetensorsEntry>();
        var metadata = new Dictionary<string, string> { [FormatKey] = Format };
        foreach (var q in linears)
        {
            entries.Add(SafetensorsEntry.FromTensor(q.Name + ".codes", q.Codes));
            entries.Add(SafetensorsEntry.FromTensor(q.Name + ".scales", q.Scales));
            entries.Add(SafetensorsEntry.FromTensor(q.Name + ".zero_points", q.ZeroPoints));
            entries.Add(SafetensorsEntry.FromTensor(q.Name + ".g_idx", q.GIdx));
            metadata[q.Name] = string.Create(
                CultureInfo.InvariantCulture,
                $"bits={q.Bits};group_size={q.GroupSize};symmetric={q.Symmetric};contiguous_groups={q.ContiguousGroups}");
        }

        Directory.CreateDirectory(Path.GetDirectoryName(Path.GetFullPath(path))!);
        SafetensorsWriter.WriteFile(path, entries, metadata);
    }

    /// <summary>Reads every linear of a state file into CPU memory.</summary>
    /// <exception cref="CheckpointException">The file is not a unit state file or misses a tensor.</exception>
    public static IReadOnlyList<QuantizedLinear> Read(string path)
    {
        using var file = SafetensorsFile.Open(path);
        if (!file.Metadata.TryGetValue(FormatKey, out var format) || format != Format)
        {
            throw new CheckpointException(CheckpointErrorKind.InvalidHeader, path, null, $"not a MoeQuant unit state file (expected format '{Format}')");
        }

        return [.. file.Metadata.Where(m => m.Key != FormatKey).OrderBy(m => m.Key, StringComparer.Ordinal).Select(m => ReadLinear(file, m.Key, m.Value))];
    }

    private static QuantizedLinear ReadLinear(SafetensorsFile file, string name, string properties)
    {
        var values = properties.Split(';').Select(p => p.Split('=', 2)).ToImmutableDictionary(p => p[0], p => p.Length > 1 ? p[1] : "");
        string Value(string key) => values.TryGetValue(key, out var v)
            ? v
            : throw new CheckpointException(CheckpointErrorKind.InvalidHeader, file.Path, name, $"metadata lacks '{key}'");
        Tensor Read(string suffix) => file.Contains(name + suffix)
            ? file.ReadTensorCopy(name + suffix)
            : throw new CheckpointException(CheckpointErrorKind.TensorNotFound, file.Path, name + suffix, "tensor missing from unit state file");

        return new QuantizedLinear(
            name,
            Read(".codes"),
            Read(".scales"),
            Read(".zero_points"),
            Read(".g_idx"),
            int.Parse(Value("bits"), CultureInfo.InvariantCulture),
            int.Parse(Value("group_size"), CultureInfo.InvariantCulture),
            bool.Parse(Value("symmetric")),
            bool.Parse(Value("contiguous_groups")));
    }
}

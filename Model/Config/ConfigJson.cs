using System.Collections.Immutable;
using System.Text.Json;

namespace MoeQuant.Model.Config;

/// <summary>
/// Typed access to one JSON object of a config file. Every failure is a <see cref="ConfigException"/> naming the
/// file and the dotted field, so parsing code reads as a list of fields rather than of error checks.
/// A field set to null counts as absent, because HF writes unset optional attributes as null.
/// </summary>
internal sealed class ConfigJson
{
    private readonly JsonElement _object;
    private readonly string _prefix;

    private ConfigJson(JsonElement obj, string path, string prefix)
    {
        _object = obj;
        _prefix = prefix;
        Path = path;
    }

    public string Path { get; }

    public static ConfigJson Root(JsonElement root, string path) =>
        root.ValueKind == JsonValueKind.Object
            ? new ConfigJson(root, path, "")
            : throw new ConfigException(path, null, $"must hold a JSON object, not {Describe(root)}");

    public ConfigException Error(string name, string problem) => new(Path, _prefix + name, problem);

    public bool Has(string name) => TryGet(name, out _);

    /// <summary>A nested object ("rope_scaling"), or null when absent.</summary>
    public ConfigJson? OptionalObject(string name) =>
        TryGet(name, out var value)
            ? value.ValueKind == JsonValueKind.Object
                ? new ConfigJson(value, Path, _prefix + name + ".")
                : throw Error(name, $"must be an object, not {Describe(value)}")
            : null;

    /// <summary>The members of a nested object whose values are objects, keyed by name ("config_groups"), or null when absent.</summary>
    public IReadOnlyList<(string Name, ConfigJson Value)>? OptionalObjectMembers(string name) =>
        !TryGet(name, out var value) ? null
        : value.ValueKind == JsonValueKind.Object
            ? [.. value.EnumerateObject().Select(m => (m.Name, m.Value.ValueKind == JsonValueKind.Object
                ? new ConfigJson(m.Value, Path, $"{_prefix}{name}.{m.Name}.")
                : throw Error($"{name}.{m.Name}", $"must be an object, not {Describe(m.Value)}")))]
            : throw Error(name, $"must be an object, not {Describe(value)}");

    /// <summary>A field whose type varies (a string or a boolean), or null when absent.</summary>
    public JsonElement? OptionalValue(string name) => TryGet(name, out var value) ? value : null;

    public int RequiredInt(string name) => OptionalInt(name) ?? throw Error(name, "is missing");

    /// <summary>A field that must be written but may be null, e.g. q_lora_rank where null selects another layout.</summary>
    public int? RequiredNullableInt(string name, string nullMeans) =>
        _object.TryGetProperty(name, out _)
            ? OptionalInt(name)
            : throw Error(name, $"is missing (write null if {nullMeans})");

    public int? OptionalInt(string name) => TryGet(name, out var value) ? ToInt(name, value) : null;

    public double RequiredDouble(string name) => OptionalDouble(name) ?? throw Error(name, "is missing");

    public double? OptionalDouble(string name) =>
        !TryGet(name, out var value) ? null
        : value.ValueKind == JsonValueKind.Number ? value.GetDouble()
        : throw Error(name, $"must be a number, not {Describe(value)}");

    public bool RequiredBool(string name) => OptionalBool(name) ?? throw Error(name, "is missing");

    public bool? OptionalBool(string name) =>
        !TryGet(name, out var value) ? null
        : value.ValueKind is JsonValueKind.True or JsonValueKind.False ? value.GetBoolean()
        : throw Error(name, $"must be true or false, not {Describe(value)}");

    public string RequiredString(string name) => OptionalString(name) ?? throw Error(name, "is missing");

    public string? OptionalString(string name) =>
        !TryGet(name, out var value) ? null
        : value.ValueKind == JsonValueKind.String ? value.GetString()
        : throw Error(name, $"must be a string, not {Describe(value)}");

    public ImmutableArray<string>? OptionalStringArray(string name) =>
        TryGet(name, out var value)
            ? [.. Items(name, value, "strings").Select(e => e.ValueKind == JsonValueKind.String
                ? e.GetString()!
                : throw Error(name, $"must be a list of strings, but holds {Describe(e)}"))]
            : null;

    public ImmutableArray<int>? OptionalIntArray(string name) =>
        TryGet(name, out var value)
            ? [.. Items(name, value, "integers").Select(e => ToIntOrNull(e)
                ?? throw Error(name, $"must be a list of integers, but holds {Describe(e)}"))]
            : null;

    /// <summary>A token id that HF writes either as one integer or as a list (eos_token_id).</summary>
    public ImmutableArray<int> OptionalIntOrIntArray(string name) =>
        !TryGet(name, out var value) ? []
        : value.ValueKind == JsonValueKind.Array ? OptionalIntArray(name)!.Value
        : [ToInt(name, value)];

    private bool TryGet(string name, out JsonElement value) =>
        _object.TryGetProperty(name, out value) && value.ValueKind != JsonValueKind.Null;

    private JsonElement.ArrayEnumerator Items(string name, JsonElement value, string what) =>
        value.ValueKind == JsonValueKind.Array
            ? value.EnumerateArray()
            : throw Error(name, $"must be a list of {what}, not {Describe(value)}");

    private int ToInt(string name, JsonElement value) =>
        ToIntOrNull(value) ?? throw Error(name, $"must be an integer, not {Describe(value)}");

    // Python writes 4096 for an int, but transformers v5 turns some rope fields into floats (4096.0): accept
    // any number with an integral value.
    private static int? ToIntOrNull(JsonElement value) =>
        value.ValueKind != JsonValueKind.Number ? null
        : value.TryGetInt32(out var i) ? i
        : value.TryGetDouble(out var d) && d == Math.Floor(d) && d is >= int.MinValue and <= int.MaxValue ? (int)d
        : null;

    private static string Describe(JsonElement value)
    {
        var text = value.GetRawText();
        var shown = text.Length > 40 ? text[..40] + "..." : text;
        return value.ValueKind switch
        {
            JsonValueKind.Object => "an object",
            JsonValueKind.Array => "a list",
            JsonValueKind.String => $"the string {shown}",
            JsonValueKind.Number => $"the number {shown}",
            JsonValueKind.True or JsonValueKind.False => shown,
            _ => "null",
        };
    }
}

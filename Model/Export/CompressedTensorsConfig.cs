using System.Text.Json;
using System.Text.Json.Nodes;
using System.Text.RegularExpressions;
using MoeQuant.Model.Config;

namespace MoeQuant.Model.Export;

/// <summary>
/// The <c>quantization_config</c> of a compressed-tensors <c>pack-quantized</c> checkpoint (FORMATS.md §3.6): weight
/// schemes by target, and the modules left unquantized. MoeQuant writes one group targeting <c>"Linear"</c>; reading
/// accepts several groups with class, exact-name or <c>re:</c> targets, and integer weight-only schemes.
/// </summary>
/// <param name="Groups">Config groups in file order; a module takes the first group that targets it.</param>
/// <param name="Ignore">Exact module names or <c>re:</c> patterns (Python <c>re.match</c>: anchored at the start only).</param>
public sealed record CompressedTensorsConfig(IReadOnlyList<CompressedTensorsGroup> Groups, IReadOnlyList<string> Ignore)
{
    /// <summary>compressed-tensors' <c>quant_method</c>.</summary>
    public const string QuantMethod = "compressed-tensors";

    /// <summary>The only format MoeQuant writes and reads.</summary>
    public const string PackQuantized = "pack-quantized";

    /// <summary>One group "group_0" applying <paramref name="scheme"/> to every Linear outside <paramref name="ignore"/>.</summary>
    public static CompressedTensorsConfig For(QuantizationScheme scheme, IReadOnlyList<string> ignore) =>
        new([new CompressedTensorsGroup("group_0", ["Linear"], scheme)], ignore);

    /// <summary>The scheme of <paramref name="module"/>, or null when it is ignored or no group targets it.</summary>
    public QuantizationScheme? SchemeOf(string module) =>
        Ignore.Any(i => Matches(i, module)) ? null : Groups.FirstOrDefault(g => g.Targets.Any(t => t == "Linear" || Matches(t, module)))?.Scheme;

    /// <summary>The JSON object, with exactly the keys compressed-tensors' pydantic models accept (they forbid extras).</summary>
    public JsonObject ToJson() => new()
    {
        ["config_groups"] = new JsonObject(Groups.Select(g => KeyValuePair.Create(g.Name, (JsonNode?)new JsonObject
        {
            ["input_activations"] = null,
            ["output_activations"] = null,
            ["targets"] = new JsonArray([.. g.Targets.Select(t => (JsonNode?)t)]),
            ["weights"] = Weights(g.Scheme),
        }))),
        ["format"] = PackQuantized,
        ["global_compression_ratio"] = null,
        ["ignore"] = new JsonArray([.. Ignore.Select(i => (JsonNode?)i)]),
        ["kv_cache_scheme"] = null,
        ["quant_method"] = QuantMethod,
        ["quantization_status"] = "compressed",
    };

    /// <summary>Reads the <c>quantization_config</c> of a config.json root object; errors name <paramref name="configPath"/> and the field.</summary>
    /// <exception cref="ConfigException">Not compressed-tensors pack-quantized, or a scheme MoeQuant cannot dequantize.</exception>
    public static CompressedTensorsConfig Parse(JsonElement config, string configPath)
    {
        var q = ConfigJson.Root(config, configPath).OptionalObject("quantization_config")
            ?? throw new ConfigException(configPath, "quantization_config", "is missing; not a quantized checkpoint");
        var method = q.RequiredString("quant_method");
        if (method != QuantMethod)
        {
            throw q.Error("quant_method", $"is {method}; expected {QuantMethod}");
        }

        var format = q.RequiredString("format");
        if (format != PackQuantized)
        {
            throw q.Error("format", $"is {format}; MoeQuant reads {PackQuantized} only");
        }

        var groups = q.OptionalObjectMembers("config_groups") is { Count: > 0 } members
            ? members.Select(m => ParseGroup(m.Name, m.Value)).ToList()
            : throw q.Error("config_groups", "is missing or empty");
        return new CompressedTensorsConfig(groups, q.OptionalStringArray("ignore") ?? []);
    }

    private static JsonObject Weights(QuantizationScheme s) => new()
    {
        ["actorder"] = s.DynamicGroups ? "group" : null,
        ["block_structure"] = null,
        ["dynamic"] = false,
        ["group_size"] = s.GroupSize,
        ["num_bits"] = s.Bits,
        ["observer"] = "minmax",
        ["observer_kwargs"] = new JsonObject(),
        ["strategy"] = s.GroupSize is null ? "channel" : "group",
        ["symmetric"] = s.Symmetric,
        ["type"] = "int",
    };

    private static CompressedTensorsGroup ParseGroup(string name, ConfigJson group)
    {
        if (group.OptionalObject("input_activations") is not null)
        {
            throw group.Error("input_activations", "is set; MoeQuant reads weight-only schemes");
        }

        var targets = group.OptionalStringArray("targets") is { Length: > 0 } list ? list : throw group.Error("targets", "is missing or empty");
        var w = group.OptionalObject("weights") ?? throw group.Error("weights", "is missing");
        var bits = w.RequiredInt("num_bits");
        var type = w.OptionalString("type") ?? "int";
        var strategy = w.OptionalString("strategy") ?? "group";
        int? groupSize = strategy switch
        {
            "group" => w.OptionalInt("group_size") is > 0 and var g ? g : throw w.Error("group_size", "must be a positive integer for strategy group"),
            "channel" => null,
            _ => throw w.Error("strategy", $"is {strategy}; MoeQuant reads group and channel"),
        };
        if (bits is < 1 or > 8 || type != "int")
        {
            throw w.Error(bits is < 1 or > 8 ? "num_bits" : "type", $"is {(bits is < 1 or > 8 ? bits : type)}; MoeQuant reads integer weights of 1 to 8 bits");
        }

        if (w.OptionalValue("dynamic") is { ValueKind: not JsonValueKind.False })
        {
            throw w.Error("dynamic", "must be false for stored weights");
        }

        return new CompressedTensorsGroup(name, targets, new QuantizationScheme(bits, groupSize, w.OptionalBool("symmetric") ?? true, ActOrder(w) == "group"));
    }

    // Aliases accepted on read (FORMATS.md §3.5): dynamic and true mean group, static means weight, false means none.
    private static string? ActOrder(ConfigJson weights) => weights.OptionalValue("actorder") switch
    {
        null or { ValueKind: JsonValueKind.False } => null,
        { ValueKind: JsonValueKind.True } => "group",
        { ValueKind: JsonValueKind.String } v => v.GetString() switch
        {
            "group" or "dynamic" => "group",
            "weight" or "static" => "weight",
            var other => throw weights.Error("actorder", $"is {other}; expected group, weight or null"),
        },
        _ => throw weights.Error("actorder", "must be a string, a boolean or null"),
    };

    private static bool Matches(string pattern, string module) => pattern.StartsWith("re:", StringComparison.Ordinal)
        ? Regex.IsMatch(module, $@"\A(?:{pattern[3..]})", RegexOptions.CultureInvariant, TimeSpan.FromSeconds(1))
        : pattern == module;
}

/// <summary>One entry of <c>config_groups</c>.</summary>
/// <param name="Name">Its key, e.g. "group_0".</param>
/// <param name="Targets">Module class names ("Linear"), exact module names or <c>re:</c> patterns.</param>
/// <param name="Scheme">The weights' quantization.</param>
public sealed record CompressedTensorsGroup(string Name, IReadOnlyList<string> Targets, QuantizationScheme Scheme);

namespace MoeQuant.Model.Config;

/// <summary>
/// A config.json that MoeQuant cannot use: missing, not JSON, a field missing or of the wrong type, values that
/// contradict each other, or an architecture other than DeepSeek-V3. The message names the file and the field.
/// </summary>
public sealed class ConfigException : UserInputException
{
    public ConfigException(string configPath, string? field, string problem)
        : base(Format(configPath, field, problem))
    {
        ConfigPath = configPath;
        Field = field;
    }

    public ConfigException(string configPath, string? field, string problem, Exception inner)
        : base(Format(configPath, field, problem), inner)
    {
        ConfigPath = configPath;
        Field = field;
    }

    /// <summary>Path of the config.json at fault.</summary>
    public string ConfigPath { get; }

    /// <summary>JSON field at fault ("rope_scaling.factor"), or null when the file as a whole is.</summary>
    public string? Field { get; }

    private static string Format(string configPath, string? field, string problem) =>
        field is null ? $"{configPath}: {problem}" : $"{configPath}: field \"{field}\" {problem}";
}

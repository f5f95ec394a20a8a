using Microsoft.Extensions.Options;

namespace MoeQuant.Coordinator.Hosting;

/// <summary>Checks the choices and combinations that data annotations cannot express, naming the flag at fault.</summary>
internal sealed class QuantizeOptionsValidator : IValidateOptions<GptqSettings>, IValidateOptions<ModelOptions>, IValidateOptions<RunOptions>, IValidateOptions<ClusterSettings>
{
    private static readonly int[] SupportedBits = [2, 3, 4, 8];

    public ValidateOptionsResult Validate(string? name, GptqSettings options) => Collect(
        SupportedBits.Contains(options.Bits) ? null : $"--bits must be one of 2, 3, 4, 8 (got {options.Bits})",
        OneOf("--quantization-order", options.QuantizationOrder, "default", "activation"),
        OneOf("--quantization-scale", options.QuantizationScale, "absmax", "mse"),
        OneOf("--method", options.Method, "gptq", "rtn"));

    public ValidateOptionsResult Validate(string? name, ModelOptions options) =>
        Collect(OneOf("--dtype", options.Dtype, "float16", "bfloat16", "float32"));

    public ValidateOptionsResult Validate(string? name, RunOptions options) => Collect(
        OneOf("--export-format", options.ExportFormat, "compressed-tensors", "gptq-v1"),
        options is { Resume: true, Overwrite: true } ? "--resume and --overwrite contradict each other: resume keeps save_dir's work, overwrite discards it" : null);

    public ValidateOptionsResult Validate(string? name, ClusterSettings options) => Collect(
        System.Net.IPAddress.TryParse(options.Host, out var address) && System.Net.IPAddress.IsLoopback(address)
            ? null
            : $"MoeQuant:Cluster:Host {options.Host}: remoting binds to loopback only (127.0.0.1 or ::1); other addresses need TLS and a cluster secret");

    private static string? OneOf(string flag, string value, params string[] choices) =>
        choices.Contains(value, StringComparer.Ordinal) ? null : $"{flag} must be one of {string.Join(", ", choices)} (got '{value}')";

    private static ValidateOptionsResult Collect(params string?[] failures) =>
        failures.OfType<string>().ToList() is { Count: > 0 } list ? ValidateOptionsResult.Fail(list) : ValidateOptionsResult.Success;
}

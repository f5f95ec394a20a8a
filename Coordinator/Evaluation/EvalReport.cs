using System.Globalization;
using System.Text.Json;
using System.Text.Json.Serialization;

namespace MoeQuant.Coordinator.Evaluation;

/// <summary>The result of <c>moequant eval</c>, as <c>--json</c> prints it.</summary>
/// <param name="MeanNll">Mean NLL over every predicted token.</param>
/// <param name="Perplexity">exp(mean NLL).</param>
/// <param name="Tokens">Predicted tokens: each sequence's length minus one.</param>
/// <param name="Sequences">Sequences evaluated.</param>
/// <param name="Skipped">Inputs dropped for having fewer than 2 tokens.</param>
/// <param name="Dtype">Compute dtype.</param>
/// <param name="Device">The device that ran the model.</param>
/// <param name="Model">Full path of the checkpoint folder.</param>
/// <param name="Checkpoint">fp8, unquantized or packed.</param>
/// <param name="Data">The file or dataset the sequences came from.</param>
/// <param name="Seconds">Wall time of the forward passes (data preparation excluded).</param>
/// <param name="TokensPerSecond">Tokens / seconds.</param>
public sealed record EvalReport(
    double MeanNll,
    double Perplexity,
    long Tokens,
    int Sequences,
    int Skipped,
    string Dtype,
    string Device,
    string Model,
    string Checkpoint,
    string Data,
    double Seconds,
    double TokensPerSecond)
{
    // The issue fixes snake_case keys (mean_nll) for this output, unlike the camelCase of the other --json outputs.
    // A diverged model has an infinite perplexity, which JSON numbers cannot hold; it is written as "Infinity".
    private static readonly JsonSerializerOptions Json = new(JsonSerializerDefaults.Web)
    {
        PropertyNamingPolicy = JsonNamingPolicy.SnakeCaseLower,
        NumberHandling = JsonNumberHandling.AllowNamedFloatingPointLiterals,
        WriteIndented = true,
    };

    public string ToJson() => JsonSerializer.Serialize(this, Json);

    /// <summary>One human-readable line.</summary>
    public string ToLine() => string.Create(CultureInfo.InvariantCulture,
        $"{Tokens} tokens in {Sequences} sequences{(Skipped > 0 ? $" ({Skipped} skipped)" : "")}: mean NLL {MeanNll:F4}, "
        + $"perplexity {Perplexity:F3} ({Dtype} on {Device}, {Seconds:F1} s, {TokensPerSecond:F0} tokens/s)");
}

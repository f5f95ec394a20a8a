using System.Text.Encodings.Web;
using System.Text.Json;
using System.Text.Json.Serialization;

namespace MoeQuant.Coordinator.Report;

/// <summary>units.json: <see cref="ReportData"/> in snake_case, the style of layer.json. Enums are names, issues a list
/// of names, losses that are not finite null.</summary>
internal static class ReportJson
{
    private static readonly JsonSerializerOptions Options = new()
    {
        PropertyNamingPolicy = JsonNamingPolicy.SnakeCaseLower,
        Converters = { new JsonStringEnumConverter() },
        // Kernel error texts stay readable ('<', '>', quotes); the file is never embedded in HTML.
        Encoder = JavaScriptEncoder.UnsafeRelaxedJsonEscaping,
        WriteIndented = true,
    };

    public static byte[] Serialize(ReportData data) => [.. JsonSerializer.SerializeToUtf8Bytes(data, Options), (byte)'\n'];
}

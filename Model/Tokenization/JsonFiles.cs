using System.Text.Json;

namespace MoeQuant.Model.Tokenization;

/// <summary>Reads the tokenizer's JSON files, turning syntax errors and missing keys into messages with file and line.</summary>
internal static class JsonFiles
{
    public static JsonDocument Parse(string path)
    {
        try
        {
            return JsonDocument.Parse(File.ReadAllBytes(path), new JsonDocumentOptions { AllowTrailingCommas = true });
        }
        catch (JsonException e)
        {
            throw new UserInputException($"{path}:{e.LineNumber + 1}: not valid JSON: {e.Message}", e);
        }
        catch (IOException e)
        {
            throw new UserInputException($"{path}: cannot be read: {e.Message}", e);
        }
    }

    public static JsonElement Required(JsonElement parent, string name, string path) =>
        parent.TryGetProperty(name, out var value) ? value : throw new UserInputException($"{path}: key '{name}' is missing");
}

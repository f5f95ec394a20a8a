using System.Text.Json;

namespace MoeQuant.Model.Checkpoint;

/// <summary>
/// <c>model.safetensors.index.json</c> (FORMATS.md §1.5): <c>weight_map</c> from tensor name to shard file name
/// relative to the folder. <c>metadata</c> is written with <c>total_size</c>; on read it is ignored, because
/// DeepSeek's converter and MoE-Quant leave it empty and loaders rely on <c>weight_map</c> only.
/// </summary>
internal static class CheckpointIndex
{
    /// <summary>The weight_map entries in file order.</summary>
    /// <exception cref="CheckpointException">Not JSON, no weight_map object, a non-string value or a name listed twice.</exception>
    public static List<(string Tensor, string Shard)> Read(string indexPath)
    {
        JsonDocument document;
        try
        {
            document = JsonDocument.Parse(File.ReadAllBytes(indexPath));
        }
        catch (JsonException e)
        {
            throw Invalid(indexPath, null, $"not valid JSON: {e.Message}");
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            throw new CheckpointException(CheckpointErrorKind.NotFound, indexPath, null, $"cannot read: {e.Message}", e);
        }

        using (document)
        {
            if (document.RootElement.ValueKind != JsonValueKind.Object
                || !document.RootElement.TryGetProperty("weight_map", out var weightMap)
                || weightMap.ValueKind != JsonValueKind.Object)
            {
                throw Invalid(indexPath, null, "no \"weight_map\" object");
            }

            var entries = new List<(string, string)>();
            var seen = new HashSet<string>(StringComparer.Ordinal);
            foreach (var entry in weightMap.EnumerateObject())
            {
                if (entry.Value.ValueKind != JsonValueKind.String || entry.Value.GetString() is not { Length: > 0 } shard)
                {
                    throw Invalid(indexPath, entry.Name, "weight_map value is not a file name");
                }

                if (!seen.Add(entry.Name))
                {
                    throw new CheckpointException(CheckpointErrorKind.DuplicateTensor, indexPath, entry.Name, "listed twice in weight_map");
                }

                entries.Add((entry.Name, shard));
            }

            return entries;
        }
    }

    /// <summary>Writes the index as transformers does: keys sorted, two-space indent, trailing newline.</summary>
    public static void Write(Stream destination, long totalSize, IEnumerable<(string Tensor, string Shard)> weightMap)
    {
        using (var writer = new Utf8JsonWriter(destination, new JsonWriterOptions { Indented = true }))
        {
            writer.WriteStartObject();
            writer.WriteStartObject("metadata");
            writer.WriteNumber("total_size", totalSize);
            writer.WriteEndObject();
            writer.WriteStartObject("weight_map");
            foreach (var (tensor, shard) in weightMap.OrderBy(e => e.Tensor, StringComparer.Ordinal))
            {
                writer.WriteString(tensor, shard);
            }

            writer.WriteEndObject();
            writer.WriteEndObject();
        }

        destination.WriteByte((byte)'\n');
    }

    private static CheckpointException Invalid(string indexPath, string? tensor, string detail) =>
        new(CheckpointErrorKind.InvalidIndex, indexPath, tensor, detail);
}

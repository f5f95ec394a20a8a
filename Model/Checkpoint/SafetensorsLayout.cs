using System.Buffers.Binary;
using System.Text.Encodings.Web;
using System.Text.Json;

namespace MoeQuant.Model.Checkpoint;

/// <summary>
/// The official serializer's layout (FORMATS.md §1.4): tensors sorted by dtype in enum order, then by name in ordinal
/// order, back to back from offset 0; compact JSON with <c>__metadata__</c> first and keys dtype, shape, data_offsets;
/// the header padded with spaces to a multiple of 8 so that every tensor is aligned to its element size.
/// </summary>
internal static class SafetensorsLayout
{
    /// <summary>The tensors in the order their bytes follow the header.</summary>
    public static List<SafetensorsEntry> Order(IEnumerable<SafetensorsEntry> tensors) =>
        [.. tensors.OrderBy(t => t.Dtype).ThenBy(t => t.Name, StringComparer.Ordinal)];

    /// <summary>The 8-byte length followed by the padded header, for tensors already in <see cref="Order"/>.</summary>
    public static byte[] Header(IReadOnlyList<SafetensorsEntry> ordered, IReadOnlyDictionary<string, string> metadata)
    {
        using var json = new MemoryStream();
        // serde_json escapes only what JSON requires; the relaxed encoder comes closest (names stay readable).
        using (var writer = new Utf8JsonWriter(json, new JsonWriterOptions { Encoder = JavaScriptEncoder.UnsafeRelaxedJsonEscaping }))
        {
            writer.WriteStartObject();
            if (metadata.Count > 0)
            {
                writer.WriteStartObject("__metadata__");
                foreach (var (key, value) in metadata.OrderBy(m => m.Key, StringComparer.Ordinal))
                {
                    writer.WriteString(key, value);
                }

                writer.WriteEndObject();
            }

            var offset = 0L;
            foreach (var tensor in ordered)
            {
                writer.WriteStartObject(tensor.Name);
                writer.WriteString("dtype", tensor.Dtype.HeaderName());
                writer.WriteStartArray("shape");
                foreach (var dim in tensor.Shape)
                {
                    writer.WriteNumberValue(dim);
                }

                writer.WriteEndArray();
                writer.WriteStartArray("data_offsets");
                writer.WriteNumberValue(offset);
                offset += tensor.ByteLength;
                writer.WriteNumberValue(offset);
                writer.WriteEndArray();
                writer.WriteEndObject();
            }

            writer.WriteEndObject();
        }

        var padded = (json.Length + 7) / 8 * 8;
        var header = new byte[8 + padded];
        BinaryPrimitives.WriteUInt64LittleEndian(header, (ulong)padded);
        json.GetBuffer().AsSpan(0, (int)json.Length).CopyTo(header.AsSpan(8));
        header.AsSpan(8 + (int)json.Length).Fill((byte)' ');
        return header;
    }
}

using System.Buffers.Binary;
using System.Collections.Immutable;
using System.Text.Json;
using System.Text.Unicode;
using Microsoft.Win32.SafeHandles;

namespace MoeQuant.Model.Checkpoint;

/// <summary>
/// Reads the header of a .safetensors file and enforces every rule of the official reader (FORMATS.md §1.3), plus
/// ours: the header starts with '{', names are unique, dtypes are ones MoeQuant knows.
/// </summary>
internal static class SafetensorsHeaderReader
{
    /// <summary>The official reader's MAX_HEADER_SIZE.</summary>
    public const long MaxHeaderSize = 100_000_000;

    private const string MetadataKey = "__metadata__";

    /// <summary>The tensors in data-offset order, and the <c>__metadata__</c> strings.</summary>
    public static (ImmutableArray<TensorHeader> Tensors, IReadOnlyDictionary<string, string> Metadata) Read(
        SafeFileHandle file, string path, long fileLength)
    {
        if (fileLength < 8)
        {
            throw Error(CheckpointErrorKind.HeaderTooSmall, path, null, $"file is {fileLength} bytes, shorter than the 8-byte header length");
        }

        Span<byte> prefix = stackalloc byte[8];
        ReadExactly(file, prefix, 0);
        var headerLength = BinaryPrimitives.ReadUInt64LittleEndian(prefix);
        if (headerLength > MaxHeaderSize)
        {
            throw Error(CheckpointErrorKind.HeaderTooLarge, path, null, $"header length {headerLength} exceeds the limit of {MaxHeaderSize} bytes");
        }

        if (8 + (long)headerLength > fileLength)
        {
            throw Error(CheckpointErrorKind.InvalidHeaderLength, path, null, $"header length {headerLength} runs past the end of the {fileLength}-byte file");
        }

        var header = new byte[headerLength];
        ReadExactly(file, header, 8);
        var dataStart = 8 + (long)headerLength;
        var (entries, metadata) = Parse(header, path);
        var inFileOrder = entries.OrderBy(e => e.Begin).ThenBy(e => e.End).ToList();
        CheckLayout(inFileOrder, path, fileLength - dataStart);
        var tensors = inFileOrder
            .Select(e => new TensorHeader(e.Name, e.Dtype, e.Shape, path, dataStart + e.Begin, e.End - e.Begin))
            .ToImmutableArray();
        return (tensors, metadata);
    }

    private static (List<RawEntry>, IReadOnlyDictionary<string, string>) Parse(byte[] header, string path)
    {
        if (header.Length == 0 || header[0] != (byte)'{')
        {
            throw Error(CheckpointErrorKind.InvalidHeader, path, null, "header is not a JSON object (it must start with '{')");
        }

        if (!Utf8.IsValid(header))
        {
            throw Error(CheckpointErrorKind.InvalidHeader, path, null, "header is not valid UTF-8");
        }

        JsonDocument document;
        try
        {
            document = JsonDocument.Parse(header);
        }
        catch (JsonException e)
        {
            throw Error(CheckpointErrorKind.InvalidHeader, path, null, $"header is not valid JSON: {e.Message}");
        }

        using (document)
        {
            var metadata = new Dictionary<string, string>(StringComparer.Ordinal);
            var entries = new List<RawEntry>();
            var seen = new HashSet<string>(StringComparer.Ordinal);
            foreach (var property in document.RootElement.EnumerateObject())
            {
                if (!seen.Add(property.Name))
                {
                    throw Error(CheckpointErrorKind.InvalidHeader, path, property.Name, "name appears twice in the header");
                }

                if (property.Name == MetadataKey)
                {
                    ReadMetadata(property.Value, path, metadata);
                }
                else
                {
                    entries.Add(ReadEntry(property.Name, property.Value, path));
                }
            }

            return (entries, metadata);
        }
    }

    private static void ReadMetadata(JsonElement element, string path, Dictionary<string, string> metadata)
    {
        if (element.ValueKind != JsonValueKind.Object)
        {
            throw Error(CheckpointErrorKind.InvalidHeader, path, null, "__metadata__ is not a JSON object");
        }

        foreach (var entry in element.EnumerateObject())
        {
            if (entry.Value.ValueKind != JsonValueKind.String)
            {
                throw Error(CheckpointErrorKind.InvalidHeader, path, null, $"__metadata__ value of '{entry.Name}' is not a string");
            }

            metadata[entry.Name] = entry.Value.GetString()!;
        }
    }

    private static RawEntry ReadEntry(string name, JsonElement element, string path)
    {
        if (element.ValueKind != JsonValueKind.Object)
        {
            throw Error(CheckpointErrorKind.InvalidHeader, path, name, "entry is not a JSON object");
        }

        if (!element.TryGetProperty("dtype", out var dtypeElement) || dtypeElement.ValueKind != JsonValueKind.String)
        {
            throw Error(CheckpointErrorKind.InvalidHeader, path, name, "dtype is missing or not a string");
        }

        var dtypeName = dtypeElement.GetString()!;
        if (!SafetensorsDtypes.TryParse(dtypeName, out var dtype))
        {
            throw Error(CheckpointErrorKind.InvalidHeader, path, name, $"unknown dtype '{dtypeName}' (supported: {string.Join(", ", Enum.GetNames<SafetensorsDtype>())})");
        }

        var shape = ReadNaturals(element, "shape", path, name, count: null);
        var offsets = ReadNaturals(element, "data_offsets", path, name, count: 2);
        return new RawEntry(name, dtype, shape, offsets[0], offsets[1]);
    }

    /// <summary>An array of non-negative 64-bit integers (of exactly <paramref name="count"/> items if given).</summary>
    private static ImmutableArray<long> ReadNaturals(JsonElement entry, string key, string path, string name, int? count)
    {
        if (!entry.TryGetProperty(key, out var array) || array.ValueKind != JsonValueKind.Array
            || (count is { } n && array.GetArrayLength() != n))
        {
            var what = count is { } c ? $"an array of {c} integers" : "an array of integers";
            throw Error(CheckpointErrorKind.InvalidHeader, path, name, $"{key} is missing or not {what}");
        }

        var values = ImmutableArray.CreateBuilder<long>(array.GetArrayLength());
        foreach (var item in array.EnumerateArray())
        {
            if (item.ValueKind != JsonValueKind.Number || !item.TryGetInt64(out var value) || value < 0)
            {
                throw Error(CheckpointErrorKind.InvalidHeader, path, name, $"{key} holds {item.GetRawText()}, not a non-negative integer");
            }

            values.Add(value);
        }

        return values.MoveToImmutable();
    }

    /// <summary>
    /// §1.3 rules 5–9: the ranges, sorted by offsets, tile the data buffer from 0 to its end without gaps or overlaps,
    /// and each range is exactly shape × dtype bytes.
    /// </summary>
    private static void CheckLayout(List<RawEntry> inFileOrder, string path, long dataLength)
    {
        var expectedBegin = 0L;
        foreach (var entry in inFileOrder)
        {
            var range = $"data_offsets [{entry.Begin}, {entry.End}]";
            if (entry.Begin != expectedBegin || entry.End < entry.Begin)
            {
                throw Error(CheckpointErrorKind.InvalidOffset, path, entry.Name,
                    $"{range} do not continue the data buffer at byte {expectedBegin} (overlap, gap or reversed range)");
            }

            if (entry.End > dataLength)
            {
                throw Error(CheckpointErrorKind.IncompleteBuffer, path, entry.Name,
                    $"{range} run past the end of the {dataLength}-byte data buffer (truncated file or wrong offsets)");
            }

            var bytes = ByteSize(entry, path);
            if (entry.End - entry.Begin != bytes)
            {
                throw Error(CheckpointErrorKind.TensorInvalidInfo, path, entry.Name,
                    $"shape [{string.Join(", ", entry.Shape)}] of {entry.Dtype.HeaderName()} needs {bytes} bytes but {range} span {entry.End - entry.Begin}");
            }

            expectedBegin = entry.End;
        }

        if (expectedBegin != dataLength)
        {
            throw Error(CheckpointErrorKind.IncompleteBuffer, path, null,
                $"{dataLength - expectedBegin} bytes are left over past the last tensor (data buffer {dataLength} bytes, tensors end at {expectedBegin})");
        }
    }

    private static long ByteSize(RawEntry entry, string path)
    {
        try
        {
            return checked(entry.Shape.Aggregate(1L, (n, d) => n * d) * entry.Dtype.ElementSize());
        }
        catch (OverflowException)
        {
            throw Error(CheckpointErrorKind.ValidationOverflow, path, entry.Name,
                $"shape [{string.Join(", ", entry.Shape)}] × {entry.Dtype.HeaderName()} overflows 64 bits");
        }
    }

    /// <summary>pread may return less than asked for; the lengths were checked against the file already.</summary>
    private static void ReadExactly(SafeFileHandle file, Span<byte> buffer, long offset)
    {
        while (!buffer.IsEmpty)
        {
            var read = RandomAccess.Read(file, buffer, offset);
            if (read == 0)
            {
                throw new EndOfStreamException();
            }

            buffer = buffer[read..];
            offset += read;
        }
    }

    private static CheckpointException Error(CheckpointErrorKind kind, string path, string? tensor, string detail) =>
        new(kind, path, tensor, detail);

    /// <summary>A header entry as written, before its offsets are checked; Begin/End are relative to the data buffer.</summary>
    private sealed record RawEntry(string Name, SafetensorsDtype Dtype, ImmutableArray<long> Shape, long Begin, long End);
}

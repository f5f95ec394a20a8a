using System.Text;
using System.Text.Json;
using Parquet;
using Parquet.Serialization;

namespace MoeQuant.Model.Calibration;

/// <summary>One dataset row as JSON, with where it came from for error messages (<c>file:line</c> or <c>file: row N</c>).</summary>
internal sealed record Row(string Location, JsonElement Value);

/// <summary>
/// Reads rows from .jsonl (one JSON value per non-blank line), .parquet (one row per record, read a row group at a time)
/// and .txt files (one row per paragraph, paragraphs separated by blank lines).
/// </summary>
internal static class RowReader
{
    /// <summary>How many rows each file has, without parsing rows (parquet from its footer).</summary>
    public static async Task<long> CountAsync(string file, CancellationToken cancellation)
    {
        switch (Path.GetExtension(file).ToLowerInvariant())
        {
            case ".parquet":
                await using (var reader = await OpenParquetAsync(file, cancellation))
                {
                    return reader.RowGroups.Sum(g => g.RowCount);
                }

            case ".txt":
                return Paragraphs(file).LongCount();
            default:
                return File.ReadLines(file).LongCount(line => !string.IsNullOrWhiteSpace(line));
        }
    }

    /// <summary>The rows of <paramref name="file"/> in order, with their index in the file; <paramref name="wanted"/> (if given) filters.</summary>
    public static async IAsyncEnumerable<(long Index, Row Row)> ReadAsync(string file, ISet<long>? wanted,
        [System.Runtime.CompilerServices.EnumeratorCancellation] CancellationToken cancellation)
    {
        if (Path.GetExtension(file).Equals(".parquet", StringComparison.OrdinalIgnoreCase))
        {
            await foreach (var row in ReadParquetAsync(file, wanted, cancellation))
            {
                yield return row;
            }

            yield break;
        }

        var index = -1L;
        var isText = Path.GetExtension(file).Equals(".txt", StringComparison.OrdinalIgnoreCase);
        foreach (var (line, text) in isText ? Paragraphs(file) : JsonLines(file))
        {
            index++;
            if (wanted is null || wanted.Contains(index))
            {
                yield return (index, new Row($"{file}:{line}", isText ? JsonSerializer.SerializeToElement(text) : ParseJson(file, line, text)));
            }
        }
    }

    private static async IAsyncEnumerable<(long, Row)> ReadParquetAsync(string file, ISet<long>? wanted,
        [System.Runtime.CompilerServices.EnumeratorCancellation] CancellationToken cancellation)
    {
        await using var stream = File.OpenRead(file);
        long[] groupSizes;
        await using (var reader = await OpenParquetAsync(file, cancellation))
        {
            groupSizes = [.. reader.RowGroups.Select(g => g.RowCount)];
        }

        var first = 0L;
        for (var group = 0; group < groupSizes.Length; first += groupSizes[group], group++)
        {
            // Only row groups holding a wanted row are decoded: OpenThoughts is ~1 GB, a calibration set a few MB of it.
            var start = first;
            var end = first + groupSizes[group];
            if (wanted is not null && !wanted.Any(i => i >= start && i < end))
            {
                continue;
            }

            stream.Position = 0;
            var rows = await ParquetSerializer.DeserializeUntypedAsync(stream, null, group, cancellation);
            for (var i = 0; i < rows.Data.Count; i++)
            {
                if (wanted is null || wanted.Contains(start + i))
                {
                    yield return (start + i, new Row($"{file}: row {start + i + 1}", JsonSerializer.SerializeToElement(rows.Data[i])));
                }
            }
        }
    }

    private static async Task<ParquetReader> OpenParquetAsync(string file, CancellationToken cancellation)
    {
        try
        {
            return await ParquetReader.CreateAsync(file, null, cancellation);
        }
        catch (Exception e) when (e is IOException or InvalidDataException or NotSupportedException)
        {
            throw new UserInputException($"{file}: not a readable parquet file: {e.Message}", e);
        }
    }

    private static JsonElement ParseJson(string file, int line, string text)
    {
        try
        {
            using var document = JsonDocument.Parse(text);
            return document.RootElement.Clone();
        }
        catch (JsonException e)
        {
            throw new UserInputException($"{file}:{line}: not valid JSON: {e.Message}", e);
        }
    }

    private static IEnumerable<(int Line, string Text)> JsonLines(string file)
    {
        var line = 0;
        foreach (var text in File.ReadLines(file))
        {
            line++;
            if (!string.IsNullOrWhiteSpace(text))
            {
                yield return (line, text);
            }
        }
    }

    private static IEnumerable<(int Line, string Text)> Paragraphs(string file)
    {
        var paragraph = new StringBuilder();
        var start = 0;
        var line = 0;
        foreach (var text in File.ReadLines(file).Append(""))
        {
            line++;
            if (!string.IsNullOrWhiteSpace(text))
            {
                start = paragraph.Length == 0 ? line : start;
                paragraph.Append(paragraph.Length == 0 ? "" : "\n").Append(text);
            }
            else if (paragraph.Length > 0)
            {
                yield return (start, paragraph.ToString());
                paragraph.Clear();
            }
        }
    }
}

using System.Text.Json;

namespace MoeQuant.Model.Evaluation;

/// <summary><c>--input-ids FILE.jsonl</c>: each line a JSON array of token ids, used as given (no truncation, no sampling).</summary>
public static class TokenIdLines
{
    /// <summary>Reads every line of <paramref name="path"/>; blank lines are ignored, lines under 2 ids skipped and counted.</summary>
    /// <param name="path">The JSON Lines file.</param>
    /// <param name="vocabSize">The model's vocab_size: ids must be below it.</param>
    /// <exception cref="UserInputException">The file is missing, a line is malformed or holds an id outside the vocabulary
    /// (the message names file and line), or no line has 2 ids.</exception>
    public static EvalSequences Read(string path, int vocabSize)
    {
        if (!File.Exists(path))
        {
            throw new UserInputException($"--input-ids {path}: file does not exist");
        }

        var sequences = new List<int[]>();
        var skipped = 0;
        var lineNumber = 0;
        foreach (var line in File.ReadLines(path))
        {
            lineNumber++;
            if (string.IsNullOrWhiteSpace(line))
            {
                continue;
            }

            var ids = Parse(line, $"{path}:{lineNumber}", vocabSize);
            if (ids.Length < 2)
            {
                skipped++;
                continue;
            }

            sequences.Add(ids);
        }

        if (sequences.Count == 0)
        {
            throw new UserInputException($"{path}: no line has 2 or more token ids ({skipped} lines skipped)");
        }

        IReadOnlyList<string> warnings = skipped > 0 ? [$"skipped {skipped} lines with fewer than 2 token ids"] : [];
        return new EvalSequences(sequences, skipped, path, warnings);
    }

    private static int[] Parse(string line, string where, int vocabSize)
    {
        JsonDocument document;
        try
        {
            document = JsonDocument.Parse(line);
        }
        catch (JsonException e)
        {
            throw new UserInputException($"{where}: not valid JSON ({e.Message})", e);
        }

        using (document)
        {
            var root = document.RootElement;
            if (root.ValueKind != JsonValueKind.Array)
            {
                throw new UserInputException($"{where}: expected a JSON array of token ids, found a JSON {root.ValueKind.ToString().ToLowerInvariant()}");
            }

            return [.. root.EnumerateArray().Select(e => e.ValueKind == JsonValueKind.Number && e.TryGetInt32(out var id) && id >= 0 && id < vocabSize
                ? id
                : throw new UserInputException($"{where}: {e.GetRawText()} is not a token id of this model (an integer from 0 to {vocabSize - 1})"))];
        }
    }
}

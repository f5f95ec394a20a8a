using System.Text.Encodings.Web;
using System.Text.Json;
using System.Text.Json.Nodes;
using MoeQuant.Model.Checkpoint;

namespace MoeQuant.Model.Export;

/// <summary>The non-tensor files of an export folder: what counts as a checkpoint there, copies of the model's
/// tokenizer, generation config and remote code, and JSON written temp-then-rename.</summary>
internal static class ExportFiles
{
    /// <summary>Files loaders read beside the weights, copied when the model has them: the tokenizer (HF's files, and
    /// the chat template newer transformers saves apart) and generation defaults. Remote code (*.py) comes too.</summary>
    private static readonly string[] Copied =
        ["tokenizer.json", "tokenizer_config.json", "special_tokens_map.json", "chat_template.jinja", "generation_config.json"];

    private static readonly JsonSerializerOptions Indented = new() { WriteIndented = true, Encoder = JavaScriptEncoder.UnsafeRelaxedJsonEscaping };

    /// <summary>The checkpoint files of <paramref name="folder"/> that an export would replace; empty when it holds none.</summary>
    public static IReadOnlyList<string> CheckpointFiles(string folder) => !Directory.Exists(folder)
        ? []
        : [.. Directory.EnumerateFiles(folder)
            .Where(f => Path.GetFileName(f) is var name && (name is "config.json" or ShardedCheckpoint.IndexFileName or CheckpointExporter.ProvenanceFileName or GptqV1Format.ConfigFileName
                || (name.StartsWith("model", StringComparison.Ordinal) && name.EndsWith(".safetensors", StringComparison.Ordinal))))
            .Order(StringComparer.Ordinal)];

    /// <summary>Copies the model's side files into <paramref name="output"/>; returns their full paths.</summary>
    public static IReadOnlyList<string> CopySideFiles(string modelFolder, string output) =>
    [
        .. Copied.Select(name => Path.Combine(modelFolder, name)).Where(File.Exists)
            .Concat(Directory.EnumerateFiles(modelFolder, "*.py").Order(StringComparer.Ordinal))
            .Select(source => Write(Path.Combine(output, Path.GetFileName(source)), stream =>
            {
                using var input = File.OpenRead(source);
                input.CopyTo(stream);
            })),
    ];

    /// <summary>Writes JSON with two-space indentation and a final newline, as transformers does.</summary>
    public static string WriteJson(string path, JsonNode json) => Write(path, stream =>
    {
        JsonSerializer.Serialize(stream, json, Indented);
        stream.WriteByte((byte)'\n');
    });

    /// <summary>Writes a file under a temporary name, then renames it over <paramref name="path"/>.</summary>
    public static string Write(string path, Action<Stream> write)
    {
        using var file = PendingFile.Create(path);
        write(file.Stream);
        file.Complete();
        file.Commit();
        return file.FinalPath;
    }

    /// <summary>Deletes earlier checkpoint files that the new export did not write (shards of another count, an index
    /// beside a single file, another format's config), so that no loader mixes the two.</summary>
    public static void RemoveStale(string folder, IReadOnlyCollection<string> written)
    {
        foreach (var stale in CheckpointFiles(folder).Where(f => !written.Contains(f)))
        {
            File.Delete(stale);
        }
    }
}

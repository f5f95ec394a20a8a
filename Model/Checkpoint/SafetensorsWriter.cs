using System.Collections.Immutable;

namespace MoeQuant.Model.Checkpoint;

/// <summary>
/// Writes .safetensors files in the official serializer's layout (FORMATS.md §1.4), streaming: the header is computed
/// from the entries' shapes, then each entry writes its bytes in turn. Files appear under their final names only when
/// complete (temporary name, fsync, rename); on failure no new file is left behind.
/// </summary>
public static partial class SafetensorsWriter
{
    /// <summary>What transformers expects in <c>__metadata__</c> (FORMATS.md §1.4).</summary>
    public static readonly IReadOnlyDictionary<string, string> DefaultMetadata =
        ImmutableDictionary<string, string>.Empty.Add("format", "pt");

    /// <summary>Writes one file.</summary>
    /// <param name="path">The file to create or replace; its folder must exist.</param>
    /// <param name="tensors">Entries with unique names, in any order.</param>
    /// <param name="metadata">The <c>__metadata__</c> strings; <see cref="DefaultMetadata"/> when null, none when empty.</param>
    /// <exception cref="ArgumentException">Two entries share a name, or one is called "__metadata__" or has a negative dimension.</exception>
    /// <exception cref="InvalidOperationException">An entry wrote a different number of bytes than its shape needs.</exception>
    public static void WriteFile(string path, IReadOnlyCollection<SafetensorsEntry> tensors, IReadOnlyDictionary<string, string>? metadata = null)
    {
        Validate(tensors);
        using var file = PendingFile.Create(path);
        WriteTo(file, tensors, metadata ?? DefaultMetadata);
        file.Commit();
    }

    /// <summary>
    /// Writes a checkpoint folder split into shards of at most <paramref name="maxShardBytes"/> data bytes, in the
    /// order of <paramref name="tensors"/> (a tensor larger than the limit gets a shard of its own). One shard is written
    /// as <c>model.safetensors</c> alone, as transformers does; several as <c>model-00001-of-0000N.safetensors</c> plus
    /// <c>model.safetensors.index.json</c>. All shards are completed before any is renamed, and the index comes last.
    /// </summary>
    /// <returns>The full paths written, the index last if there is one.</returns>
    /// <exception cref="ArgumentException">As for <see cref="WriteFile"/>, or a limit that is not positive.</exception>
    public static IReadOnlyList<string> WriteSharded(
        string folder, IReadOnlyList<SafetensorsEntry> tensors, long maxShardBytes, IReadOnlyDictionary<string, string>? metadata = null)
    {
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(maxShardBytes);
        Validate(tensors);
        Directory.CreateDirectory(folder);
        var shards = Split(tensors, maxShardBytes);
        var pending = new List<PendingFile>();
        try
        {
            var weightMap = new List<(string Tensor, string Shard)>();
            for (var i = 0; i < shards.Count; i++)
            {
                var name = ShardName(i, shards.Count);
                var file = PendingFile.Create(Path.Combine(folder, name));
                pending.Add(file);
                WriteTo(file, shards[i], metadata ?? DefaultMetadata);
                weightMap.AddRange(shards[i].Select(t => (t.Name, name)));
            }

            return CommitAll(folder, pending, tensors.Sum(t => t.ByteLength), weightMap);
        }
        finally
        {
            foreach (var file in pending)
            {
                file.Dispose();
            }
        }
    }

    private static void WriteTo(PendingFile file, IReadOnlyCollection<SafetensorsEntry> tensors, IReadOnlyDictionary<string, string> metadata)
    {
        var ordered = SafetensorsLayout.Order(tensors);
        file.Stream.Write(SafetensorsLayout.Header(ordered, metadata));
        foreach (var tensor in ordered)
        {
            var start = file.Stream.Position;
            tensor.WriteData(file.Stream);
            var written = file.Stream.Position - start;
            if (written != tensor.ByteLength)
            {
                throw WrongLength(file.FinalPath, tensor, written);
            }
        }

        file.Complete();
    }

    private static InvalidOperationException WrongLength(string path, SafetensorsEntry tensor, long written) =>
        new($"{path}: tensor '{tensor.Name}': its data source wrote {written} bytes, shape × {tensor.Dtype.HeaderName()} needs {tensor.ByteLength}");

    /// <summary><c>model.safetensors</c> for a single shard, else transformers' <c>model-00001-of-0000N.safetensors</c>.</summary>
    private static string ShardName(int index, int count) =>
        count == 1 ? ShardedCheckpoint.SingleFileName : $"model-{index + 1:D5}-of-{count:D5}.safetensors";

    /// <summary>Greedy split in the given order: a shard is closed when the next tensor would take it past the limit.</summary>
    private static List<List<SafetensorsEntry>> Split(IReadOnlyList<SafetensorsEntry> tensors, long maxShardBytes)
    {
        var shards = new List<List<SafetensorsEntry>> { new() };
        var size = 0L;
        foreach (var tensor in tensors)
        {
            if (shards[^1].Count > 0 && size + tensor.ByteLength > maxShardBytes)
            {
                shards.Add([]);
                size = 0;
            }

            shards[^1].Add(tensor);
            size += tensor.ByteLength;
        }

        return shards;
    }

    private static void Validate(IReadOnlyCollection<SafetensorsEntry> tensors)
    {
        var names = new HashSet<string>(StringComparer.Ordinal);
        foreach (var tensor in tensors)
        {
            if (tensor.Name == "__metadata__" || !names.Add(tensor.Name))
            {
                throw new ArgumentException($"tensor name '{tensor.Name}' is reserved or appears twice", nameof(tensors));
            }

            if (tensor.Shape.Any(d => d < 0))
            {
                throw new ArgumentException($"tensor '{tensor.Name}' has a negative dimension", nameof(tensors));
            }
        }
    }

    // The shards are complete: the index when there is more than one, then every file renamed into place (the caller's
    // finally disposes them, which removes the temporary files of a write that failed before this).
    private static IReadOnlyList<string> CommitAll(string folder, List<PendingFile> pending, long totalBytes, List<(string Tensor, string Shard)> weightMap)
    {
        if (pending.Count > 1)
        {
            var index = PendingFile.Create(Path.Combine(folder, ShardedCheckpoint.IndexFileName));
            pending.Add(index);
            CheckpointIndex.Write(index.Stream, totalBytes, weightMap);
            index.Complete();
        }

        foreach (var file in pending)
        {
            file.Commit();
        }

        return [.. pending.Select(f => f.FinalPath)];
    }
}

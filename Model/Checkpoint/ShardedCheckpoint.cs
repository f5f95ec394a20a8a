using System.Diagnostics.CodeAnalysis;
using TorchSharp;

namespace MoeQuant.Model.Checkpoint;

/// <summary>
/// The tensors of a model folder: the shards named by <c>model.safetensors.index.json</c>, else the single
/// <c>model.safetensors</c>, else every <c>*.safetensors</c> file in the folder. Opening validates every shard and the
/// index against them: the index is authoritative and must agree exactly with the shards (each listed tensor in the
/// listed shard, and no shard tensor missing from the index), because a quantizer that silently skipped an unlisted
/// tensor would write an incomplete model. Files in the folder that the index does not name are ignored.
/// </summary>
public sealed class ShardedCheckpoint : IDisposable
{
    /// <summary>Name of the sharded index file.</summary>
    public const string IndexFileName = "model.safetensors.index.json";

    /// <summary>Name of an unsharded checkpoint's only file.</summary>
    public const string SingleFileName = "model.safetensors";

    private readonly Dictionary<string, (SafetensorsFile Shard, TensorHeader Header)> _tensors;

    private ShardedCheckpoint(string folder, IReadOnlyList<SafetensorsFile> shards, Dictionary<string, (SafetensorsFile, TensorHeader)> tensors)
    {
        Folder = folder;
        Shards = shards;
        _tensors = tensors;
        Tensors = [.. tensors.Values.Select(t => t.Item2).OrderBy(t => t.Name, StringComparer.Ordinal)];
    }

    /// <summary>Full path of the model folder.</summary>
    public string Folder { get; }

    /// <summary>The open shards.</summary>
    public IReadOnlyList<SafetensorsFile> Shards { get; }

    /// <summary>Every tensor, by name in ordinal order.</summary>
    public IReadOnlyList<TensorHeader> Tensors { get; }

    /// <summary>Opens and validates the checkpoint in <paramref name="folder"/>.</summary>
    /// <exception cref="CheckpointException">Anything malformed or inconsistent; the message names the file and tensor.</exception>
    public static ShardedCheckpoint Open(string folder)
    {
        var full = Path.TrimEndingDirectorySeparator(Path.GetFullPath(folder));
        if (!Directory.Exists(full))
        {
            throw new CheckpointException(CheckpointErrorKind.NotFound, full, null, "model folder does not exist");
        }

        var indexPath = Path.Combine(full, IndexFileName);
        var weightMap = File.Exists(indexPath) ? CheckpointIndex.Read(indexPath) : null;
        var shardPaths = weightMap is null
            ? FindShards(full)
            : weightMap.DistinctBy(e => e.Shard).Select(e => ShardPaths.Resolve(full, e.Shard, indexPath, e.Tensor)).ToList();

        var shards = new List<SafetensorsFile>();
        try
        {
            foreach (var path in shardPaths)
            {
                shards.Add(SafetensorsFile.Open(path));
            }

            var tensors = Collect(shards);
            if (weightMap is not null)
            {
                CheckAgainstIndex(indexPath, full, weightMap, tensors);
            }

            return new ShardedCheckpoint(full, shards, tensors);
        }
        catch
        {
            shards.ForEach(s => s.Dispose());
            throw;
        }
    }

    /// <summary>Whether the checkpoint holds <paramref name="name"/>.</summary>
    public bool Contains(string name) => _tensors.ContainsKey(name);

    /// <summary>The header entry of <paramref name="name"/>, if the checkpoint holds it.</summary>
    public bool TryGetHeader(string name, [NotNullWhen(true)] out TensorHeader? header)
    {
        header = _tensors.TryGetValue(name, out var found) ? found.Header : null;
        return header is not null;
    }

    /// <summary>The header entry of <paramref name="name"/> (its <see cref="TensorHeader.File"/> names the shard).</summary>
    /// <exception cref="CheckpointException">No such tensor (kind <see cref="CheckpointErrorKind.TensorNotFound"/>).</exception>
    public TensorHeader GetHeader(string name) => Find(name).Header;

    /// <summary>The raw bytes of a tensor smaller than 2 GiB; see <see cref="SafetensorsFile.GetBytes"/>.</summary>
    public ReadOnlySpan<byte> GetBytes(string name) => Find(name).Shard.GetBytes(name);

    /// <summary>Part of a tensor's bytes by positional reads; see <see cref="SafetensorsFile.ReadBytes"/>.</summary>
    public void ReadBytes(string name, long tensorOffset, Span<byte> destination) => Find(name).Shard.ReadBytes(name, tensorOffset, destination);

    /// <summary>A CPU tensor, zero-copy where possible; see <see cref="SafetensorsFile.ReadTensor"/>.</summary>
    public torch.Tensor ReadTensor(string name) => Find(name).Shard.ReadTensor(name);

    /// <summary>A CPU tensor copied by positional reads; see <see cref="SafetensorsFile.ReadTensorCopy"/>.</summary>
    public torch.Tensor ReadTensorCopy(string name) => Find(name).Shard.ReadTensorCopy(name);

    public void Dispose()
    {
        foreach (var shard in Shards)
        {
            shard.Dispose();
        }
    }

    private (SafetensorsFile Shard, TensorHeader Header) Find(string name) =>
        _tensors.TryGetValue(name, out var found)
            ? found
            : throw new CheckpointException(CheckpointErrorKind.TensorNotFound, Folder, name, "no such tensor in the checkpoint");

    /// <summary>Without an index: model.safetensors if present, else every *.safetensors file in name order.</summary>
    private static List<string> FindShards(string folder)
    {
        var single = Path.Combine(folder, SingleFileName);
        var names = File.Exists(single)
            ? [SingleFileName]
            : Directory.EnumerateFiles(folder, "*.safetensors").Select(Path.GetFileName).OfType<string>().Order(StringComparer.Ordinal).ToList();
        if (names.Count == 0)
        {
            throw new CheckpointException(CheckpointErrorKind.NotFound, folder, null,
                $"no {IndexFileName}, {SingleFileName} or other *.safetensors file in the model folder");
        }

        return [.. names.Select(n => ShardPaths.Resolve(folder, n, Path.Combine(folder, n), null))];
    }

    private static Dictionary<string, (SafetensorsFile, TensorHeader)> Collect(List<SafetensorsFile> shards)
    {
        var tensors = new Dictionary<string, (SafetensorsFile Shard, TensorHeader Header)>(StringComparer.Ordinal);
        foreach (var shard in shards)
        {
            foreach (var header in shard.Tensors)
            {
                if (!tensors.TryAdd(header.Name, (shard, header)))
                {
                    throw new CheckpointException(CheckpointErrorKind.DuplicateTensor, shard.Path, header.Name,
                        $"also in {tensors[header.Name].Shard.Path}; each tensor must be in exactly one shard");
                }
            }
        }

        return tensors;
    }

    private static void CheckAgainstIndex(
        string indexPath, string folder, List<(string Tensor, string Shard)> weightMap, Dictionary<string, (SafetensorsFile Shard, TensorHeader)> tensors)
    {
        foreach (var (tensor, shard) in weightMap)
        {
            var listed = Path.GetFullPath(Path.Combine(folder, shard));
            if (!tensors.TryGetValue(tensor, out var found))
            {
                throw new CheckpointException(CheckpointErrorKind.IndexMismatch, indexPath, tensor, $"listed in '{shard}', but that shard does not hold it");
            }

            if (found.Shard.Path != listed)
            {
                throw new CheckpointException(CheckpointErrorKind.IndexMismatch, indexPath, tensor,
                    $"listed in '{shard}', but it is in {found.Shard.Path}");
            }
        }

        if (tensors.Count != weightMap.Count)
        {
            var listed = weightMap.Select(e => e.Tensor).ToHashSet(StringComparer.Ordinal);
            var (name, (extraShard, _)) = tensors.First(t => !listed.Contains(t.Key));
            throw new CheckpointException(CheckpointErrorKind.IndexMismatch, extraShard.Path, name, $"this shard holds the tensor, but {indexPath} does not list it");
        }
    }
}

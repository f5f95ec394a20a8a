namespace MoeQuant.Model.Checkpoint;

/// <summary>
/// Keeps shard paths inside the model folder: no absolute paths, no "..", and no symlink (of the file or of a folder
/// on the way) that resolves outside the folder's own resolved path. Note this also refuses the HuggingFace hub cache
/// layout, whose snapshot files are symlinks into a sibling blobs/ folder.
/// </summary>
internal static class ShardPaths
{
    // Linux's limit on symlinks followed in one lookup (ELOOP).
    private const int MaxLinks = 40;

    /// <summary>The full path of <paramref name="shard"/> inside <paramref name="folder"/>, checked.</summary>
    /// <param name="folder">Full path of the model folder.</param>
    /// <param name="shard">The shard file name, as written in the index.</param>
    /// <param name="source">The file that named the shard (index, or the shard itself), for messages.</param>
    /// <param name="tensor">A tensor the index places in this shard, for messages.</param>
    public static string Resolve(string folder, string shard, string source, string? tensor)
    {
        var path = Path.GetFullPath(Path.Combine(folder, shard));
        if (Path.IsPathRooted(shard) || !IsInside(path, folder))
        {
            throw Outside(source, tensor, $"shard '{shard}' is outside the model folder {folder}");
        }

        if (!File.Exists(path))
        {
            throw new CheckpointException(CheckpointErrorKind.MissingShard, source, tensor, $"shard '{shard}' does not exist in {folder}");
        }

        var real = RealPath(path);
        if (!IsInside(real, RealPath(folder)))
        {
            throw Outside(source, tensor, $"shard '{shard}' is a symlink to {real}, outside the model folder {folder}");
        }

        return path;
    }

    /// <summary>Resolves every symlink on the way, like realpath(3).</summary>
    private static string RealPath(string fullPath)
    {
        var links = 0;
        var pending = new Stack<string>(fullPath.Split('/', StringSplitOptions.RemoveEmptyEntries).Reverse());
        var current = "/";
        while (pending.TryPop(out var part))
        {
            if (part == ".")
            {
                continue;
            }

            if (part == "..")
            {
                current = Path.GetDirectoryName(current) ?? "/";
                continue;
            }

            var next = Path.Join(current, part);
            var target = new FileInfo(next).LinkTarget;
            if (target is null)
            {
                current = next;
                continue;
            }

            if (++links > MaxLinks)
            {
                throw new IOException($"{fullPath}: too many levels of symbolic links");
            }

            // Continue with the target's parts in place of this one; an absolute target restarts from the root.
            foreach (var targetPart in target.Split('/', StringSplitOptions.RemoveEmptyEntries).Reverse())
            {
                pending.Push(targetPart);
            }

            if (Path.IsPathRooted(target))
            {
                current = "/";
            }
        }

        return current;
    }

    private static bool IsInside(string path, string folder) =>
        path.StartsWith(Path.TrimEndingDirectorySeparator(folder) + Path.DirectorySeparatorChar, StringComparison.Ordinal);

    private static CheckpointException Outside(string source, string? tensor, string detail) =>
        new(CheckpointErrorKind.ShardOutsideFolder, source, tensor, detail);
}

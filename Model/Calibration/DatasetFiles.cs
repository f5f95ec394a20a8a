namespace MoeQuant.Model.Calibration;

/// <summary>Turns <c>--dataset-name-or-path</c> into the data files to read, in HF's order (sorted paths).</summary>
/// <param name="Files">Absolute paths of .jsonl, .parquet or .txt files.</param>
/// <param name="Known">The MoE-Quant dataset, when the value named one.</param>
internal sealed record DatasetFiles(IReadOnlyList<string> Files, KnownDataset? Known)
{
    private static readonly string[] Extensions = [".jsonl", ".parquet", ".txt"];

    public static DatasetFiles Resolve(CalibrationOptions options)
    {
        var value = options.DatasetNameOrPath;
        var known = KnownDataset.Find(value);
        if (Directory.Exists(value))
        {
            return new DatasetFiles(FolderFiles(value), known);
        }

        if (known is not null)
        {
            var folder = options.DatasetRoots.Select(root => FindUnder(root, known)).FirstOrDefault(f => f is not null);
            return folder is null ? throw known.NotFound(options.DatasetRoots) : new DatasetFiles(FolderFiles(folder), known);
        }

        if (File.Exists(value))
        {
            return Extensions.Contains(Path.GetExtension(value).ToLowerInvariant())
                ? new DatasetFiles([Path.GetFullPath(value)], null)
                : throw new UserInputException($"{value}: calibration files must be .jsonl, .parquet or .txt");
        }

        throw new UserInputException($"--dataset-name-or-path '{value}' is neither one of {string.Join(", ", KnownDataset.All.Select(d => d.Name))} "
            + "nor an existing file or folder");
    }

    /// <summary>A plain folder named after the dataset, or the newest snapshot of its HF hub cache entry.</summary>
    private static string? FindUnder(string root, KnownDataset known)
    {
        var plain = Path.Combine(root, known.Name);
        if (Directory.Exists(plain))
        {
            return plain;
        }

        var snapshots = Path.Combine(root, "datasets--" + known.HubRepository.Replace("/", "--", StringComparison.Ordinal), "snapshots");
        if (!Directory.Exists(snapshots))
        {
            return null;
        }

        return new DirectoryInfo(snapshots).GetDirectories().OrderByDescending(d => d.LastWriteTimeUtc)
            .Select(d => Path.Combine(d.FullName, known.DataFolder)).FirstOrDefault(Directory.Exists);
    }

    /// <summary>
    /// HF's default layout: the files under <c>data/</c> when it exists (other folders hold other configs), else all files;
    /// of those, the train split's when file names mark splits.
    /// </summary>
    private static List<string> FolderFiles(string folder)
    {
        var data = Path.Combine(folder, "data");
        var root = Directory.Exists(data) ? data : folder;
        var files = Directory.EnumerateFiles(root, "*", SearchOption.AllDirectories)
            .Where(f => Extensions.Contains(Path.GetExtension(f).ToLowerInvariant()))
            .Where(f => !Path.GetRelativePath(root, f).Split(Path.DirectorySeparatorChar).Any(part => part.StartsWith('.')))
            .Select(Path.GetFullPath)
            .Order(StringComparer.Ordinal)
            .ToList();
        var train = files.Where(f => Path.GetRelativePath(root, f).Contains("train", StringComparison.OrdinalIgnoreCase)).ToList();
        if (files.Count == 0)
        {
            throw new UserInputException($"{folder}: no .jsonl, .parquet or .txt files in it");
        }

        return train.Count > 0 ? train : files;
    }
}

namespace MoeQuant.Model.Calibration;

/// <summary>MoE-Quant's three calibration datasets (<c>src/data_utils.py</c>) and where their files live on the hub.</summary>
/// <param name="Name">The <c>--dataset-name-or-path</c> value.</param>
/// <param name="HubRepository">The HF dataset repository.</param>
/// <param name="DataFolder">The folder of the split MoE-Quant loads, inside the repository.</param>
/// <param name="Kind">How its rows become text.</param>
internal sealed record KnownDataset(string Name, string HubRepository, string DataFolder, RowKind Kind)
{
    public static readonly IReadOnlyList<KnownDataset> All =
    [
        new("open-thoughts", "open-thoughts/OpenThoughts-114k", "data", RowKind.OpenThoughts),
        new("open-platypus", "garage-bAInd/Open-Platypus", "data", RowKind.Platypus),
        // MoE-Quant streams the sample-10BT config; a few of its parquet files are plenty for calibration.
        new("fineweb-edu", "HuggingFaceFW/fineweb-edu", "sample/10BT", RowKind.Text),
    ];

    public static KnownDataset? Find(string name) => All.FirstOrDefault(d => d.Name == name);

    /// <summary>The error for a name with no local copy: what to download, and where to put it.</summary>
    public UserInputException NotFound(IEnumerable<string> roots) => new(
        $"dataset '{Name}' has no local copy. On a machine with hub access run: huggingface-cli download --repo-type dataset "
        + $"{HubRepository} --include '{DataFolder}/*' --local-dir {Name}" + (Name == "fineweb-edu" ? " (one or two of its parquet files suffice)" : "")
        + $"; then copy the {Name} folder into one of [{string.Join(", ", roots)}], or pass its path as --dataset-name-or-path");
}

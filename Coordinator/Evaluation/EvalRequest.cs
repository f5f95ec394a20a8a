namespace MoeQuant.Coordinator.Evaluation;

/// <summary>What <c>moequant eval</c> was asked to do, flag by flag; null means the flag was not given.</summary>
/// <param name="ModelPath"><c>--model-name-or-path</c>: checkpoint folder; null for the built-in tiny model.</param>
/// <param name="Dataset"><c>--dataset-name-or-path</c>: a dataset drawn as calibration data is.</param>
/// <param name="InputIds"><c>--input-ids</c>: JSON Lines of token-id arrays, used whole.</param>
/// <param name="NumSamples"><c>--num-samples</c>: sequences drawn from the dataset.</param>
/// <param name="MaxSequenceLength"><c>--max-sequence-length</c>: dataset sequences are cut to this many tokens.</param>
/// <param name="Seed"><c>--seed</c>: dataset sampling seed.</param>
/// <param name="Dtype"><c>--dtype</c>: bfloat16 or float32.</param>
/// <param name="Devices"><c>--devices</c>: the first device listed runs the model.</param>
public sealed record EvalRequest(
    string? ModelPath,
    string? Dataset,
    string? InputIds,
    int? NumSamples,
    int? MaxSequenceLength,
    int? Seed,
    string? Dtype,
    string? Devices)
{
    public const int DefaultNumSamples = 128;
    public const int DefaultMaxSequenceLength = 4096;
    public const string DefaultDtype = "bfloat16";
}

namespace MoeQuant.Model.Calibration;

/// <summary>Prepared calibration data: one token-id sequence per sample, no packing and no padding (MoE-Quant §7.2).</summary>
/// <param name="Samples">Each sample's ids, 2 to <see cref="CalibrationOptions.MaxSequenceLength"/> long.</param>
/// <param name="SkippedTooShort">Rows drawn but dropped for having fewer than 2 tokens.</param>
/// <param name="Warnings">Things the user should know (fewer samples than asked, reasoning the template drops).</param>
/// <param name="Source">The files the samples came from, for the log.</param>
public sealed record CalibrationSet(IReadOnlyList<int[]> Samples, int SkippedTooShort, IReadOnlyList<string> Warnings, string Source);

namespace MoeQuant.Kernels.Gptq;

/// <summary>
/// How <see cref="Gptq.QuantizeBatch(IReadOnlyList{GptqBatchItem}, GptqOptions, GptqBatchSettings)"/> runs a batch, not
/// what it computes: the defaults run it as one chunk with no instrumentation.
/// </summary>
public sealed record GptqBatchSettings
{
    /// <summary>The defaults: one chunk, no stage announcements.</summary>
    public static GptqBatchSettings Default { get; } = new();

    /// <summary>
    /// Device bytes the batch's workspace may take (<see cref="GptqBatchWorkspace.EstimateBytes"/>); a batch whose
    /// estimate exceeds it runs in equal chunks of items that fit, each exactly as a call with that chunk would. Null:
    /// one chunk, whatever its size. Callers on CUDA usually pass a share of the free memory measured once before their
    /// first batch (<see cref="GptqBatchWorkspace.BudgetFromFreeMemory"/>).
    /// </summary>
    public long? WorkspaceBytes { get; init; }

    /// <summary>
    /// Called on the calling thread as each stage begins; the work up to the next call belongs to that stage. Null (the
    /// default): no calls. The engine never synchronizes for it: a timer that wants device time per stage synchronizes
    /// in the callback (<see cref="GptqStageTimer"/>).
    /// </summary>
    public Action<GptqStage>? Stages { get; init; }
}

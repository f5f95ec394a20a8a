namespace MoeQuant.GpuNode.Actors;

/// <summary>How a GpuNode works, from the run's options.</summary>
/// <param name="RelDamp">Relative damping of the first GPTQ try (<c>--rel-damp</c>).</param>
/// <param name="DampingGrowth">Factor applied to the damping for the last try after kernel failures.</param>
/// <param name="MaxQuantizeBatch">Most units quantized in one launch.</param>
/// <param name="OffloadActivations">Keep no shard activations on the device between steps (<c>--offload-activations</c>):
/// each step reads its shard's input back from the committed state files.</param>
/// <param name="RegisterInterval">How often an unacknowledged node repeats its registration.</param>
public sealed record NodeSettings(
    double RelDamp,
    double DampingGrowth,
    int MaxQuantizeBatch,
    bool OffloadActivations,
    TimeSpan RegisterInterval)
{
    /// <summary>Retries after the first failed try: one with the same damping, one with more.</summary>
    public const int KernelRetries = 2;
}

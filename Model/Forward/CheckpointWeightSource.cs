using MoeQuant.Model.Checkpoint;
using TorchSharp;

namespace MoeQuant.Model.Forward;

/// <summary>
/// The weights of a checkpoint folder (single file or sharded), FP8 ones dequantized on the target device by
/// <see cref="Fp8WeightReader"/>. The checkpoint stays owned by the caller and must outlive the reads.
/// </summary>
public sealed class CheckpointWeightSource(ShardedCheckpoint checkpoint) : IWeightSource
{
    /// <inheritdoc/>
    /// <exception cref="CheckpointException">No such tensor, or an FP8 weight with a missing or malformed scale.</exception>
    public torch.Tensor Read(string name, torch.ScalarType dtype, torch.Device device)
    {
        if (checkpoint.GetHeader(name).Dtype == SafetensorsDtype.F8_E4M3)
        {
            return checkpoint.ReadDequantizedWeight(name, dtype, device);
        }

        // A copy rather than a view of the mapped file: the layer may keep the tensor, and each byte is read once.
        return checkpoint.ReadTensorCopy(name).to(dtype, device, disposeAfter: true);
    }
}

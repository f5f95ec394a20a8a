using MoeQuant.Model.Inspection;

namespace MoeQuant.Model.Checkpoint;

/// <summary>Lists every tensor of a checkpoint folder through its safetensors headers (no tensor data is read).</summary>
public sealed class CheckpointHeaderReader : ITensorHeaderReader
{
    public IReadOnlyList<TensorHeader> ReadHeaders(string checkpointDirectory)
    {
        using var checkpoint = ShardedCheckpoint.Open(checkpointDirectory);
        return checkpoint.Tensors;
    }
}

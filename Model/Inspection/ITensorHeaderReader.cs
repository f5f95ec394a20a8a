using MoeQuant.Model.Checkpoint;

namespace MoeQuant.Model.Inspection;

/// <summary>
/// Lists the tensors of a HuggingFace-layout checkpoint folder from its safetensors headers, without reading tensor
/// bytes. The safetensors reader implements it; tests feed synthetic headers.
/// </summary>
public interface ITensorHeaderReader
{
    /// <summary>Every tensor of every shard in <paramref name="checkpointDirectory"/>.</summary>
    /// <exception cref="UserInputException">A shard or the index is missing or malformed.</exception>
    IReadOnlyList<TensorHeader> ReadHeaders(string checkpointDirectory);
}

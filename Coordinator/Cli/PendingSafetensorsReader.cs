using MoeQuant.Model;
using MoeQuant.Model.Checkpoint;
using MoeQuant.Model.Inspection;

namespace MoeQuant.Coordinator.Cli;

/// <summary>
/// Stands in for the safetensors reader, which is written on another branch: when it is merged, Program.cs passes it
/// (behind <see cref="ITensorHeaderReader"/>) and this class is deleted.
/// </summary>
internal sealed class PendingSafetensorsReader : ITensorHeaderReader
{
    public IReadOnlyList<TensorHeader> ReadHeaders(string checkpointDirectory) =>
        throw new UserInputException(
            $"{checkpointDirectory}: this build cannot read safetensors files yet; run `moequant inspect` without a folder to see the built-in model");
}

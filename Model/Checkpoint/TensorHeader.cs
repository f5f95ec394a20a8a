using System.Collections.Immutable;

namespace MoeQuant.Model.Checkpoint;

/// <summary>
/// What a safetensors header says of one tensor, without its bytes.
/// </summary>
/// <param name="Name">Tensor name, e.g. "model.layers.3.mlp.experts.17.up_proj.weight".</param>
/// <param name="Dtype">Element type.</param>
/// <param name="Shape">Dimensions, row-major; empty for a scalar.</param>
/// <param name="File">Full path of the shard file that holds it.</param>
/// <param name="DataOffset">Absolute byte offset of the first element in <paramref name="File"/>.</param>
/// <param name="ByteLength">Number of bytes (elements × element size).</param>
public sealed record TensorHeader(
    string Name,
    SafetensorsDtype Dtype,
    ImmutableArray<long> Shape,
    string File,
    long DataOffset,
    long ByteLength)
{
    /// <summary>Number of elements (1 for a scalar).</summary>
    public long ElementCount => Shape.Aggregate(1L, (n, d) => n * d);
}

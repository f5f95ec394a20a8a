using System.Collections.Immutable;
using MoeQuant.Messages;

namespace MoeQuant.GpuNode.Workload;

/// <summary>What the coordinator plans over: the run's layers, calibration shards and quantization units.</summary>
/// <param name="ShardTokens">Tokens of each calibration shard (its index is the shard number).</param>
/// <param name="Units">For each layer, its units in the order the workload calibrates them.</param>
/// <param name="Columns">For each layer, the input width of each unit (in <paramref name="Units"/> order): its Hessian is
/// Columns² fp32 values, which the planner sizes calibration waves by.</param>
public sealed record RunShape(ImmutableArray<long> ShardTokens, ImmutableArray<ImmutableArray<UnitId>> Units, ImmutableArray<ImmutableArray<int>> Columns)
{
    /// <summary>Number of decoder layers to quantize.</summary>
    public int Layers => Units.Length;

    /// <summary>Number of calibration shards.</summary>
    public int Shards => ShardTokens.Length;

    /// <summary>Calibration tokens per layer pass.</summary>
    public long TotalTokens => ShardTokens.Sum();

    /// <summary>Bytes of the fp32 Hessian of unit <paramref name="index"/> of <paramref name="layer"/>.</summary>
    public long HessianBytes(int layer, int index) => (long)Columns[layer][index] * Columns[layer][index] * sizeof(float);
}

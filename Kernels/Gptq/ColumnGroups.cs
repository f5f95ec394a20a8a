using MoeQuant.Kernels.Quantization;
using TorchSharp;
using static TorchSharp.torch;

namespace MoeQuant.Kernels.Gptq;

/// <summary>
/// The scale and zero point of every (group, row), and which group each processing position uses. Tables are stored
/// transposed, (groups, rows) float32, so the per-column loop reads one contiguous row per group.
/// </summary>
internal sealed class ColumnGroups
{
    private readonly int[] _groupAtPosition;
    private readonly bool _fitInLoop;
    private readonly QuantizerSpec _spec;

    private ColumnGroups(Tensor scale, Tensor zero, int size, int[] groupAtPosition, bool fitInLoop, QuantizerSpec spec)
    {
        Scale = scale;
        Zero = zero;
        Size = size;
        _groupAtPosition = groupAtPosition;
        _fitInLoop = fitInLoop;
        _spec = spec;
    }

    /// <summary>(groups, rows) float32 scales.</summary>
    public Tensor Scale { get; }

    /// <summary>(groups, rows) float32 unsigned zero points.</summary>
    public Tensor Zero { get; }

    /// <summary>Columns per group.</summary>
    public int Size { get; }

    /// <summary>Whether group g covers original columns [g·Size, (g+1)·Size).</summary>
    public bool Contiguous => !_fitInLoop;

    /// <summary>Static groups, natural order: scales fitted now on the contiguous groups of <paramref name="weight"/> (rows, columns) float32.</summary>
    public static ColumnGroups Static(Tensor weight, int size, QuantizerSpec spec)
    {
        var rows = weight.shape[0];
        var columns = (int)weight.shape[1];
        var (scale, zero) = GroupQuantizer.Fit(weight.view(rows, columns / size, size), spec);
        var groupAt = Enumerable.Range(0, columns).Select(j => j / size).ToArray();
        return new ColumnGroups(scale.t().contiguous(), zero.t().contiguous(), size, groupAt, fitInLoop: false, spec);
    }

    /// <summary>
    /// Static groups whose tables were fitted elsewhere (the batched engine fits many weights at once), visited in
    /// <paramref name="order"/>: position j uses the group of column <c>order[j]</c>.
    /// </summary>
    /// <param name="scale">(groups, rows) float32.</param>
    /// <param name="zero">(groups, rows) float32.</param>
    /// <param name="size">Columns per group.</param>
    /// <param name="order">Processing order; null for natural order.</param>
    /// <param name="spec">The quantizer.</param>
    public static ColumnGroups FromStatic(Tensor scale, Tensor zero, int size, long[]? order, QuantizerSpec spec)
    {
        var columns = (int)scale.shape[0] * size;
        var groupAt = Enumerable.Range(0, columns).Select(j => (int)((order?[j] ?? j) / size)).ToArray();
        return new ColumnGroups(scale, zero, size, groupAt, fitInLoop: false, spec);
    }

    /// <summary>The same static scales, visited in <paramref name="order"/>: position j uses the group of column <c>order[j]</c>.</summary>
    public ColumnGroups InOrder(long[]? order)
    {
        var groupAt = Enumerable.Range(0, _groupAtPosition.Length).Select(j => (int)((order?[j] ?? j) / Size)).ToArray();
        return new ColumnGroups(Scale, Zero, Size, groupAt, _fitInLoop, _spec);
    }

    /// <summary>Dynamic groups: group g is positions [g·Size, (g+1)·Size), fitted when the loop reaches its first column.</summary>
    public static ColumnGroups Dynamic(long rows, int columns, int size, QuantizerSpec spec, Device device)
    {
        var scale = ones(columns / size, rows, ScalarType.Float32, device);
        var zero = zeros(columns / size, rows, ScalarType.Float32, device);
        var groupAt = Enumerable.Range(0, columns).Select(j => j / size).ToArray();
        return new ColumnGroups(scale, zero, size, groupAt, fitInLoop: true, spec);
    }

    /// <summary>
    /// Largest block size not above <paramref name="requested"/> for which every dynamic group starts at a block start
    /// or lies inside one block: then the columns a group is fitted on have received every earlier column's error (the
    /// GPTQ paper's code fits on block columns that still miss in-block updates, which makes codes depend on the block).
    /// </summary>
    public int AlignBlock(int requested, int columns)
    {
        var block = requested == 0 ? columns : Math.Min(requested, columns);
        if (!_fitInLoop || Size >= columns || block % Size == 0 || Size % block == 0)
        {
            return block;
        }

        return Size < block
            ? Size * (block / Size)
            : Enumerable.Range(1, block).Last(d => Size % d == 0);
    }

    /// <summary>Fits the group starting at <paramref name="position"/> on <paramref name="working"/> (columns, rows), if dynamic.</summary>
    public void FitIfGroupStarts(int position, Tensor working)
    {
        if (!_fitInLoop || position % Size != 0)
        {
            return;
        }

        using var scope = NewDisposeScope();
        var values = working.narrow(0, position, Size).t().unsqueeze(1);
        var (scale, zero) = GroupQuantizer.Fit(values, _spec);
        Scale[_groupAtPosition[position]].copy_(scale.squeeze(1));
        Zero[_groupAtPosition[position]].copy_(zero.squeeze(1));
    }

    /// <summary>Scale and zero point rows, (rows) float32 each, used at processing position <paramref name="position"/>.</summary>
    public (Tensor Scale, Tensor Zero) At(int position)
    {
        var group = _groupAtPosition[position];
        return (Scale[group], Zero[group]);
    }

    /// <summary>(columns) int32: the group used at every processing position (what the fused CUDA loop reads).</summary>
    public Tensor GroupAtPosition(Device device) => tensor(_groupAtPosition, device: device);

    /// <summary>(columns) int64: the group of every original column, given the processing order.</summary>
    public Tensor GroupOfColumn(long[]? order, Device device)
    {
        var groupOf = new long[_groupAtPosition.Length];
        for (var j = 0; j < groupOf.Length; j++)
        {
            groupOf[order?[j] ?? j] = _groupAtPosition[j];
        }

        return tensor(groupOf, device: device);
    }

    /// <summary>Round-to-nearest codes, (rows, columns) float32 unsigned, of <paramref name="weight"/> in natural order.</summary>
    public Tensor RoundToNearest(Tensor weight, Tensor groupOfColumn)
    {
        using var scope = NewDisposeScope();
        var (scale, zero) = Expand(groupOfColumn);
        return GroupQuantizer.Quantize(weight, scale, zero, _spec).MoveToOuterDisposeScope();
    }

    /// <summary>Values of (rows, columns) unsigned codes in natural order, float32 rounded to the scale dtype.</summary>
    public Tensor Dequantize(Tensor codes, Tensor groupOfColumn)
    {
        using var scope = NewDisposeScope();
        var (scale, zero) = Expand(groupOfColumn);
        return GroupQuantizer.Dequantize(codes, scale, zero, _spec).MoveToOuterDisposeScope();
    }

    private (Tensor Scale, Tensor Zero) Expand(Tensor groupOfColumn) =>
        (Scale.index_select(0, groupOfColumn).t(), Zero.index_select(0, groupOfColumn).t());
}

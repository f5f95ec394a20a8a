using MoeQuant.Kernels.Cuda;
using MoeQuant.Kernels.Gptq;
using TorchSharp;
using static TorchSharp.torch;

namespace MoeQuant.Kernels.LinearAlgebra;

/// <summary>
/// One run of <see cref="ReverseCholesky"/> over a batch: <c>H = R·Rᵀ</c>, R upper, from the bottom-right corner upward
/// (the lower Cholesky of J·H·J, J the reversal, without materialising the flip). A block <c>[[A11, A12], [A12ᵀ, A22]]</c>
/// is factored as R22 (A22's factor) first, then <c>R12 = A12·R22⁻ᵀ</c> in place, then <c>A11 −= R12·R12ᵀ</c> on its
/// upper triangle, then R11. Every step is a product <c>C = alpha·P·Qᵀ + beta·C</c> of blocks of the matrix itself, so the
/// whole factorization runs in place with temporaries of its operands' bands.
/// </summary>
internal sealed class ReverseCholeskySweep
{
    private readonly Tensor _a;
    private readonly int _n;
    private readonly Action<GptqStage>? _stage;
    private readonly int _leaf;
    private readonly int _panel;
    private readonly int _slab;
    private readonly int _floor;
    private readonly bool _tensorCores;
    private readonly List<(int Start, Tensor Factor)>? _leaves;

    /// <param name="a">(E, n, n) fp32 or fp64 contiguous.</param>
    /// <param name="stage">Stage announcements; null: none.</param>
    /// <param name="leaf">L: the diagonal blocks factored directly.</param>
    /// <param name="panel">P, a multiple of L: the columns peeled per trailing update (its depth).</param>
    /// <param name="slab">Column slab width of the trailing updates.</param>
    /// <param name="floor">Blocks wider than this are split in halves, narrower ones peel one panel at a time.</param>
    /// <param name="keepLeaves">Keep each diagonal block's factor to put back over its inverse (<see cref="RestoreLeaves"/>).</param>
    public ReverseCholeskySweep(Tensor a, Action<GptqStage>? stage, int leaf, int panel, int slab, int floor, bool keepLeaves)
    {
        (_a, _n, _stage, _leaf, _panel, _slab, _floor) = (a, (int)a.shape[1], stage, leaf, panel, slab, floor);
        _tensorCores = a.device_type == DeviceType.CUDA && a.dtype == ScalarType.Float32;
        _leaves = keepLeaves ? [] : null;
        Failed = zeros(a.shape[0], dtype: ScalarType.Bool, device: a.device);
    }

    /// <summary>(E) bool: true where a leading minor was not positive.</summary>
    public Tensor Failed { get; }

    /// <summary>
    /// Factors the diagonal block [o, o + m) in place, leaving each L×L diagonal block as the inverse of its factor
    /// (the triangular solves need those).
    /// </summary>
    public void Factor(int o, int m)
    {
        if (m <= _leaf)
        {
            Leaf(o, m);
            return;
        }

        var h = ReverseCholesky.Split(m, _leaf, _panel, _floor);
        var r = m - h;
        Factor(o + h, r);
        Solve(o, h, o + h, r);

        // A11 −= R12·R12ᵀ over its upper triangle, slab by slab: slab [f, l) updates rows [0, l).
        _stage?.Invoke(GptqStage.FactorProduct);
        var slabs = ReverseCholesky.Slabs(h, _slab).Select(s => new RowProducts.Part(s.First, s.Last, s.Last)).ToArray();
        Multiply((o, o + h), h, (o, o + h), h, r, (o, o), slabs, alpha: -1, beta: 1);
        Factor(o, h);
    }

    /// <summary>Puts each diagonal block's factor back over its inverse.</summary>
    public void RestoreLeaves()
    {
        foreach (var (start, factor) in _leaves ?? [])
        {
            using (factor)
            {
                _a.narrow(1, start, factor.shape[1]).narrow(2, start, factor.shape[1]).copy_(factor);
            }
        }
    }

    // X = A[row:row + rows, c:c + w] ← X·R⁻ᵀ for R = A[c:c + w, c:c + w], upper with its L×L diagonal blocks inverted:
    // X = [X1, X2] solves X2 against R's bottom-right half, then X1 −= X2·Rbᵀ (Rb R's top-right block), then X1 against
    // the top-left half. A block of one leaf is a product with its inverse.
    private void Solve(int row, int rows, int c, int w)
    {
        if (w <= _leaf)
        {
            _stage?.Invoke(GptqStage.FactorProduct);
            Multiply((row, c), rows, (c, c), w, w, (row, c), [new(0, w, rows)], alpha: 1, beta: 0);
            return;
        }

        var w1 = Math.Max(_leaf, w / 2 / _leaf * _leaf);
        var w2 = w - w1;
        Solve(row, rows, c + w1, w2);
        _stage?.Invoke(GptqStage.FactorProduct);
        Multiply((row, c + w1), rows, (c, c + w1), w1, w2, (row, c), [new(0, w1, rows)], alpha: -1, beta: 1);
        Solve(row, rows, c, w1);
    }

    // The diagonal block [o, o + w): R22 = J·chol(J·A22·J)·J (the flipped block's lower triangle is A22's upper one, the
    // triangle kept up to date), left as R22⁻¹, upper with zeros below.
    private void Leaf(int o, int w)
    {
        using var scope = NewDisposeScope();
        _stage?.Invoke(GptqStage.FactorLeaf);
        Tensor? factor;
        if (_tensorCores && w <= ReverseCholeskyLeaf.MaxWidth && _a.shape[0] >= ReverseCholeskyLeaf.MinBatch)
        {
            // One launch for the batch, the block in shared memory (cuSOLVER: about twenty latency-bound launches).
            factor = _leaves is null ? null : empty(_a.shape[0], w, w, _a.dtype, _a.device);
            ReverseCholeskyLeaf.FactorAndInvert(_a, o, w, Failed, factor);
        }
        else
        {
            factor = ReverseCholesky.FactorAndInvertLeaves(_a.narrow(1, o, w).narrow(2, o, w), Failed, _stage);
        }

        if (factor is not null)
        {
            _leaves?.Add((o, factor.DetachFromDisposeScope()));
        }
    }

    // C = alpha·P·Qᵀ + beta·C for P = A[p.Row:+pRows, p.Col:+depth], Q = A[q.Row:+qRows, q.Col:+depth] and the parts of
    // C = A[c.Row:, c.Col:]. CUDA fp32: 3xTF32 (RowProducts). Elsewhere torch, matrix by matrix, so that a matrix's
    // result does not depend on the batch it came in.
    private void Multiply((int Row, int Col) p, int pRows, (int Row, int Col) q, int qRows, int depth, (int Row, int Col) c, RowProducts.Part[] parts, float alpha, float beta)
    {
        using var scope = NewDisposeScope();
        if (_tensorCores)
        {
            RowProducts.Multiply(_a.device.index, (int)_a.shape[0], Block(p), pRows, Block(q), qRows, depth, Block(c), parts, alpha, beta);
            return;
        }

        for (var e = 0; e < _a.shape[0]; e++)
        {
            using var matrix = _a[e];
            foreach (var (first, last, rows) in parts)
            {
                using var inner = NewDisposeScope();
                var left = matrix.narrow(0, p.Row, rows).narrow(1, p.Col, depth);
                var right = matrix.narrow(0, q.Row + first, last - first).narrow(1, q.Col, depth).t();
                var part = matrix.narrow(0, c.Row, rows).narrow(1, c.Col + first, last - first);
                if (beta == 0)
                {
                    var product = left.mm(right); // the product first: part may be left itself
                    part.copy_(alpha == 1 ? product : product.mul_(alpha));
                }
                else
                {
                    part.addmm_(left, right, beta: beta, alpha: alpha);
                }
            }
        }
    }

    private TriangularProducts.Block Block((int Row, int Col) at) =>
        new(DevicePointer.Offset(DevicePointer.Of(_a), ((long)at.Row * _n) + at.Col), _n, (long)_n * _n);
}

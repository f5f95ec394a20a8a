using MoeQuant.Kernels.Cuda;
using MoeQuant.Kernels.LinearAlgebra;
using TorchSharp;
using static TorchSharp.torch;

namespace MoeQuant.Kernels.Gptq;

/// <summary>The damped inverse-Hessian factor that drives GPTQ's error feedback.</summary>
internal static class HessianFactorization
{
    /// <summary>
    /// Û: rows of the upper Cholesky factor U of <c>(H + λI)⁻¹ = UᵀU</c>, each divided by its diagonal, with
    /// <c>λ = relDamp · mean(diag H)</c>; on failure λ grows 10× up to <paramref name="retries"/> times.
    /// </summary>
    /// <param name="hessian">(columns, columns) float32, symmetric, positive diagonal, in processing order.</param>
    /// <param name="relDamp">First relative damping.</param>
    /// <param name="retries">Extra attempts, each with 10× the damping.</param>
    /// <returns>Û (columns, columns) float32, upper with unit diagonal, and the damping used; null Û when none worked.</returns>
    public static (Tensor? Factor, double RelDamp) Factorize(Tensor hessian, double relDamp, int retries)
    {
        var meanDiagonal = hessian.diagonal().mean();
        var rel = relDamp;
        for (var attempt = 0; attempt <= retries; attempt++, rel = relDamp * Math.Pow(10, attempt))
        {
            using var scope = NewDisposeScope();
            // 1) damping on the diagonal, after dead columns got their 1 (MoE-Quant _get_hessian_inverse).
            var damped = hessian.clone();
            using var relScalar = rel.ToScalar(); // held to the end: see PinnedScalars
            damped.diagonal().add_(meanDiagonal.mul(relScalar));
            // 2) U with H⁻¹ = UᵀU: H + λI = R·Rᵀ in place, then U = R⁻¹ in place (as the batch does, FactorizeBatch).
            if (InPlaceFactorOfInverse.Compute(damped.unsqueeze(0)).item<bool>())
            {
                continue;
            }

            var upper = damped;

            // 3) unit diagonal, so the loop's update is W[k] += Û[j,k]·(q_j − w_j) with no division. The diagonal is
            //    copied first: dividing by a view of itself would turn it into 1 before the rest of its row is divided.
            upper.div_(upper.diagonal().clone().unsqueeze(1));
            // 4) a factorization that succeeded on pivots near zero can still overflow; treat it as a failure.
            if (!upper.isfinite().all().item<bool>())
            {
                continue;
            }

            return (upper.MoveToOuterDisposeScope(), rel);
        }

        return (null, relDamp * Math.Pow(10, retries));
    }

    /// <summary>
    /// <see cref="Factorize"/>'s first attempt for a batch, with no host synchronization: the damping of each matrix is
    /// computed exactly as there (same operation on the same (C, C) layout), so a matrix that succeeds here gets the
    /// factor Factorize would give it (for <see cref="GptqLoopFactor.InverseRows"/>). Matrices that fail are flagged; the
    /// caller retries them through the single path.
    /// </summary>
    /// <param name="hessians">(E, C, C) float32 contiguous, processing order; damped, then overwritten by the factor.</param>
    /// <param name="relDamp">Relative damping.</param>
    /// <param name="form">
    /// Û (H + λI = R·Rᵀ, then U = R⁻¹, about n³ in products) or V = −R·diag(R)⁻¹ (the Cholesky alone, n³/3).
    /// </param>
    /// <param name="stage">Stage announcements (<see cref="GptqBatchSettings.Stages"/>); null: none.</param>
    /// <returns>
    /// The factor (E, C, C) float32 contiguous (<paramref name="hessians"/> itself), unit diagonal up to sign; the loss
    /// weights 1/U_jj² = R_jj² (E, C) float32, with which GPTQ's scaled errors sum to tr(ΔW·(H + λI)·ΔWᵀ); the damping λ
    /// (E) float32; and (E) bool: whether each factorization succeeded with finite values.
    /// </returns>
    public static (Tensor Factor, Tensor LossWeight, Tensor Damping, Tensor Ok) FactorizeBatch(
        Tensor hessians, double relDamp, GptqLoopFactor form = GptqLoopFactor.InverseRows, Action<GptqStage>? stage = null)
    {
        using var scope = NewDisposeScope();
        // 1) damping on the diagonal: one small reduction per matrix, the single path's own arithmetic.
        var damping = AddDamping(hessians, relDamp, stage);
        // 2) all factors at once, in place, failures as flags, not exceptions: H + λI = R·Rᵀ (ReverseCholesky), and for
        //    Û then U = R⁻¹ (UpperTriangularInverse, over the Cholesky's inverted diagonal blocks).
        var inverse = form == GptqLoopFactor.InverseRows;
        // On CUDA V is normalized by one kernel that also zeroes the lower triangle, so the Cholesky need not.
        var fused = !inverse && hessians.device_type == DeviceType.CUDA;
        var failed = inverse
            ? InPlaceFactorOfInverse.Compute(hessians, stage)
            : ReverseCholesky.FactorInPlace(hessians, stage, clearLower: !fused);
        var upper = hessians;
        // 3) unit diagonals (Û: rows over U_jj; V: columns over −R_kk), 4) finite check per matrix: through a sum,
        //    which NaN and Inf reach (no (E, C, C) mask), or in V's kernel.
        stage?.Invoke(GptqStage.FactorNormalize);
        var diagonal = upper.diagonal(0, 1, 2).clone();
        var lossWeight = diagonal.square();
        Tensor finite;
        if (fused)
        {
            finite = GptqBatchOperands.NormalizeColumns(upper, diagonal).logical_not_();
        }
        else
        {
            if (inverse)
            {
                upper.div_(diagonal.unsqueeze(2));
                lossWeight.reciprocal_();
            }
            else
            {
                upper.div_(diagonal.neg_().unsqueeze(1));
            }

            finite = upper.sum([1, 2]).isfinite();
        }

        var ok = failed.logical_not().logical_and_(finite).logical_and_(lossWeight.sum(1).isfinite());
        return (upper, lossWeight.MoveToOuterDisposeScope(), damping.MoveToOuterDisposeScope(), ok.MoveToOuterDisposeScope());
    }

    // λ = relDamp · mean(diag H) added to every diagonal: one small reduction per matrix, the single path's own arithmetic.
    // Returns λ (E), in the caller's dispose scope.
    private static Tensor AddDamping(Tensor hessians, double relDamp, Action<GptqStage>? stage)
    {
        using var scope = NewDisposeScope();
        stage?.Invoke(GptqStage.Damping);
        var count = (int)hessians.shape[0];
        using var relScalar = relDamp.ToScalar(); // held to the end: see PinnedScalars
        var damping = stack(Enumerable.Range(0, count).Select(e => hessians[e].diagonal().mean()).ToArray()).mul(relScalar);
        hessians.diagonal(0, 1, 2).add_(damping.unsqueeze(1));
        return damping.MoveToOuterDisposeScope();
    }
}

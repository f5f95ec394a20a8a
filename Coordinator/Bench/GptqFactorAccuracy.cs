using MoeQuant.Kernels.Cuda;
using MoeQuant.Kernels.LinearAlgebra;
using TorchSharp;
using static TorchSharp.torch;

namespace MoeQuant.Coordinator.Bench;

/// <summary>
/// How far each fp32 factorization of GPTQ's U (H⁻¹ = UᵀU) is from an fp64 one on the same damped Hessian: the batched
/// path's in-place reverse Cholesky and triangular inverse, and the single path's recursive <see cref="InverseCholesky"/>.
/// GPTQ's codes cascade from any difference in U (a flipped code changes every later column of its row), so two
/// fp32-accurate factorizations that round differently disagree on more codes than either does with itself.
/// </summary>
internal static class GptqFactorAccuracy
{
    /// <summary>Records the relative errors of each factor of <paramref name="hessian"/> against fp64, and the times of the two in-place factorizations on a batch of copies of it.</summary>
    public static void Measure(BenchRecorder recorder, Tensor hessian, double relDamp, string what, int batch = 8)
    {
        using var scope = NewDisposeScope();
        var damped = hessian.clone();
        damped.diagonal().add_(damped.diagonal().mean().mul(relDamp));
        var reference = linalg.cholesky(linalg.inv(damped.to_type(ScalarType.Float64))).mT;
        var recursiveInPlace = damped.unsqueeze(0).clone();
        RecursiveFactorInverse.FactorInPlace(recursiveInPlace);
        var panels = damped.unsqueeze(0).clone();
        PanelFactorInverse(panels);
        var recursive = InverseCholesky.UpperFactorOfInverse(damped);
        var copies = damped.unsqueeze(0).expand(batch, -1, -1).contiguous();
        var work = empty_like(copies);
        var recursiveInPlaceMs = DeviceTimer.MedianMilliseconds(damped.device, () => RecursiveFactorInverse.FactorInPlace(work.copy_(copies)).Dispose());
        var panelsMs = DeviceTimer.MedianMilliseconds(damped.device, () => PanelFactorInverse(work.copy_(copies)));
        recorder.Record(
            "gptq-factor-accuracy",
            new { matrix = what, columns = hessian.shape[0], relDamp, batch, reference = "fp64 cholesky(inv(H + λI)) on the same device", baseline = "panel Cholesky then triangular inverse (ReverseCholesky, UpperTriangularInverse), same run" },
            new
            {
                inPlaceMaxRelative = MaxRelative(recursiveInPlace[0], reference),
                inPlaceFrobeniusRelative = FrobeniusRelative(recursiveInPlace[0], reference),
                panelsFrobeniusRelative = FrobeniusRelative(panels[0], reference),
                recursiveMaxRelative = MaxRelative(recursive, reference),
                recursiveFrobeniusRelative = FrobeniusRelative(recursive, reference),
                inPlaceVersusRecursiveFrobeniusRelative = FrobeniusRelative(recursiveInPlace[0], recursive.to_type(ScalarType.Float64)),
                inPlaceMsPerMatrix = recursiveInPlaceMs / batch,
                panelsMsPerMatrix = panelsMs / batch,
                speedup = panelsMs / recursiveInPlaceMs,
            });
    }

    private static void PanelFactorInverse(Tensor h)
    {
        ReverseCholesky.FactorInPlace(h, invertDiagonalBlocks: true).Dispose();
        UpperTriangularInverse.InvertInPlace(h, leafSize: ReverseCholesky.PanelWidth, leavesInverted: true);
    }

    private static double MaxRelative(Tensor factor, Tensor reference) =>
        ((factor.to_type(ScalarType.Float64) - reference).abs().max() / reference.abs().max()).item<double>();

    private static double FrobeniusRelative(Tensor factor, Tensor reference) =>
        ((factor.to_type(ScalarType.Float64) - reference).norm() / reference.norm()).item<double>();
}

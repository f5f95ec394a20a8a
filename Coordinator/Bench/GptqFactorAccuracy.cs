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
    /// <summary>Records the relative errors of both factors of <paramref name="hessian"/> against fp64.</summary>
    public static void Measure(BenchRecorder recorder, Tensor hessian, double relDamp, string what)
    {
        using var scope = NewDisposeScope();
        var damped = hessian.clone();
        damped.diagonal().add_(damped.diagonal().mean().mul(relDamp));
        var reference = linalg.cholesky(linalg.inv(damped.to_type(ScalarType.Float64))).mT;
        var inPlace = damped.unsqueeze(0).clone();
        ReverseCholesky.FactorInPlace(inPlace, invertDiagonalBlocks: true);
        UpperTriangularInverse.InvertInPlace(inPlace, leafSize: ReverseCholesky.PanelWidth, leavesInverted: true);
        var recursive = InverseCholesky.UpperFactorOfInverse(damped);
        recorder.Record(
            "gptq-factor-accuracy",
            new { matrix = what, columns = hessian.shape[0], relDamp, reference = "fp64 cholesky(inv(H + λI)) on the same device" },
            new
            {
                inPlaceMaxRelative = MaxRelative(inPlace[0], reference),
                inPlaceFrobeniusRelative = FrobeniusRelative(inPlace[0], reference),
                recursiveMaxRelative = MaxRelative(recursive, reference),
                recursiveFrobeniusRelative = FrobeniusRelative(recursive, reference),
                inPlaceVersusRecursiveFrobeniusRelative = FrobeniusRelative(inPlace[0], recursive.to_type(ScalarType.Float64)),
            });
    }

    private static double MaxRelative(Tensor factor, Tensor reference) =>
        ((factor.to_type(ScalarType.Float64) - reference).abs().max() / reference.abs().max()).item<double>();

    private static double FrobeniusRelative(Tensor factor, Tensor reference) =>
        ((factor.to_type(ScalarType.Float64) - reference).norm() / reference.norm()).item<double>();
}

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
    /// <summary>Records the relative errors of both factors of <paramref name="hessian"/> against fp64.</summary>
    public static void Measure(BenchRecorder recorder, Tensor hessian, double relDamp, string what)
    {
        using var scope = NewDisposeScope();
        var damped = hessian.clone();
        damped.diagonal().add_(damped.diagonal().mean().mul(relDamp));
        var reference = linalg.cholesky(linalg.inv(damped.to_type(ScalarType.Float64))).mT;
        var inPlace = damped.unsqueeze(0).clone();
        InPlaceFactorOfInverse.Compute(inPlace);
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
        if (damped.device_type == DeviceType.CUDA)
        {
            MeasurePanels(recorder, damped, reference, what);
        }
    }

    // The in-place factorization's panel width (also the inverse's leaf), trailing-update slab width, the inverse's
    // triangle blocks and the Cholesky's recursion floor: time on a batch of copies and accuracy, each variant against
    // the defaults in the same run.
    private static void MeasurePanels(BenchRecorder recorder, Tensor damped, Tensor reference, string what, int batch = 8)
    {
        using var scope = NewDisposeScope();
        var copies = damped.unsqueeze(0).expand(batch, -1, -1).contiguous();
        var work = empty_like(copies);
        double Time(int panel, int slabPanels, int blocks, int floor) =>
            DeviceTimer.MedianMilliseconds(damped.device, () => InPlaceFactorOfInverse.Compute(work.copy_(copies), null, panel, slabPanels, blocks, floor).Dispose()) / batch;
        var baselineMs = Time(ReverseCholesky.PanelWidth, ReverseCholesky.SlabPanels, UpperTriangularInverse.TriangleBlocks, ReverseCholesky.RecursionFloor);
        const int peel = ReverseCholesky.RecursionFloor;
        var variants = new[]
        {
            (128, 2, 4, peel), (128, 4, 4, peel), (512, 2, 4, peel), (256, 1, 4, peel), (256, 4, 4, peel), (256, 2, 8, peel),
            (256, 2, 4, 1024), (128, 2, 4, 1024),
        };
        foreach (var (panel, slabPanels, blocks, floor) in variants)
        {
            var factor = damped.unsqueeze(0).clone();
            InPlaceFactorOfInverse.Compute(factor, null, panel, slabPanels, blocks, floor);
            var ms = Time(panel, slabPanels, blocks, floor);
            recorder.Record(
                "gptq-factor-panels",
                new
                {
                    matrix = what, columns = damped.shape[0], batch, panel, slabPanels, triangleBlocks = blocks, recursionFloor = floor,
                    baselinePanel = ReverseCholesky.PanelWidth, baselineSlabPanels = ReverseCholesky.SlabPanels, baselineTriangleBlocks = UpperTriangularInverse.TriangleBlocks,
                    baselineRecursionFloor = ReverseCholesky.RecursionFloor,
                    baseline = "the default panel, slab and triangle blocks, same run",
                },
                new { msPerMatrix = ms, baselineMsPerMatrix = baselineMs, speedup = baselineMs / ms, frobeniusRelative = FrobeniusRelative(factor[0], reference) });
        }
    }

    private static double MaxRelative(Tensor factor, Tensor reference) =>
        ((factor.to_type(ScalarType.Float64) - reference).abs().max() / reference.abs().max()).item<double>();

    private static double FrobeniusRelative(Tensor factor, Tensor reference) =>
        ((factor.to_type(ScalarType.Float64) - reference).norm() / reference.norm()).item<double>();
}

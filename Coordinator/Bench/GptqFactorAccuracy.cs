using MoeQuant.Kernels.Cuda;
using MoeQuant.Kernels.LinearAlgebra;
using TorchSharp;
using static TorchSharp.torch;

namespace MoeQuant.Coordinator.Bench;

/// <summary>
/// How far each fp32 factorization of GPTQ's Hessian is from an fp64 one on the same damped Hessian: the batched path's
/// reverse Cholesky R (H = R·Rᵀ, the fused loop runs on its columns), and the single path's U (H⁻¹ = UᵀU) in place
/// (reverse Cholesky, then the triangular inverse) and through the recursive <see cref="InverseCholesky"/>. GPTQ's codes
/// cascade from any difference in the factor (a flipped code changes every later column of its row), so two
/// fp32-accurate factorizations that round differently disagree on more codes than either does with itself.
/// </summary>
internal static class GptqFactorAccuracy
{
    /// <summary>Records the relative errors of the factors of <paramref name="hessian"/> against fp64.</summary>
    public static void Measure(BenchRecorder recorder, Tensor hessian, double relDamp, string what)
    {
        using var scope = NewDisposeScope();
        var damped = hessian.clone();
        damped.diagonal().add_(damped.diagonal().mean().mul(relDamp));
        var damped64 = damped.to_type(ScalarType.Float64);
        var reference = linalg.cholesky(linalg.inv(damped64)).mT;
        var choleskyReference = linalg.cholesky(damped64.flip(0, 1)).flip(0, 1);
        var inPlace = damped.unsqueeze(0).clone();
        InPlaceFactorOfInverse.Compute(inPlace);
        var recursive = InverseCholesky.UpperFactorOfInverse(damped);
        var cholesky = damped.unsqueeze(0).clone();
        ReverseCholesky.FactorInPlace(cholesky);
        recorder.Record(
            "gptq-factor-accuracy",
            new { matrix = what, columns = hessian.shape[0], relDamp, reference = "fp64 cholesky(inv(H + λI)) and fp64 reverse cholesky(H + λI) on the same device" },
            new
            {
                choleskyMaxRelative = MaxRelative(cholesky[0], choleskyReference),
                choleskyFrobeniusRelative = FrobeniusRelative(cholesky[0], choleskyReference),
                inPlaceMaxRelative = MaxRelative(inPlace[0], reference),
                inPlaceFrobeniusRelative = FrobeniusRelative(inPlace[0], reference),
                recursiveMaxRelative = MaxRelative(recursive, reference),
                recursiveFrobeniusRelative = FrobeniusRelative(recursive, reference),
                inPlaceVersusRecursiveFrobeniusRelative = FrobeniusRelative(inPlace[0], recursive.to_type(ScalarType.Float64)),
            });
        if (damped.device_type == DeviceType.CUDA)
        {
            MeasurePanels(recorder, damped, choleskyReference, what);
        }
    }

    // The batched path's reverse Cholesky with other leaf, panel and slab widths and recursion floors: time on a batch of
    // copies and distance from fp64, each variant against the defaults in the same run.
    private static void MeasurePanels(BenchRecorder recorder, Tensor damped, Tensor reference, string what, int batch = 8)
    {
        using var scope = NewDisposeScope();
        var copies = damped.unsqueeze(0).expand(batch, -1, -1).contiguous();
        var work = empty_like(copies);
        double Time(int leaf, int panel, int slabPanels, int floor) =>
            DeviceTimer.MedianMilliseconds(damped.device, () => ReverseCholesky.FactorInPlace(work.copy_(copies), panel, slabPanels, recursionFloor: floor, leaf: leaf).Dispose()) / batch;
        const int defaultFloor = ReverseCholesky.RecursionFloor;
        var baseline = (ReverseCholesky.LeafWidth, ReverseCholesky.PanelWidth, ReverseCholesky.SlabPanels, defaultFloor);
        var baselineMs = Time(baseline.LeafWidth, baseline.PanelWidth, baseline.SlabPanels, defaultFloor);
        var variants = new[]
        {
            (128, 128, 4, defaultFloor), (256, 256, 2, defaultFloor), (128, 256, 2, defaultFloor), (128, 512, 2, defaultFloor),
            (64, 512, 1, defaultFloor), (256, 512, 1, defaultFloor), (128, 1024, 1, defaultFloor), (128, 512, 1, 2048),
        };
        foreach (var (leaf, panel, slabPanels, floor) in variants)
        {
            var factor = damped.unsqueeze(0).clone();
            ReverseCholesky.FactorInPlace(factor, panel, slabPanels, recursionFloor: floor, leaf: leaf);
            var ms = Time(leaf, panel, slabPanels, floor);
            recorder.Record(
                "gptq-factor-panels",
                new
                {
                    matrix = what, columns = damped.shape[0], batch, factorization = "reverse cholesky (the batched path)", leaf, panel, slabPanels, recursionFloor = floor,
                    baselineLeaf = baseline.LeafWidth, baselinePanel = baseline.PanelWidth, baselineSlabPanels = baseline.SlabPanels, baselineRecursionFloor = defaultFloor,
                    baseline = "the default leaf, panel, slab and floor, same run",
                },
                new { msPerMatrix = ms, baselineMsPerMatrix = baselineMs, speedup = baselineMs / ms, frobeniusRelative = FrobeniusRelative(factor[0], reference) });
        }
    }

    /// <summary>
    /// The Cholesky's leaves alone: the shared-memory kernel (one launch per batch) against
    /// cuSOLVER's batched potrf and a triangular solve with the flips around them (the factorization's own path off the
    /// kernel, <see cref="ReverseCholesky.FactorAndInvertLeaves"/>), for leaf
    /// widths and batch sizes the factorization meets, each pair in the same run.
    /// </summary>
    public static void MeasureLeaves(BenchRecorder recorder, Tensor hessian)
    {
        foreach (var w in new[] { 128, 256 })
        {
            foreach (var batch in new[] { 1, 8, 32 })
            {
                using var scope = NewDisposeScope();
                var block = hessian.narrow(0, 0, w).narrow(1, 0, w).unsqueeze(0).expand(batch, -1, -1).contiguous();
                block.diagonal(0, 1, 2).add_(block.diagonal(0, 1, 2).mean([1], keepdim: true).mul(0.1));
                var work = empty_like(block);
                var failed = zeros(batch, ScalarType.Bool, block.device);
                var baselineMs = DeviceTimer.MedianMilliseconds(block.device, () => ReverseCholesky.FactorAndInvertLeaves(work.copy_(block), failed).Dispose());
                var ms = DeviceTimer.MedianMilliseconds(block.device, () => ReverseCholeskyLeaf.FactorAndInvert(work.copy_(block), 0, w, failed, null));
                // Both against fp64: R⁻¹ of the damped block.
                var reference = linalg.inv(linalg.cholesky(block.to_type(ScalarType.Float64).flip(1, 2)).flip(1, 2));
                ReverseCholeskyLeaf.FactorAndInvert(work.copy_(block), 0, w, failed, null);
                var kernelError = FrobeniusRelative(work, reference);
                ReverseCholesky.FactorAndInvertLeaves(work.copy_(block), failed).Dispose();
                recorder.Record(
                    "reverse-cholesky-leaf",
                    new { width = w, batch, threadsPerMatrix = ReverseCholeskyLeaf.Threads, baseline = "cholesky_ex + solve_triangular with flips (batched), same blocks, same run", reference = "fp64 inverse of the fp64 factor" },
                    new
                    {
                        msPerLaunch = ms, baselineMsPerLaunch = baselineMs, speedup = baselineMs / ms,
                        frobeniusRelative = kernelError, baselineFrobeniusRelative = FrobeniusRelative(work, reference),
                        failed = failed.any().item<bool>(),
                    });
            }
        }
    }

    private static double MaxRelative(Tensor factor, Tensor reference) =>
        ((factor.to_type(ScalarType.Float64) - reference).abs().max() / reference.abs().max()).item<double>();

    private static double FrobeniusRelative(Tensor factor, Tensor reference) =>
        ((factor.to_type(ScalarType.Float64) - reference).norm() / reference.norm()).item<double>();
}

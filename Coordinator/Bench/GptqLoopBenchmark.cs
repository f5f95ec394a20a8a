using MoeQuant.Kernels.Cuda;
using MoeQuant.Kernels.LinearAlgebra;
using TorchSharp;
using static TorchSharp.torch;

namespace MoeQuant.Coordinator.Bench;

/// <summary>
/// The fused CUDA GPTQ loop at DeepSeek-V3 expert shapes beside a column-by-column torch loop with the same numerics
/// (MoE-Quant's structure: one quantize kernel and one rank-1 update per column, a GEMM per block), same inputs, same run:
/// time per matrix for a single matrix and a batch, code agreement and proxy losses.
/// </summary>
internal static class GptqLoopBenchmark
{
    private const int GroupSize = 128;
    private const int Bits = 4;
    private const int FactorBatch = 8;
    private static readonly int[] LeafSizes = [512, 256, 128, 64];

    public static void Run(BenchRecorder recorder, int device, int tokens, int batch)
    {
        var cuda = new Device(DeviceType.CUDA, device);
        backends.cuda.matmul.allow_tf32 = false;
        foreach (var (rows, columns) in new[] { (2048, 7168), (7168, 2048) })
        {
            using var scope = NewDisposeScope();
            manual_seed(1234);
            var problem = Problem(cuda, rows, columns, tokens);
            var cusolverMs = DeviceTimer.MedianMilliseconds(cuda, () => CusolverUpperFactor(problem.Hessian), warmup: 1, repetitions: 3);
            var factorMs = DeviceTimer.MedianMilliseconds(cuda, () => InverseCholesky.UpperFactorOfInverse(problem.Hessian), warmup: 1, repetitions: 3);
            var hessians = problem.Hessian.expand(FactorBatch, -1, -1).contiguous();
            // Each factor of the batch is 1.6 GB at C = 7168: freed at once, not at the end of the scope.
            var factorBatchMs = DeviceTimer.MedianMilliseconds(cuda, () => InverseCholesky.UpperFactorOfInverse(hessians).Dispose(), warmup: 1, repetitions: 3);
            // The leaf width trades cuSOLVER's batched potrf/trsm (latency-bound) against one more level of products.
            using var reference = InverseCholesky.UpperFactorOfInverse(hessians);
            var byLeaf = LeafSizes.ToDictionary(
                leaf => leaf.ToString(System.Globalization.CultureInfo.InvariantCulture),
                leaf => new
                {
                    msPerMatrix = DeviceTimer.MedianMilliseconds(cuda, () => InverseCholesky.UpperFactorOfInverse(hessians, leaf).Dispose(), warmup: 1, repetitions: 3) / FactorBatch,
                    maxRelativeDifferenceFromLeaf256 = MaxRelativeDifference(InverseCholesky.UpperFactorOfInverse(hessians, leaf), reference),
                });
            var upper = InverseCholesky.UpperFactorOfInverse(problem.Hessian);
            var uhat = UnitRows(upper);
            var factorAgreement = MaxRelativeDifference(CusolverUpperFactor(problem.Hessian), upper);

            Tensor fusedCodes = null!;
            var wt = problem.Weight.t().contiguous().unsqueeze(0);
            var fusedMs = DeviceTimer.MedianMilliseconds(cuda, () =>
            {
                var work = wt.clone();
                fusedCodes = FusedGptqLoop.Run(work, uhat, problem.Scale, problem.Zero, problem.Group, Bits, 128, halfUp: true, FusedGptqLoop.Rounding.BFloat16).Codes;
            });

            var (batchWt, batchScale, batchZero, batchGroup) = problem.Batch(batch);
            var batchMs = DeviceTimer.MedianMilliseconds(cuda, () =>
                FusedGptqLoop.Run(batchWt.clone(), uhat, batchScale, batchZero, batchGroup, Bits, 128, halfUp: true, FusedGptqLoop.Rounding.BFloat16).Codes.Dispose(),
                warmup: 1, repetitions: 3);

            Tensor referenceCodes = null!;
            var referenceMs = DeviceTimer.MedianMilliseconds(cuda, () => referenceCodes = ColumnLoop(wt[0].clone(), uhat[0], problem), warmup: 1, repetitions: 3);

            var differing = fusedCodes[0].to_type(ScalarType.Int32).sub(referenceCodes.to_type(ScalarType.Int32)).abs();
            recorder.Record(
                "gptq-loop",
                new { rows, columns, tokens, bits = Bits, groupSize = GroupSize, order = "default", scale = "absmax, static", batch, baseline = "torch column loop (MoE-Quant structure, no CUDA graph)" },
                new
                {
                    fusedMsPerMatrix = fusedMs,
                    fusedBatchMsPerMatrix = batchMs / batch,
                    referenceMs,
                    speedupSingle = referenceMs / fusedMs,
                    upperFactorCusolverMs = cusolverMs,
                    upperFactorMs = factorMs,
                    upperFactorBatchMsPerMatrix = factorBatchMs / FactorBatch,
                    upperFactorBatchByLeafSize = byLeaf,
                    upperFactorMaxRelativeDifference = factorAgreement,
                    codesDifferingFraction = differing.gt(0).to_type(ScalarType.Float64).mean().item<double>(),
                    maxCodeDifference = differing.max().item<int>(),
                    proxyLossFused = ProxyLoss(problem, fusedCodes[0]),
                    proxyLossReference = ProxyLoss(problem, referenceCodes),
                });
        }
    }

    /// <summary>
    /// The fused loop's deferred-update span (<see cref="FusedGptqLoop.DefaultSpan"/>) at DeepSeek-V3's gate/up shape on a
    /// batch sharing one factor: time per matrix and codes against the default span, each variant beside the default in
    /// the same run (spans change only the order in which the same updates are summed).
    /// </summary>
    public static void MeasureSpans(BenchRecorder recorder, Device cuda, int batch, int tokens)
    {
        using var scope = NewDisposeScope();
        manual_seed(1234);
        const int rows = 2048, columns = 7168;
        var problem = Problem(cuda, rows, columns, tokens);
        var uhat = UnitRows(InverseCholesky.UpperFactorOfInverse(problem.Hessian));
        var (wt, scale, zero, group) = problem.Batch(batch);
        Tensor Codes(int span) => FusedGptqLoop.Run(wt.clone(), uhat, scale, zero, group, Bits, 128, halfUp: true, FusedGptqLoop.Rounding.BFloat16, span: span).Codes;
        double Time(int span) => DeviceTimer.MedianMilliseconds(cuda, () => Codes(span).Dispose(), warmup: 1, repetitions: 3) / batch;
        var baselineMs = Time(FusedGptqLoop.DefaultSpan);
        using var baselineCodes = Codes(FusedGptqLoop.DefaultSpan);
        foreach (var span in new[] { 256, 1024, 2048 })
        {
            using var codes = Codes(span);
            var ms = Time(span);
            // Matrix by matrix in int16: the whole batch's codes widened would not fit beside the bench's experts.
            var (differing, maxDifference) = (0L, 0);
            for (var e = 0; e < batch; e++)
            {
                using var inner = NewDisposeScope();
                var difference = codes[e].to_type(ScalarType.Int16).sub(baselineCodes[e].to_type(ScalarType.Int16)).abs();
                differing += difference.gt(0).sum().item<long>();
                maxDifference = Math.Max(maxDifference, difference.max().item<short>());
            }

            recorder.Record(
                "gptq-loop-span",
                new { rows, columns, tokens, batch, span, baselineSpan = FusedGptqLoop.DefaultSpan, baseline = "the default span, same inputs, same run" },
                new
                {
                    msPerMatrix = ms,
                    baselineMsPerMatrix = baselineMs,
                    speedup = baselineMs / ms,
                    codesDifferingFraction = (double)differing / codes.numel(),
                    maxCodeDifference = maxDifference,
                });
        }
    }

    // max |factor − reference| / max |reference|; the factor is freed (a batch of them is 1.6 GB at C = 7168).
    private static float MaxRelativeDifference(Tensor factor, Tensor reference)
    {
        using var scope = NewDisposeScope();
        using var owned = factor;
        return ((factor - reference).abs().max() / reference.abs().max()).item<float>();
    }

    // Scale and Zero (1, G, R), Group (1, C): the fused loop's inputs for one matrix.
    private sealed record GptqProblem(Tensor Weight, Tensor Hessian, Tensor Scale, Tensor Zero, Tensor Group)
    {
        // The fused loop's inputs for a batch of copies of this matrix: Wᵀ (batch, C, R), scales, zero points, groups.
        public (Tensor Wt, Tensor Scale, Tensor Zero, Tensor Group) Batch(int batch) => (
            Weight.t().contiguous().unsqueeze(0).expand(batch, -1, -1).contiguous(),
            Scale.expand(batch, -1, -1).contiguous(),
            Zero.expand(batch, -1, -1).contiguous(),
            Group.expand(batch, -1).contiguous());
    }

    // Û (1, C, C), the fused loop's factor: rows of U over their diagonal.
    private static Tensor UnitRows(Tensor upper) => (upper / upper.diagonal().unsqueeze(1)).contiguous().unsqueeze(0);

    // Correlated activations (a random mixing of Gaussian features) make GPTQ's error feedback matter.
    private static GptqProblem Problem(Device cuda, int rows, int columns, int tokens)
    {
        var weight = randn(rows, columns, device: cuda).to_type(ScalarType.BFloat16).to_type(ScalarType.Float32);
        var mixing = randn(columns, columns, device: cuda) / Math.Sqrt(columns) + eye(columns, device: cuda);
        var x = randn(tokens, columns, device: cuda).matmul(mixing).to_type(ScalarType.BFloat16);
        var hessian = zeros(columns, columns, device: cuda);
        CublasGram.Accumulate(x, hessian, 2f / tokens);
        hessian.diagonal().add_(0.1 * hessian.diagonal().mean());

        // Static symmetric absmax scales per (row, group), rounded to bf16; zero point (maxq + 1) / 2.
        var maxq = (1 << Bits) - 1;
        var groups = columns / GroupSize;
        var absmax = weight.view(rows, groups, GroupSize).abs().amax([2]);
        var scale = (absmax * (2.0 / maxq) + 1e-12).to_type(ScalarType.BFloat16).to_type(ScalarType.Float32);
        var zero = full_like(scale, (maxq + 1) / 2.0);
        var group = arange(columns, dtype: ScalarType.Int32, device: cuda).div(GroupSize, rounding_mode: RoundingMode.floor).to_type(ScalarType.Int32);
        return new GptqProblem(weight, hessian, scale.t().contiguous().unsqueeze(0), zero.t().contiguous().unsqueeze(0), group.unsqueeze(0));
    }

    // Baseline: the same factor through one cuSOLVER Cholesky and one triangular solve (PERFORMANCE.md's 20.7 ms route).
    private static Tensor CusolverUpperFactor(Tensor hessian)
    {
        var lower = linalg.cholesky(hessian.flip(0, 1));
        var inverse = linalg.solve_triangular(lower, eye(hessian.shape[0], device: hessian.device), upper: false);
        return inverse.flip(0, 1); // (J L J)⁻¹ = J L⁻¹ J is upper triangular and Uᵀ U = H⁻¹
    }

    private static Tensor ColumnLoop(Tensor wt, Tensor uhat, GptqProblem p)
    {
        var columns = (int)wt.shape[0];
        var codes = empty_like(wt, dtype: ScalarType.Byte);
        const float maxq = (1 << Bits) - 1;
        for (var start = 0; start < columns; start += 128)
        {
            var end = Math.Min(columns, start + 128);
            var error = empty(end - start, wt.shape[1], device: wt.device);
            for (var j = start; j < end; j++)
            {
                using var inner = NewDisposeScope();
                var s = p.Scale[0, j / GroupSize];
                var z = p.Zero[0, j / GroupSize];
                var x = wt[j];
                var q = (x / s + z + 0.5).floor().clamp(0, maxq);
                var y = ((q - z) * s).to_type(ScalarType.BFloat16).to_type(ScalarType.Float32);
                var d = y - x;
                codes[j] = q.to_type(ScalarType.Byte);
                wt[j] = y;
                error[j - start] = d;
                if (j + 1 < end)
                {
                    wt[TensorIndex.Slice(j + 1, end)].add_(uhat[j, TensorIndex.Slice(j + 1, end)].unsqueeze(1) * d.unsqueeze(0));
                }
            }

            if (end < columns)
            {
                wt[TensorIndex.Slice(end)].addmm_(uhat[TensorIndex.Slice(start, end), TensorIndex.Slice(end)].t(), error);
            }
        }

        return codes;
    }

    // The engine's relative proxy loss of the weight dequantized from processing-order codes (default order: natural).
    private static double ProxyLoss(GptqProblem p, Tensor codes)
    {
        using var scope = NewDisposeScope();
        var groupOf = p.Group[0].to_type(ScalarType.Int64);
        var dequantized = (codes.to_type(ScalarType.Float32) - p.Zero[0].index_select(0, groupOf)) * p.Scale[0].index_select(0, groupOf);
        return Kernels.Gptq.ProxyLoss.Relative(p.Hessian, p.Weight, [dequantized.t()])[0] ?? double.NaN;
    }
}

using TorchSharp;
using static TorchSharp.torch;

namespace MoeQuant.Kernels.LinearAlgebra;

/// <summary>
/// The factor GPTQ needs: the upper-triangular U with H⁻¹ = UᵀU, for a batch of symmetric positive definite matrices.
/// Computed as U = J·L⁻¹·J with L = chol(J·H·J) (J reverses rows and columns): one Cholesky and one triangular inverse
/// instead of torch's cholesky → cholesky_inverse → cholesky, faster and more accurate (PERFORMANCE.md). L and L⁻¹ are
/// built together by recursive 2×2 blocking, so all but the small diagonal blocks are batched matrix products that keep
/// the GPU busy for many experts at once, where cuSOLVER factors one matrix at a time at about 12 TFLOP/s.
/// <para>
/// The engine now factors in place (<see cref="ReverseCholesky"/>, then <see cref="UpperTriangularInverse"/>): 9× closer
/// to fp64 at C = 7168, fewer products, no recursion-level copies. This form stays as the benchmarks' baseline
/// (<c>bench gptq-loop</c>, the factor accuracy of <c>bench gptq</c>).
/// </para>
/// </summary>
public static class InverseCholesky
{
    /// <summary>Diagonal blocks at most this wide are factored and inverted directly (batched LAPACK/cuSOLVER).</summary>
    public const int LeafSize = 256;

    /// <summary>Upper factor U of H⁻¹ (H⁻¹ = UᵀU).</summary>
    /// <param name="hessian">(E, C, C) or (C, C) symmetric positive definite, fp32 or fp64, any device.</param>
    /// <returns>Same shape, dtype and device as <paramref name="hessian"/>, contiguous, zero below the diagonal.</returns>
    /// <param name="leafSize">Diagonal blocks at most this wide are factored directly; larger ones are split in two.</param>
    /// <exception cref="NotPositiveDefiniteException">A leading minor of some matrix is not positive (damping too small).</exception>
    public static Tensor UpperFactorOfInverse(Tensor hessian, int leafSize = LeafSize)
    {
        using var scope = NewDisposeScope();
        var (upper, failed) = TryUpperFactorOfInverse(hessian, leafSize);
        // One check at the end: a host sync per leaf block would stall the queue of batched products.
        if (failed.any().item<bool>())
        {
            throw new NotPositiveDefiniteException();
        }

        return upper.MoveToOuterDisposeScope();
    }

    /// <summary>
    /// Upper factor U of H⁻¹ for every matrix of a batch, and which matrices had no Cholesky factor, without a host
    /// synchronisation: a failed matrix's factor holds garbage (NaN/Inf) but leaves the others untouched.
    /// </summary>
    /// <param name="hessian">(E, C, C) or (C, C) symmetric, fp32 or fp64, any device.</param>
    /// <returns>
    /// Upper: same shape, dtype and device as <paramref name="hessian"/>, contiguous. Failed: (E) bool (a 0-d tensor for
    /// a (C, C) input) on the same device, true where a leading minor was not positive.
    /// </returns>
    /// <param name="leafSize">Diagonal blocks at most this wide are factored directly; larger ones are split in two.</param>
    public static (Tensor Upper, Tensor Failed) TryUpperFactorOfInverse(Tensor hessian, int leafSize = LeafSize)
    {
        ArgumentNullException.ThrowIfNull(hessian);
        ArgumentOutOfRangeException.ThrowIfLessThan(leafSize, 64);
        var batched = hessian.dim() == 3 ? hessian : hessian.unsqueeze(0);
        using var scope = NewDisposeScope();
        var failed = zeros(batched.shape[0], dtype: ScalarType.Bool, device: batched.device);
        var inverse = Invert(batched.flip(1, 2), failed, leafSize);
        var upper = inverse.flip(1, 2).contiguous();
        return hessian.dim() == 3
            ? (upper.MoveToOuterDisposeScope(), failed.MoveToOuterDisposeScope())
            : (upper.squeeze(0).MoveToOuterDisposeScope(), failed.squeeze(0).MoveToOuterDisposeScope());
    }

    // Returns L⁻¹ for A = L·Lᵀ, (E, n, n) lower triangular, and ORs each matrix's leaf failures into failed (E). L itself
    // is never needed: each level uses only its own L21 and its children's inverses. Each level frees its temporaries.
    private static Tensor Invert(Tensor a, Tensor failed, int leafSize)
    {
        using var scope = NewDisposeScope();
        var n = a.shape[1];
        if (n <= leafSize)
        {
            var (leaf, info) = linalg.cholesky_ex(a);
            failed.logical_or_(info.ne(0));
            var identity = eye(n, dtype: a.dtype, device: a.device).expand_as(a);
            return linalg.solve_triangular(leaf, identity, upper: false).MoveToOuterDisposeScope();
        }

        // [[A11, ·], [A21, A22]] = [[L11, 0], [L21, L22]]·[[L11ᵀ, L21ᵀ], [0, L22ᵀ]]
        var half = n / 2 / 64 * 64; // multiples of 64 keep the GEMM tiles aligned
        var rest = n - half;
        var a11 = a.narrow(1, 0, half).narrow(2, 0, half);
        var a21 = a.narrow(1, half, rest).narrow(2, 0, half);
        var a22 = a.narrow(1, half, rest).narrow(2, half, rest);

        // 1) X11 = L11⁻¹
        var x11 = Invert(a11, failed, leafSize);
        // 2) L21 = A21·L11⁻ᵀ
        var l21 = Fp32Bmm.Multiply(a21, x11.transpose(1, 2));
        // 3) X22 = L22⁻¹, L22 from the Schur complement A22 − L21·L21ᵀ
        var x22 = Invert(a22 - Fp32Bmm.Multiply(l21, l21.transpose(1, 2)), failed, leafSize);
        // 4) X21 = −X22·L21·X11, the lower-left block of L⁻¹
        var x21 = Fp32Bmm.Multiply(Fp32Bmm.Multiply(x22, l21), x11).neg_();

        var zeros = torch.zeros_like(a21.transpose(1, 2));
        return cat([cat([x11, zeros], 2), cat([x21, x22], 2)], 1).MoveToOuterDisposeScope();
    }
}

/// <summary>A Hessian block was not positive definite: the caller raises the damping and retries.</summary>
public sealed class NotPositiveDefiniteException() : Exception("matrix is not positive definite");

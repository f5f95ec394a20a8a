using static TorchSharp.torch;

namespace MoeQuant.Kernels.Gptq;

/// <summary>The factor a batch's column loop runs on; both give the same GPTQ in exact arithmetic.</summary>
internal enum GptqLoopFactor
{
    /// <summary>Û: rows of U (<c>(H + λI)⁻¹ = UᵀU</c>) over their diagonal; errors fed forward against the updated weights.</summary>
    InverseRows,

    /// <summary>
    /// V = −R·diag(R)⁻¹ by columns (<c>H + λI = R·Rᵀ</c>, R upper, U = R⁻¹): no triangular inverse; errors fed forward
    /// against the original weights (Cuda/GptqBlock.cu derives it). The fused CUDA loop's.
    /// </summary>
    CholeskyColumns,
}

/// <summary>What a batch's factorization hands the column loop, one entry per GPTQ item, in processing order.</summary>
/// <param name="Factor">(G, C, C) float32 contiguous: the loop's unit upper factor, of kind <paramref name="Form"/>.</param>
/// <param name="LossWeight">(G, C) float32: c_j with which the loop's residuals sum to tr(ΔW·(H + λI)·ΔWᵀ).</param>
/// <param name="Damping">(G) float32: λ added to the diagonal.</param>
/// <param name="Ok">(G) bool: whether the factorization succeeded at the first damping with finite values.</param>
/// <param name="Form">Which factor <paramref name="Factor"/> is.</param>
internal sealed record GptqBatchFactors(Tensor Factor, Tensor LossWeight, Tensor Damping, Tensor Ok, GptqLoopFactor Form);

using static TorchSharp.torch;

namespace MoeQuant.Kernels.Gptq;

/// <summary>What a batch's factorization hands the column loop, one entry per GPTQ item, in processing order.</summary>
/// <param name="Factor">(G, C, C) float32 contiguous: Û, the loop's unit upper factor.</param>
/// <param name="LossWeight">(G, C) float32: c_j with which the loop's residuals sum to tr(ΔW·(H + λI)·ΔWᵀ).</param>
/// <param name="Damping">(G) float32: λ added to the diagonal.</param>
/// <param name="Ok">(G) bool: whether the factorization succeeded at the first damping with finite values.</param>
internal sealed record GptqBatchFactors(Tensor Factor, Tensor LossWeight, Tensor Damping, Tensor Ok);

namespace MoeQuant.Kernels.Gptq;

/// <summary>
/// The stages of <see cref="Gptq.QuantizeBatch(IReadOnlyList{GptqBatchItem}, GptqOptions, GptqBatchSettings)"/>, in the
/// order they first run. The engine announces each stage as it begins (<see cref="GptqBatchSettings.Stages"/>); the work
/// up to the next announcement belongs to it. Stages inside loops (factorization blocks, column blocks, positions, chunks)
/// are announced at every entry.
/// </summary>
public enum GptqStage
{
    /// <summary>Shape and option checks, NaN/Inf of every weight and Hessian (one host synchronization).</summary>
    Validation,

    /// <summary>Calibration classes, dead columns (zero diagonal) and the act-order sort of the diagonals.</summary>
    DeadColumns,

    /// <summary>Stacking the Hessians, diagonal 1 for dead columns, act-order permutation of rows and columns, chunk copies of the factors.</summary>
    Permutation,

    /// <summary>Relative damping added to every diagonal.</summary>
    Damping,

    /// <summary>Diagonal blocks of the in-place factorization (at most 256 wide): the Cholesky panels of ReverseCholesky and the leaves of UpperTriangularInverse, through libtorch (cuSOLVER, cuBLAS).</summary>
    FactorLeaf,

    /// <summary>The Cholesky factorization's fp32-accurate batched products (3xTF32 on CUDA): panel products and in-place trailing updates.</summary>
    FactorProduct,

    /// <summary>The triangular inverse's fp32-accurate batched products (3xTF32 on CUDA): the off-diagonal block of each level, skipping zero triangles.</summary>
    InverseProduct,

    /// <summary>The factorization's copies into place: factored panels and leaves, products written back, the final triangle.</summary>
    FactorAssembly,

    /// <summary>Unit diagonal of Û, its loss weights and the finiteness check of every factor.</summary>
    FactorNormalize,

    /// <summary>Stacking one weight position in fp32 and zeroing dead columns.</summary>
    WeightStack,

    /// <summary>Static scales and zero points: absmax, or the MSE grid search.</summary>
    ScaleSearch,

    /// <summary>Round-to-nearest codes and values with the static scales (the fallback and the RTN baseline).</summary>
    RoundToNearest,

    /// <summary>The column loop's inputs: Wᵀ in processing order, transposed scales and zero points, group indices, tied positions joined.</summary>
    LoopSetup,

    /// <summary>The in-block column loop: on CUDA the fused kernel (Cuda/GptqBlock.cu) per block; elsewhere the whole per-matrix torch loop.</summary>
    ColumnLoop,

    /// <summary>Lazy block updates of the later columns (batched fp32 products), on the fused CUDA path.</summary>
    LazyUpdate,

    /// <summary>Codes back in natural column order and their dequantized values.</summary>
    Dequantize,

    /// <summary>Proxy losses: tr(W H Wᵀ), tr((Q−W) H (Q−W)ᵀ) for GPTQ and RTN values in one product per matrix.</summary>
    ProxyLoss,

    /// <summary>The one host synchronization: factor success, dead-column counts and traces of every item.</summary>
    HostSync,

    /// <summary>Result tensors: signed int8 codes, scales and zero points in the scale dtype, g_idx, dequantized weights.</summary>
    Outputs,

    /// <summary>Items run one by one by the single path (<see cref="Gptq.QuantizeTied"/>): dynamic groups, or a first factorization that failed (its damping retries).</summary>
    SinglePath,
}

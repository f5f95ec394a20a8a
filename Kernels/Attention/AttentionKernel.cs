namespace MoeQuant.Kernels.Attention;

/// <summary>Which of libtorch's fused attention kernels <see cref="FusedAttention.Causal"/> runs.</summary>
public enum AttentionKernel
{
    /// <summary>Values zero-padded to the query width, then scaled_dot_product_attention's own choice (flash, when it
    /// applies): every kernel accepts equal widths.</summary>
    PaddedAuto,

    /// <summary>scaled_dot_product_attention's own choice on unpadded values: flash needs equal widths, so on CUDA this
    /// is memory-efficient attention or cuDNN, whichever libtorch prefers.</summary>
    Auto,

    /// <summary>Flash attention (values padded); CUDA only.</summary>
    Flash,

    /// <summary>Memory-efficient (CUTLASS) attention on unpadded values; CUDA only.</summary>
    Efficient,

    /// <summary>cuDNN attention on unpadded values; CUDA only.</summary>
    Cudnn,
}

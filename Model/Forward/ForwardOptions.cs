using MoeQuant.Kernels.Attention;

namespace MoeQuant.Model.Forward;

/// <summary>
/// Which implementation each part of <see cref="DecoderLayer.Run"/> uses. Every switch keeps transformers' numerics
/// (the same roundings, in the same dtypes); only the reduction order inside a kernel may differ. The fused kernels run
/// on CUDA with bf16 activations; elsewhere the switches that need them fall back to the reference operations.
/// </summary>
/// <param name="FusedNorm">RMSNorm as one kernel (f32 statistics, rounded, then scaled) instead of six tensor passes.</param>
/// <param name="FusedCombine">The routed experts' weighted sum (and the shared experts' add) as one kernel that reads each
/// expert output once, instead of an unsort copy and f32 temporaries of [tokens, k, hidden].</param>
/// <param name="FusedActivation">silu(gate)·up as one kernel over the fused gate/up product.</param>
/// <param name="TensorCoreRouter">The router's f32 product as a bf16 tensor-core product with f32 accumulation and
/// output: its operands are bf16 values already (the activations and the router weight, rounded through the compute
/// dtype at load), so the products are exact and only the f32 summation order changes.</param>
/// <param name="AttentionLayout">Queries rotated in place in the q_b product's [B, T, heads, d] layout and keys written
/// once in that layout, instead of concatenated copies; values passed unpadded unless the kernel is flash.</param>
/// <param name="Attention">Which fused attention kernel runs.</param>
public sealed record ForwardOptions(
    bool FusedNorm = false,
    bool FusedCombine = false,
    bool FusedActivation = false,
    bool TensorCoreRouter = false,
    bool AttentionLayout = false,
    AttentionKernel Attention = AttentionKernel.PaddedAuto)
{
    /// <summary>The reference path: transformers' operations one by one.</summary>
    public static ForwardOptions Reference { get; } = new();

    /// <summary>Every fusion on; attention by libtorch's choice among kernels that take unpadded values.</summary>
    public static ForwardOptions Fused { get; } = new(true, true, true, true, true, AttentionKernel.Auto);

    /// <summary>Named variants for benchmarks: the reference, each switch alone, and all of them with each attention kernel.</summary>
    public static IReadOnlyList<(string Name, ForwardOptions Options)> Variants { get; } =
    [
        ("reference", Reference),
        ("fused-norm", Reference with { FusedNorm = true }),
        ("fused-combine", Reference with { FusedCombine = true }),
        ("fused-activation", Reference with { FusedActivation = true }),
        ("tensor-core-router", Reference with { TensorCoreRouter = true }),
        ("attention-layout", Reference with { AttentionLayout = true }),
        ("attention-layout-auto", Reference with { AttentionLayout = true, Attention = AttentionKernel.Auto }),
        ("attention-layout-flash", Reference with { AttentionLayout = true, Attention = AttentionKernel.Flash }),
        ("attention-layout-efficient", Reference with { AttentionLayout = true, Attention = AttentionKernel.Efficient }),
        ("attention-layout-cudnn", Reference with { AttentionLayout = true, Attention = AttentionKernel.Cudnn }),
        ("fused", Fused),
        ("fused-padded-auto", Fused with { Attention = AttentionKernel.PaddedAuto }),
        ("fused-flash", Fused with { Attention = AttentionKernel.Flash }),
        ("fused-cudnn", Fused with { Attention = AttentionKernel.Cudnn }),
    ];
}

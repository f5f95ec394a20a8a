namespace MoeQuant.Kernels.Gptq;

/// <summary>What went unusually for one unit; none of these leave a NaN in the result.</summary>
[Flags]
public enum GptqIssues
{
    /// <summary>Nothing unusual.</summary>
    None = 0,

    /// <summary>No calibration token reached the unit: it was rounded to nearest.</summary>
    ZeroSamples = 1,

    /// <summary>Fewer tokens than <see cref="GptqOptions.MinTokens"/>; <see cref="QuantResult.Method"/> says what ran.</summary>
    FewSamples = 2,

    /// <summary>Some input columns never saw a non-zero value; their weights were set to 0 (MoE-Quant, GPTQ paper).</summary>
    DeadColumns = 4,

    /// <summary>The Cholesky factorization needed more damping than <see cref="GptqOptions.RelDamp"/>.</summary>
    DampingRaised = 8,

    /// <summary>No damping made the Hessian factorizable; rounded to nearest (MoE-Quant never set this flag).</summary>
    NonInvertible = 16,
}

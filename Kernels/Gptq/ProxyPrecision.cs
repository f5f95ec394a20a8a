namespace MoeQuant.Kernels.Gptq;

/// <summary>The arithmetic of a proxy-loss product on CUDA (<see cref="ProxyLoss"/>); the CPU always uses fp32.</summary>
internal enum ProxyPrecision
{
    /// <summary>Plain fp32: the single path's report, compared with MoE-Quant's.</summary>
    Fp32,

    /// <summary>
    /// TF32 tensor cores (10 mantissa bits), a third of the time of 3xTF32. GPTQ steers its error into H's small
    /// directions, so the trace of its result cancels: TF32 moved it by up to 0.15% on DeepSeek-V3-sized problems.
    /// </summary>
    Tf32,

    /// <summary>
    /// bf16 tensor cores with fp32 accumulation, twice TF32's rate: for W and round to nearest only, whose traces do not
    /// cancel, so the rounding of each operand (2⁻⁹, independent signs) averages out over millions of terms. W is bf16
    /// already in a bf16 checkpoint.
    /// </summary>
    BFloat16,
}

// MoE-Quant's MSE scale search (quantization_scale=mse) fused: for every (row, group) pick, among P candidate scales
// round(scale·p_k), the one with the least Σ|dequant(quant(x)) − x|^2.4 over the group, the first on ties. The tensor
// reference (Kernels/Quantization/GroupQuantizer.ShrinkByMse) makes ~15 passes over P copies of the weight; here one
// warp owns one (row, group), each lane up to 4 candidates, and the group's values are read once, 32 at a time, and
// broadcast across the warp with shuffles.
//
// Arithmetic is the reference's operation for operation, each rounded once (explicit _rn intrinsics so the compiler
// cannot contract a multiply and a subtract into an FMA): v = x / c + z, q = clamp(round(v), 0, maxq),
// e = |(q − z)·c − x|, loss += (double) exp(2.4·log e). Only the order of the fp64 sum differs from torch's reduction.

#include "DtypeRounding.cuh"

#define PER_LANE 4 // up to 128 candidates per warp

extern "C" __global__ void mse_scale(
    const float* __restrict__ values,       // [N][groupSize] the values of each (row, group)
    const float* __restrict__ scale,        // [N] absmax scale, already rounded to the scale dtype
    const float* __restrict__ zero,         // [N] zero point (kept for every candidate)
    const float* __restrict__ shrink,       // [P] candidate factors (the reference's linspace, so candidates agree)
    int* __restrict__ best,                 // [N] index of the chosen factor
    long long count,                        // N
    int groupSize,                          // values per group
    int candidates,                         // P <= 32 * PER_LANE
    float maxq,                             // 2^bits - 1
    float smallest,                         // smallest scale allowed (smallest normal of the scale dtype)
    int halfUp,                             // 1: floor(v + 0.5); 0: round half to even
    int roundTo)                            // 0: keep fp32; 1: bf16; 2: fp16
{
    const int lane = threadIdx.x & 31;
    const long long n = (long long)blockIdx.x * (blockDim.x >> 5) + (threadIdx.x >> 5);
    if (n >= count)
    {
        return; // n is the same for the whole warp: every shuffle below has all 32 lanes
    }

    const float s = scale[n];
    const float z = zero[n];
    float c[PER_LANE];
    double loss[PER_LANE];
#pragma unroll
    for (int k = 0; k < PER_LANE; k++)
    {
        const int candidate = lane + 32 * k;
        float v = candidate < candidates ? __fmul_rn(s, shrink[candidate]) : s;
        v = roundTo == 1 ? round_bf16(v) : roundTo == 2 ? round_fp16(v) : v;
        c[k] = fmaxf(v, smallest);
        loss[k] = 0.0;
    }

    const float* x = values + n * groupSize;
    for (int base = 0; base < groupSize; base += 32)
    {
        const int width = min(32, groupSize - base);
        const float mine = lane < width ? x[base + lane] : 0.0f;
        for (int j = 0; j < width; j++)
        {
            const float xj = __shfl_sync(0xffffffffu, mine, j);
#pragma unroll
            for (int k = 0; k < PER_LANE; k++)
            {
                const float v = __fadd_rn(__fdiv_rn(xj, c[k]), z);
                float q = halfUp ? floorf(__fadd_rn(v, 0.5f)) : rintf(v);
                q = fminf(fmaxf(q, 0.0f), maxq);
                const float e = fabsf(__fsub_rn(__fmul_rn(__fsub_rn(q, z), c[k]), xj));
                loss[k] += (double)expf(__fmul_rn(logf(e), 2.4f));
            }
        }
    }

    // First minimum: within a lane candidates ascend with k; across lanes ties go to the lower index.
    double bestLoss = 1.0 / 0.0;
    int bestIndex = 0x7fffffff;
#pragma unroll
    for (int k = 0; k < PER_LANE; k++)
    {
        const int candidate = lane + 32 * k;
        if (candidate < candidates && loss[k] < bestLoss)
        {
            bestLoss = loss[k];
            bestIndex = candidate;
        }
    }
    for (int offset = 16; offset > 0; offset >>= 1)
    {
        const double otherLoss = __shfl_xor_sync(0xffffffffu, bestLoss, offset);
        const int otherIndex = __shfl_xor_sync(0xffffffffu, bestIndex, offset);
        if (otherLoss < bestLoss || (otherLoss == bestLoss && otherIndex < bestIndex))
        {
            bestLoss = otherLoss;
            bestIndex = otherIndex;
        }
    }
    if (lane == 0)
    {
        best[n] = bestIndex;
    }
}

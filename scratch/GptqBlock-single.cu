// The in-block column loop of GPTQ, fused: for each of B consecutive GPTQ columns (processing order), quantize every
// output row, round the dequantized value to the model dtype, record the error and apply it to the block's later
// columns. One thread owns one output row and keeps its B values in registers; the block's B×B slice of the factor
// lives in shared memory and is read as float4 broadcasts. Every index into the register array is a compile-time
// constant (both loops are unrolled), so the rank-1 updates are register FMAs with one shared load per four of them;
// the previous shared-memory row kept 1 block per SM and was latency-bound at 5 ms per expert.
// blockIdx.y selects the matrix of a batch (experts of one shape), so small matrices still fill the GPU.
//
// Layout (per matrix e): Wt [C][R] fp32, GPTQ column j = row j of Wt, contiguous over the R output channels.
// Numerics match the engine (Kernels/Gptq): q = clamp(round(x / s + z), 0, maxq) with half-up or half-even rounding,
// y = round_to_dtype((q - z) * s), error d = y - x, x[k] += Û[j][k] · d for k > j (Û: rows of the upper Cholesky
// factor U of H⁻¹ over their diagonal). With c_j = 1/U_jj², Σ c_j·d_j² over all columns is tr(ΔW·H·ΔWᵀ) for the
// damped H that was factored (ΔW = W − Q = Uᵀ·err), so the proxy loss needs no product with H.

#include "DtypeRounding.cuh"

#define GPTQ_MAX_BLOCK 128
#define GPTQ_THREADS 128

extern "C" __global__ void __launch_bounds__(GPTQ_THREADS, 3) gptq_block(
    float* __restrict__ wt,                 // [E][C][R] working weight; block rows become dequantized values
    unsigned char* __restrict__ codes,      // [E][C][R] integer codes, processing order
    float* __restrict__ error,              // [E][errorRows][R] d of each column, for the lazy update of later columns
    const float* __restrict__ factor,       // [F][C][C] Û; matrix e uses e % F
    const float* __restrict__ scale,        // [E][G][R] scale of each group and row
    const float* __restrict__ zero,         // [E][G][R] zero point of each group and row
    const int* __restrict__ group,          // [E][C] group of each processing-order column
    const float* __restrict__ lossWeight,   // [F][C] c_j per processing column, or null: no loss
    double* __restrict__ loss,              // [E][R] Σ c_j·d_j² accumulated over launches
    int columns,                            // C
    int rows,                               // R
    int groups,                             // G
    int blockStart,                         // i1
    int blockSize,                          // B (<= GPTQ_MAX_BLOCK)
    float maxq,                             // 2^bits - 1
    int halfUp,                             // 1: floor(x + 0.5) as MoE-Quant's Triton kernel; 0: round half to even
    int roundTo,                            // 0: keep fp32; 1: bf16; 2: fp16
    long long factorStride,                 // elements between consecutive factors (0 when the batch shares one Hessian)
    int factors,                            // F: matrices e, e + F, e + 2F, ... share factor e % F (tied weights)
    int errorRows,                          // rows per matrix of the error buffer (the lazy-update span)
    int errorOffset)                        // row of the error buffer that column blockStart goes to
{
    extern __shared__ float4 shared4[];     // [GPTQ_MAX_BLOCK][GPTQ_MAX_BLOCK / 4], zero outside the block
    float* u = reinterpret_cast<float*>(shared4);

    const int e = blockIdx.y;
    const int t = threadIdx.x;
    const int r = blockIdx.x * blockDim.x + t;
    const long long matrix = (long long)e * columns * rows;
    const float* fe = factor + (long long)(e % factors) * factorStride;

    for (int idx = t; idx < GPTQ_MAX_BLOCK * GPTQ_MAX_BLOCK; idx += blockDim.x)
    {
        const int a = idx / GPTQ_MAX_BLOCK;
        const int b = idx - a * GPTQ_MAX_BLOCK;
        u[idx] = a < blockSize && b > a && b < blockSize ? fe[(long long)(blockStart + a) * columns + blockStart + b] : 0.0f;
    }
    float x[GPTQ_MAX_BLOCK];
#pragma unroll
    for (int k = 0; k < GPTQ_MAX_BLOCK; k++)
    {
        x[k] = r < rows && k < blockSize ? wt[matrix + (long long)(blockStart + k) * rows + r] : 0.0f;
    }
    __syncthreads();
    if (r >= rows)
    {
        return;
    }

    const float* lw = lossWeight == nullptr ? nullptr : lossWeight + (factorStride == 0 ? 0 : (long long)(e % factors) * columns);
    double lossSum = 0.0;
#pragma unroll
    for (int j = 0; j < GPTQ_MAX_BLOCK; j++)
    {
        if (j < blockSize)
        {
            const int column = blockStart + j;
            const long long meta = ((long long)e * groups + group[e * columns + column]) * rows + r;
            const float s = scale[meta];
            const float z = zero[meta];
            const float scaled = x[j] / s + z;
            float q = halfUp ? floorf(scaled + 0.5f) : rintf(scaled);
            q = fminf(fmaxf(q, 0.0f), maxq);
            float y = (q - z) * s;
            y = roundTo == 1 ? round_bf16(y) : roundTo == 2 ? round_fp16(y) : y;
            const long long at = matrix + (long long)column * rows + r;
            const float d = y - x[j];
            if (lw != nullptr)
            {
                lossSum += (double)(d * d) * (double)lw[column];
            }

            codes[at] = (unsigned char)q;
            wt[at] = y;
            error[((long long)e * errorRows + errorOffset + j) * rows + r] = d;
            const float4* row = shared4 + j * (GPTQ_MAX_BLOCK / 4);
#pragma unroll
            for (int k4 = (j + 1) / 4; k4 < GPTQ_MAX_BLOCK / 4; k4++)
            {
                const float4 f = row[k4];
                if (4 * k4 + 0 > j) x[4 * k4 + 0] = fmaf(f.x, d, x[4 * k4 + 0]);
                if (4 * k4 + 1 > j) x[4 * k4 + 1] = fmaf(f.y, d, x[4 * k4 + 1]);
                if (4 * k4 + 2 > j) x[4 * k4 + 2] = fmaf(f.z, d, x[4 * k4 + 2]);
                if (4 * k4 + 3 > j) x[4 * k4 + 3] = fmaf(f.w, d, x[4 * k4 + 3]);
            }
        }
    }

    if (lw != nullptr)
    {
        loss[(long long)e * rows + r] += lossSum;
    }
}

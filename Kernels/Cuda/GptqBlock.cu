// The in-block column loop of GPTQ, fused: for each of B consecutive GPTQ columns (processing order), quantize every
// output row, round the dequantized value to the model dtype, record the error and apply it to the block's later
// columns. One thread owns one output row; the block's B×B slice of Û and the rows' B values live in shared memory,
// so the BLAS-2 rank-1 updates that MoE-Quant issues as ~2·C separate launches become one launch per block.
// blockIdx.y selects the matrix of a batch (experts of one shape), so small matrices still fill the GPU.
//
// Layout (per matrix e): Wt [C][R] fp32, GPTQ column j = row j of Wt, contiguous over the R output channels.
// Numerics match the engine (Kernels/Gptq): q = clamp(round(w / s + z), 0, maxq) with half-up or half-even rounding,
// y = round_to_dtype((q - z) * s), error d = y - w, Wt[k] += Û[j][k] · d for k > j (Û row-normalised, unit diagonal).

#include "DtypeRounding.cuh"

extern "C" __global__ void gptq_block(
    float* __restrict__ wt,                 // [E][C][R] working weight; block rows become dequantized values
    unsigned char* __restrict__ codes,      // [E][C][R] integer codes, processing order
    float* __restrict__ error,              // [E][B][R] d = y - w of the block, for the lazy update of later columns
    const float* __restrict__ uhat,         // [F][C][C] row-normalised upper Cholesky factors of H^-1; matrix e uses e % F
    const float* __restrict__ scale,        // [E][G][R] scale of each group and row
    const float* __restrict__ zero,         // [E][G][R] zero point of each group and row
    const int* __restrict__ group,          // [E][C] group of each processing-order column
    int columns,                            // C
    int rows,                               // R
    int groups,                             // G
    int blockStart,                         // i1
    int blockSize,                          // B (<= 128)
    float maxq,                             // 2^bits - 1
    int halfUp,                             // 1: floor(x + 0.5) as MoE-Quant's Triton kernel; 0: round half to even
    int roundTo,                            // 0: keep fp32; 1: bf16; 2: fp16
    long long uhatStride,                   // elements between consecutive factors (0 when the batch shares one Hessian)
    int factors)                            // F: matrices e, e + F, e + 2F, ... share factor e % F (tied weights)
{
    extern __shared__ float shared[];
    float* u = shared;                               // [B][B]
    float* w = shared + blockSize * blockSize;       // [B][blockDim.x]

    const int e = blockIdx.y;
    const int t = threadIdx.x;
    const int r = blockIdx.x * blockDim.x + t;
    const long long matrix = (long long)e * columns * rows;
    const float* ue = uhat + (long long)(e % factors) * uhatStride;

    for (int idx = t; idx < blockSize * blockSize; idx += blockDim.x)
    {
        const int a = idx / blockSize;
        const int b = idx - a * blockSize;
        u[idx] = ue[(long long)(blockStart + a) * columns + blockStart + b];
    }
    if (r < rows)
    {
        for (int k = 0; k < blockSize; k++)
        {
            w[k * blockDim.x + t] = wt[matrix + (long long)(blockStart + k) * rows + r];
        }
    }
    __syncthreads();
    if (r >= rows)
    {
        return;
    }

    for (int j = 0; j < blockSize; j++)
    {
        const int column = blockStart + j;
        const long long meta = ((long long)e * groups + group[e * columns + column]) * rows + r;
        const float s = scale[meta];
        const float z = zero[meta];
        const float x = w[j * blockDim.x + t];
        const float scaled = x / s + z;
        float q = halfUp ? floorf(scaled + 0.5f) : rintf(scaled);
        q = fminf(fmaxf(q, 0.0f), maxq);
        float y = (q - z) * s;
        y = roundTo == 1 ? round_bf16(y) : roundTo == 2 ? round_fp16(y) : y;
        const float d = y - x;

        const long long at = matrix + (long long)column * rows + r;
        codes[at] = (unsigned char)q;
        wt[at] = y;
        error[((long long)e * blockSize + j) * rows + r] = d;
        for (int k = j + 1; k < blockSize; k++)
        {
            w[k * blockDim.x + t] = fmaf(u[j * blockSize + k], d, w[k * blockDim.x + t]);
        }
    }
}

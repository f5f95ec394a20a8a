// Round to nearest with static group scales, and the values of given codes, each in one pass over the weights: the
// engine's GroupQuantizer.Quantize/Dequantize arithmetic (the GPTQ column loop's, Cuda/GptqBlock.cu), fused. Weights are
// rows of C = G·groupSize contiguous columns and groups are contiguous, so element i belongs to group i / groupSize of
// the (rows, G) scales.

#include "DtypeRounding.cuh"

extern "C" __global__ void group_round_to_nearest(
    const float* __restrict__ weight,   // [N][C]
    const float* __restrict__ scale,    // [N][G]
    const float* __restrict__ zero,     // [N][G]
    unsigned char* __restrict__ codes,  // [N][C] unsigned codes
    float* __restrict__ values,         // [N][C] dequantized, rounded to the model dtype
    long long count,                    // N·C
    int groupSize,
    float maxq,                         // 2^bits - 1
    int halfUp,                         // 1: floor(x + 0.5); 0: round half to even
    int roundTo)                        // 0: keep fp32; 1: bf16; 2: fp16
{
    for (long long i = blockIdx.x * (long long)blockDim.x + threadIdx.x; i < count; i += (long long)gridDim.x * blockDim.x)
    {
        const long long g = i / groupSize;
        const float s = scale[g];
        const float z = zero[g];
        const float scaled = weight[i] / s + z;
        float q = halfUp ? floorf(scaled + 0.5f) : rintf(scaled);
        q = fminf(fmaxf(q, 0.0f), maxq);
        const float y = (q - z) * s;
        codes[i] = (unsigned char)q;
        values[i] = roundTo == 1 ? round_bf16(y) : roundTo == 2 ? round_fp16(y) : y;
    }
}

extern "C" __global__ void group_dequantize(
    const unsigned char* __restrict__ codes, // [N][C] unsigned codes
    const float* __restrict__ scale,         // [N][G]
    const float* __restrict__ zero,          // [N][G]
    float* __restrict__ values,              // [N][C]
    long long count,                         // N·C
    int groupSize,
    int roundTo)                             // 0: keep fp32; 1: bf16; 2: fp16
{
    for (long long i = blockIdx.x * (long long)blockDim.x + threadIdx.x; i < count; i += (long long)gridDim.x * blockDim.x)
    {
        const long long g = i / groupSize;
        const float y = ((float)codes[i] - zero[g]) * scale[g];
        values[i] = roundTo == 1 ? round_bf16(y) : roundTo == 2 ? round_fp16(y) : y;
    }
}

// group_dequantize of codes held transposed, [E][C][R] (the GPTQ loop's layout): the codes written back in natural order
// [E][R][C] with their values, through 32×32 tiles in shared memory so that reads and writes are both coalesced.
extern "C" __global__ void group_dequantize_transposed(
    const unsigned char* __restrict__ codesT,  // [E][C][R] unsigned codes
    const float* __restrict__ scale,           // [E·R][G]
    const float* __restrict__ zero,            // [E·R][G]
    unsigned char* __restrict__ codes,         // [E][R][C]
    float* __restrict__ values,                // [E][R][C]
    int rows,                                  // R
    int columns,                               // C
    int groupSize,
    int roundTo)                               // 0: keep fp32; 1: bf16; 2: fp16
{
    __shared__ unsigned char tile[32][33];
    const long long e = blockIdx.z;
    const int c0 = blockIdx.y * 32;
    const int r0 = blockIdx.x * 32;
    const long long base = e * rows * (long long)columns;
    for (int k = threadIdx.y; k < 32; k += blockDim.y)
    {
        const int c = c0 + k;
        const int r = r0 + threadIdx.x;
        if (c < columns && r < rows)
        {
            tile[k][threadIdx.x] = codesT[base + (long long)c * rows + r];
        }
    }
    __syncthreads();

    const int groups = columns / groupSize;
    for (int k = threadIdx.y; k < 32; k += blockDim.y)
    {
        const int r = r0 + k;
        const int c = c0 + threadIdx.x;
        if (c < columns && r < rows)
        {
            const unsigned char q = tile[threadIdx.x][k];
            const long long g = (e * rows + r) * groups + c / groupSize;
            const float y = ((float)q - zero[g]) * scale[g];
            const long long at = base + (long long)r * columns + c;
            codes[at] = q;
            values[at] = roundTo == 1 ? round_bf16(y) : roundTo == 2 ? round_fp16(y) : y;
        }
    }
}

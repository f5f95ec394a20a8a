// The memory-bound steps around a GPTQ batch, each one pass where torch's op chains made two to five: the fp32 weight
// stack with dead columns zeroed, the bf16 proxy-loss operand [W; RTN − W], per-column squared differences of the GPTQ
// values, the fused loop's factor from R, and the loop's transposed weights. The elementwise kernels map a row of C
// contiguous columns to grid.y (and a matrix to grid.z), a column to a thread.

#include "DtypeRounding.cuh"

// bf16 bits of an fp32 value, round to nearest even (torch's conversion; NaN becomes the canonical quiet NaN).
__device__ __forceinline__ unsigned short bf16_bits(float v)
{
    return isnan(v) ? (unsigned short)0x7fc0u : (unsigned short)(__float_as_uint(round_bf16(v)) >> 16);
}

// dst[r][c] = dead[c] ? 0 : src[r][c] widened to fp32; src of type 0 fp32, 1 bf16, 2 fp16.
extern "C" __global__ void widen_masked(
    const void* __restrict__ src,              // [R][C]
    float* __restrict__ dst,                   // [R][C]
    const unsigned char* __restrict__ dead,    // [C] bool
    int columns,
    int srcType)
{
    const int c = blockIdx.x * blockDim.x + threadIdx.x;
    if (c >= columns)
    {
        return;
    }

    const long long i = (long long)blockIdx.y * columns + c;
    float v;
    if (srcType == 1)
    {
        v = __uint_as_float((unsigned int)((const unsigned short*)src)[i] << 16);
    }
    else if (srcType == 2)
    {
        const unsigned short h = ((const unsigned short*)src)[i];
        asm("cvt.f32.f16 %0, %1;" : "=f"(v) : "h"(h));
    }
    else
    {
        v = ((const float*)src)[i];
    }

    dst[i] = dead[c] ? 0.0f : v;
}

// out[e] = [bf16(W[e]); bf16(RTN[e] − W[e])], the difference taken in fp32.
extern "C" __global__ void trace_operand(
    const float* __restrict__ weight,      // [E][R][C]
    const float* __restrict__ rtn,         // [E][R][C]
    unsigned short* __restrict__ out,      // [E][2R][C] bf16
    int rows,
    int columns)
{
    const int c = blockIdx.x * blockDim.x + threadIdx.x;
    if (c >= columns)
    {
        return;
    }

    const long long e = blockIdx.z;
    const long long i = (e * rows + blockIdx.y) * columns + c;
    const long long o = (e * 2 * rows + blockIdx.y) * columns + c;
    const float w = weight[i];
    out[o] = bf16_bits(w);
    out[o + (long long)rows * columns] = bf16_bits(rtn[i] - w);
}

// partial[g][s][c] = Σ over rows [s·span, (s + 1)·span) of (values[g][r][c] − weight[items[g]][r][c])², in row order.
extern "C" __global__ void column_square_differences(
    const float* __restrict__ values,      // [G][R][C]
    const float* __restrict__ weight,      // [E][R][C]
    const long long* __restrict__ items,   // [G] the weight matrix of each values matrix
    float* __restrict__ partial,           // [G][S][C]
    int rows,
    int columns,
    int span)
{
    const int c = blockIdx.x * blockDim.x + threadIdx.x;
    if (c >= columns)
    {
        return;
    }

    const long long g = blockIdx.z;
    const int first = blockIdx.y * span;
    const int last = min(rows, first + span);
    const float* v = values + (g * rows + first) * (long long)columns + c;
    const float* w = weight + (items[g] * rows + first) * (long long)columns + c;
    float sum = 0.0f;
#pragma unroll 8
    for (int r = first; r < last; ++r, v += columns, w += columns)
    {
        const float d = *v - *w;
        sum = fmaf(d, d, sum);
    }

    partial[(g * gridDim.y + blockIdx.y) * (long long)columns + c] = sum;
}

// The fused loop's factor from R (H = R·Rᵀ): a[e][i][j] = j ≥ i ? a[e][i][j] / −diagonal[e][j] : 0, in place, and
// nonFinite[e] = 1 where any entry is not finite. diagonal is a copy of R's, taken before.
extern "C" __global__ void normalize_columns(
    float* __restrict__ a,                     // [E][n][n]
    const float* __restrict__ diagonal,        // [E][n]
    unsigned char* __restrict__ nonFinite,     // [E] bool, set only
    int n)
{
    const int j = blockIdx.x * blockDim.x + threadIdx.x;
    if (j >= n)
    {
        return;
    }

    const long long e = blockIdx.z;
    const int i = blockIdx.y;
    float* at = a + (e * n + i) * (long long)n + j;
    const float v = j >= i ? *at / -diagonal[e * n + j] : 0.0f;
    *at = v;
    if (!isfinite(v))
    {
        nonFinite[e] = 1;
    }
}

// dst[e][c][r] = src[e][r][c], and the same into second when given: 32×32 tiles through shared memory, so both the
// reads and the writes are coalesced.
extern "C" __global__ void transpose_rows(
    const float* __restrict__ src,   // [E][R][C]
    float* __restrict__ dst,         // [E][C][R]
    float* __restrict__ second,      // [E][C][R] or null
    int rows,
    int columns)
{
    __shared__ float tile[32][33];
    const long long e = blockIdx.z;
    const int c0 = blockIdx.x * 32;
    const int r0 = blockIdx.y * 32;
    const float* from = src + e * rows * (long long)columns;
    for (int k = threadIdx.y; k < 32; k += blockDim.y)
    {
        const int r = r0 + k;
        const int c = c0 + threadIdx.x;
        if (r < rows && c < columns)
        {
            tile[k][threadIdx.x] = from[(long long)r * columns + c];
        }
    }
    __syncthreads();

    const long long base = e * rows * (long long)columns;
    for (int k = threadIdx.y; k < 32; k += blockDim.y)
    {
        const int c = c0 + k;
        const int r = r0 + threadIdx.x;
        if (r < rows && c < columns)
        {
            const float v = tile[threadIdx.x][k];
            dst[base + (long long)c * rows + r] = v;
            if (second != nullptr)
            {
                second[base + (long long)c * rows + r] = v;
            }
        }
    }
}

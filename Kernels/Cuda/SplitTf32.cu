// Splits fp32 values into a TF32 "high" part and the fp32 remainder, so that three TF32 tensor-core products
// (hi·hi + hi·lo + lo·hi) give an fp32-accurate product (the "3xTF32" scheme) without the process-wide TF32 switch.

// x rounded to TF32 (10 mantissa bits, round to nearest, ties away), as an fp32 value.
__device__ __forceinline__ float tf32_part(float x)
{
    unsigned int rounded;
    asm("cvt.rna.tf32.f32 %0, %1;" : "=r"(rounded) : "f"(x));
    return __uint_as_float(rounded);
}

// The three interleaved terms of x: the remainder in slot loSlot, the TF32 part in the other two.
__device__ __forceinline__ void write_terms(float x, float* out, int loSlot)
{
    const float h = tf32_part(x);
    out[0] = loSlot == 0 ? x - h : h;
    out[1] = loSlot == 1 ? x - h : h;
    out[2] = loSlot == 2 ? x - h : h;
}

// hi and lo in two arrays.
extern "C" __global__ void split_tf32(const float* __restrict__ a, float* __restrict__ hi, float* __restrict__ lo, long long n)
{
    for (long long i = blockIdx.x * (long long)blockDim.x + threadIdx.x; i < n; i += (long long)gridDim.x * blockDim.x)
    {
        const float x = a[i];
        const float h = tf32_part(x);
        hi[i] = h;
        lo[i] = x - h;
    }
}

// One 3xTF32 product as a single GEMM of three times the depth, C += [A_hi A_hi A_lo]·[B_hi; B_lo; B_hi], with the three
// terms interleaved along K: a K range [k0, k1) of the bands is the contiguous range [3·k0, 3·k1), so one GEMM covers any
// depth subrange (products that skip a zero triangle), and one GEMM reads and writes C once where three would each.
// src: batch of (rows × cols) blocks, K along the columns, leading dimension ld, batch stride batchStride; dst
// (batch, rows, 3·cols), dst[b][r][3c + t]. Term t is the remainder where t == loSlot, the TF32 part elsewhere.
extern "C" __global__ void split_tf32_interleaved(
    const float* __restrict__ src, long long batchStride, int ld, int rows, int cols,
    float* __restrict__ dst, long long n, int loSlot)
{
    const long long block = (long long)rows * cols;
    for (long long i = blockIdx.x * (long long)blockDim.x + threadIdx.x; i < n; i += (long long)gridDim.x * blockDim.x)
    {
        const long long b = i / block;
        const long long within = i - b * block;
        const int r = (int)(within / cols);
        const int c = (int)(within - (long long)r * cols);
        write_terms(src[b * batchStride + (long long)r * ld + c], dst + (b * rows + r) * 3LL * cols + 3LL * c, loSlot);
    }
}

// The split of a block transposed, for a right operand whose K runs down the source's rows but must be contiguous in the
// bands (TF32 tensor-core GEMMs want both operands K-major): src (rows K × cols N, ld, batchStride) becomes dst
// (batch, N, 3·K), dst[b][j][3k + t]. 32 × 32 tiles through shared memory keep both the reads and the writes coalesced.
// Launch: grid (ceil(N / 32), ceil(K / 32), batch), block (32, 8).
extern "C" __global__ void split_tf32_transposed(
    const float* __restrict__ src, long long batchStride, int ld, int rows, int cols, float* __restrict__ dst, int loSlot)
{
    __shared__ float tile[32][33]; // +1: the transposed reads hit 32 different banks
    const long long b = blockIdx.z;
    const int k0 = blockIdx.y * 32;
    const int j0 = blockIdx.x * 32;
    for (int i = threadIdx.y; i < 32; i += blockDim.y)
    {
        const int k = k0 + i;
        const int j = j0 + threadIdx.x;
        tile[i][threadIdx.x] = k < rows && j < cols ? src[b * batchStride + (long long)k * ld + j] : 0.0f;
    }

    __syncthreads();
    for (int i = threadIdx.y; i < 32; i += blockDim.y)
    {
        const int j = j0 + i;
        const int k = k0 + threadIdx.x;
        if (j < cols && k < rows)
        {
            write_terms(tile[threadIdx.x][i], dst + (b * cols + j) * 3LL * rows + 3LL * k, loSlot);
        }
    }
}

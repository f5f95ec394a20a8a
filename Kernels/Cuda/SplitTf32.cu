// Splits fp32 values into a TF32 "high" part and the fp32 remainder, so that three TF32 tensor-core products
// (hi·hi + hi·lo + lo·hi) give an fp32-accurate product (the "3xTF32" scheme) without the process-wide TF32 switch.
extern "C" __global__ void split_tf32(const float* __restrict__ a, float* __restrict__ hi, float* __restrict__ lo, long long n)
{
    for (long long i = blockIdx.x * (long long)blockDim.x + threadIdx.x; i < n; i += (long long)gridDim.x * blockDim.x)
    {
        const float x = a[i];
        unsigned int rounded;
        asm("cvt.rna.tf32.f32 %0, %1;" : "=r"(rounded) : "f"(x));
        const float h = __uint_as_float(rounded);
        hi[i] = h;
        lo[i] = x - h;
    }
}

// The same split for one K-concatenated 3xTF32 product, C += [A_hi A_hi A_lo]·[B_hi; B_lo; B_hi]: one GEMM of three
// times the depth reads and writes C once, where three accumulating GEMMs would each read and write it.
// src: batch of (rows × cols) blocks with leading dimension ld and batch stride batchStride (any strided view);
// dst: contiguous (batch, 3·rows, cols), the three row bands in the order given by loSlot (1: hi lo hi, 2: hi hi lo).
extern "C" __global__ void split_tf32_bands(
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
        const float x = src[b * batchStride + (long long)r * ld + c];
        unsigned int rounded;
        asm("cvt.rna.tf32.f32 %0, %1;" : "=r"(rounded) : "f"(x));
        const float h = __uint_as_float(rounded);
        float* out = dst + b * 3 * block + within;
        out[0] = loSlot == 0 ? x - h : h;
        out[block] = loSlot == 1 ? x - h : h;
        out[2 * block] = loSlot == 2 ? x - h : h;
    }
}

// The split with the three terms interleaved along K, for products that skip the zero triangle of a triangular operand:
// a K range [k0, k1) of the bands is then the contiguous range [3·k0, 3·k1), so one GEMM covers any depth subrange.
// src: batch of (rows × cols) blocks, leading dimension ld, batch stride batchStride. alongColumns = 1 (the left
// operand, K its columns): dst (batch, rows, 3·cols), dst[b][r][3c + t]; alongColumns = 0 (the right operand, K its
// rows): dst (batch, 3·rows, cols), dst[b][3r + t][c]. Term t is the remainder where t == loSlot, the TF32 part elsewhere.
extern "C" __global__ void split_tf32_interleaved(
    const float* __restrict__ src, long long batchStride, int ld, int rows, int cols,
    float* __restrict__ dst, long long n, int loSlot, int alongColumns)
{
    const long long block = (long long)rows * cols;
    for (long long i = blockIdx.x * (long long)blockDim.x + threadIdx.x; i < n; i += (long long)gridDim.x * blockDim.x)
    {
        const long long b = i / block;
        const long long within = i - b * block;
        const int r = (int)(within / cols);
        const int c = (int)(within - (long long)r * cols);
        const float x = src[b * batchStride + (long long)r * ld + c];
        unsigned int rounded;
        asm("cvt.rna.tf32.f32 %0, %1;" : "=r"(rounded) : "f"(x));
        const float h = __uint_as_float(rounded);
        const long long step = alongColumns ? 1 : cols;
        float* out = alongColumns ? dst + (b * rows + r) * 3LL * cols + 3LL * c : dst + (b * 3LL * rows + 3LL * r) * cols + c;
        out[0] = loSlot == 0 ? x - h : h;
        out[step] = loSlot == 1 ? x - h : h;
        out[2 * step] = loSlot == 2 ? x - h : h;
    }
}

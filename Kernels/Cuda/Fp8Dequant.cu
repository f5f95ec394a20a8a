// FP8 E4M3 (fn) block dequantization: out[r][c] = decode(w[r][c]) * scale[r / B][c / B], multiplied in fp32 and rounded
// once to the output type (FORMATS.md §2.5). Each thread handles four consecutive bytes of the row-major weight, so the
// kernel streams memory once: 1 byte in, 2 or 4 bytes out per element.

__device__ __forceinline__ float decode_e4m3(unsigned int b)
{
    const unsigned int e = (b >> 3) & 0xfu;
    const unsigned int m = b & 0x7u;
    if (e == 0xfu && m == 0x7u)
    {
        return __int_as_float(0x7fc00000);
    }
    // normal: (1 + m/8)·2^(e−7) = (8 + m)·2^(e−10); subnormal: (m/8)·2^−6 = m·2^−9
    const float v = e == 0u ? ldexpf((float)m, -9) : ldexpf((float)(8u + m), (int)e - 10);
    return (b & 0x80u) ? -v : v;
}

__device__ __forceinline__ unsigned short to_bf16(float v)
{
    unsigned int bits = __float_as_uint(v);
    if ((bits & 0x7f800000u) == 0x7f800000u && (bits & 0x007fffffu) != 0u)
    {
        return (unsigned short)((bits >> 16) | 0x40u);
    }
    bits += 0x7fffu + ((bits >> 16) & 1u);
    return (unsigned short)(bits >> 16);
}

__device__ __forceinline__ unsigned short to_fp16(float v)
{
    unsigned short h;
    asm("cvt.rn.f16.f32 %0, %1;" : "=h"(h) : "f"(v));
    return h;
}

extern "C" __global__ void fp8_block_dequant(
    const unsigned char* __restrict__ weight,   // [rows][cols] E4M3 codes
    const float* __restrict__ scale,            // [ceil(rows/B)][ceil(cols/B)]
    void* __restrict__ out,                     // [rows][cols] of the output type
    long long rows,
    long long cols,
    int block,
    int outputType)                             // 0: fp32, 1: bf16, 2: fp16
{
    const long long total = rows * cols;
    const long long scaleCols = (cols + block - 1) / block;
    const long long stride = (long long)gridDim.x * blockDim.x * 4;
    for (long long base = ((long long)blockIdx.x * blockDim.x + threadIdx.x) * 4; base < total; base += stride)
    {
        for (int k = 0; k < 4 && base + k < total; k++)
        {
            const long long i = base + k;
            const long long r = i / cols;
            const long long c = i - r * cols;
            const float v = decode_e4m3(weight[i]) * scale[(r / block) * scaleCols + c / block];
            if (outputType == 0)
            {
                ((float*)out)[i] = v;
            }
            else if (outputType == 1)
            {
                ((unsigned short*)out)[i] = to_bf16(v);
            }
            else
            {
                ((unsigned short*)out)[i] = to_fp16(v);
            }
        }
    }
}

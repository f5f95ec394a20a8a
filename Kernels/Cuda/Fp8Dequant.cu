// FP8 E4M3 (fn) block dequantization: out[r][c] = decode(w[r][c]) * scale[r / B][c / B], multiplied in fp32 and rounded
// once to the output type (FORMATS.md §2.5). Each thread handles sixteen consecutive bytes of a row with vector loads and
// stores, so the kernel streams memory once: 1 byte in, 2 or 4 bytes out per element.

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

__device__ __forceinline__ void store(void* out, long long i, float v, int outputType)
{
    if (outputType == 0)
    {
        ((float*)out)[i] = v;
    }
    else
    {
        ((unsigned short*)out)[i] = outputType == 1 ? to_bf16(v) : to_fp16(v);
    }
}

// Grid: x over 16-column chunks, y over rows (strided past 65535): one 16-byte load and 16- or 32-byte stores per thread,
// no 64-bit division per element.
extern "C" __global__ void fp8_block_dequant(
    const unsigned char* __restrict__ weight,   // [rows][cols] E4M3 codes
    const float* __restrict__ scale,            // [ceil(rows/B)][ceil(cols/B)]
    void* __restrict__ out,                     // [rows][cols] of the output type
    int rows,
    int cols,
    int block,
    int outputType)                             // 0: fp32, 1: bf16, 2: fp16
{
    const int scaleCols = (cols + block - 1) / block;
    const int c0 = (blockIdx.x * blockDim.x + threadIdx.x) * 16;
    if (c0 >= cols)
    {
        return;
    }
    for (int r = blockIdx.y; r < rows; r += gridDim.y)
    {
        const long long at = (long long)r * cols + c0;
        const float* scaleRow = scale + (long long)(r / block) * scaleCols;
        // A 16-aligned chunk never straddles a block boundary when the block is a multiple of 16 (128 in practice).
        if (c0 + 16 <= cols && (at & 15) == 0 && block % 16 == 0)
        {
            const uint4 packed = *reinterpret_cast<const uint4*>(weight + at);
            const unsigned int words[4] = {packed.x, packed.y, packed.z, packed.w};
            const float s = scaleRow[c0 / block];
            float v[16];
            for (int k = 0; k < 16; k++)
            {
                v[k] = decode_e4m3((words[k / 4] >> (8 * (k % 4))) & 0xffu) * s;
            }
            if (outputType == 0)
            {
                float4* o = reinterpret_cast<float4*>((float*)out + at);
                for (int k = 0; k < 4; k++)
                {
                    o[k] = make_float4(v[4 * k], v[4 * k + 1], v[4 * k + 2], v[4 * k + 3]);
                }
            }
            else
            {
                unsigned int h[8];
                for (int k = 0; k < 8; k++)
                {
                    const unsigned short lo = outputType == 1 ? to_bf16(v[2 * k]) : to_fp16(v[2 * k]);
                    const unsigned short hi = outputType == 1 ? to_bf16(v[2 * k + 1]) : to_fp16(v[2 * k + 1]);
                    h[k] = (unsigned int)lo | ((unsigned int)hi << 16);
                }
                uint4* o = reinterpret_cast<uint4*>((unsigned short*)out + at);
                o[0] = make_uint4(h[0], h[1], h[2], h[3]);
                o[1] = make_uint4(h[4], h[5], h[6], h[7]);
            }
        }
        else
        {
            for (int c = c0; c < cols && c < c0 + 16; c++)
            {
                store(out, (long long)r * cols + c, decode_e4m3(weight[(long long)r * cols + c]) * scaleRow[c / block], outputType);
            }
        }
    }
}

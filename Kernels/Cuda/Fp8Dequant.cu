// FP8 E4M3 (fn) block dequantization: out[r][c] = decode(w[r][c]) * scale[r / B][c / B], multiplied in fp32 and rounded
// once to the output type (FORMATS.md §2.5). Each thread handles four consecutive bytes of a row with vector loads and
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

// Grid: x over column quads, y over rows (strided past 65535): no 64-bit division per element.
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
    const int c0 = (blockIdx.x * blockDim.x + threadIdx.x) * 4;
    if (c0 >= cols)
    {
        return;
    }
    for (int r = blockIdx.y; r < rows; r += gridDim.y)
    {
        const long long at = (long long)r * cols + c0;
        const float* scaleRow = scale + (long long)(r / block) * scaleCols;
        if (c0 + 4 <= cols && (at & 3) == 0)
        {
            const uchar4 q = *reinterpret_cast<const uchar4*>(weight + at);
            const float s0 = scaleRow[c0 / block];
            const float s3 = scaleRow[(c0 + 3) / block];  // a quad never straddles more than two blocks
            const float v0 = decode_e4m3(q.x) * s0;
            const float v1 = decode_e4m3(q.y) * ((c0 + 1) / block == c0 / block ? s0 : s3);
            const float v2 = decode_e4m3(q.z) * ((c0 + 2) / block == c0 / block ? s0 : s3);
            const float v3 = decode_e4m3(q.w) * s3;
            if (outputType == 0)
            {
                *reinterpret_cast<float4*>((float*)out + at) = make_float4(v0, v1, v2, v3);
            }
            else
            {
                const unsigned short h0 = outputType == 1 ? to_bf16(v0) : to_fp16(v0);
                const unsigned short h1 = outputType == 1 ? to_bf16(v1) : to_fp16(v1);
                const unsigned short h2 = outputType == 1 ? to_bf16(v2) : to_fp16(v2);
                const unsigned short h3 = outputType == 1 ? to_bf16(v3) : to_fp16(v3);
                *reinterpret_cast<uint2*>((unsigned short*)out + at) =
                    make_uint2((unsigned int)h0 | ((unsigned int)h1 << 16), (unsigned int)h2 | ((unsigned int)h3 << 16));
            }
        }
        else
        {
            for (int c = c0; c < cols && c < c0 + 4; c++)
            {
                store(out, (long long)r * cols + c, decode_e4m3(weight[(long long)r * cols + c]) * scaleRow[c / block], outputType);
            }
        }
    }
}

// Fused element-wise parts of the DeepSeek-V3 decoder layer on bf16 activations. Each kernel repeats transformers'
// roundings exactly (f32 arithmetic where torch computes in f32, a rounding to bf16 wherever torch stores a bf16
// tensor); only the order of a reduction's additions differs. Rows are read with 16-byte vectors of eight values.

__device__ __forceinline__ float bf16_lo(unsigned int word) { return __uint_as_float(word << 16); }

__device__ __forceinline__ float bf16_hi(unsigned int word) { return __uint_as_float(word & 0xffff0000u); }

// Round to nearest even; a NaN stays a (quiet) NaN.
__device__ __forceinline__ unsigned int bf16_bits(float v)
{
    unsigned int bits = __float_as_uint(v);
    if ((bits & 0x7f800000u) == 0x7f800000u && (bits & 0x007fffffu) != 0u)
    {
        return (bits >> 16) | 0x40u;
    }
    bits += 0x7fffu + ((bits >> 16) & 1u);
    return bits >> 16;
}

__device__ __forceinline__ float bf16_round(float v) { return __uint_as_float(bf16_bits(v) << 16); }

__device__ __forceinline__ void unpack8(uint4 p, float* f)
{
    const unsigned int w[4] = {p.x, p.y, p.z, p.w};
    for (int i = 0; i < 4; i++)
    {
        f[2 * i] = bf16_lo(w[i]);
        f[2 * i + 1] = bf16_hi(w[i]);
    }
}

__device__ __forceinline__ uint4 pack8(const float* f)
{
    unsigned int w[4];
    for (int i = 0; i < 4; i++)
    {
        w[i] = bf16_bits(f[2 * i]) | (bf16_bits(f[2 * i + 1]) << 16);
    }
    return make_uint4(w[0], w[1], w[2], w[3]);
}

// Sum over the block (blockDim.x a multiple of 32, at most 1024); every thread gets the total.
__device__ __forceinline__ float block_sum(float v)
{
    __shared__ float partial[32];
    for (int o = 16; o > 0; o >>= 1)
    {
        v += __shfl_xor_sync(0xffffffffu, v, o);
    }
    if ((threadIdx.x & 31) == 0)
    {
        partial[threadIdx.x >> 5] = v;
    }
    __syncthreads();
    v = threadIdx.x < (blockDim.x >> 5) ? partial[threadIdx.x & 31] : 0.0f;
    if (threadIdx.x < 32)
    {
        for (int o = 16; o > 0; o >>= 1)
        {
            v += __shfl_xor_sync(0xffffffffu, v, o);
        }
        if (threadIdx.x == 0)
        {
            partial[0] = v;
        }
    }
    __syncthreads();
    return partial[0];
}

// RMSNorm as transformers' DeepseekV3RMSNorm: n = bf16(x · rsqrt(mean(x²) + eps)) in f32, out = bf16(weight · n).
// One block per row; x rows may be strided (a column slice of a wider product), out is contiguous. d % 8 == 0.
extern "C" __global__ void rms_norm_bf16(
    const unsigned short* __restrict__ x,
    long long xRowStride,
    const unsigned short* __restrict__ weight,
    unsigned short* __restrict__ out,
    int d,
    float eps)
{
    const uint4* row = reinterpret_cast<const uint4*>(x + (long long)blockIdx.x * xRowStride);
    uint4* target = reinterpret_cast<uint4*>(out + (long long)blockIdx.x * d);
    const uint4* scale = reinterpret_cast<const uint4*>(weight);
    const int vectors = d / 8;
    float f[8];
    float squares = 0.0f;
    for (int v = threadIdx.x; v < vectors; v += blockDim.x)
    {
        unpack8(row[v], f);
        for (int i = 0; i < 8; i++)
        {
            squares += f[i] * f[i];
        }
    }
    // torch's mean multiplies the sum by 1/d; torch's rsqrt on CUDA is rsqrtf.
    const float r = rsqrtf(__fadd_rn(__fmul_rn(block_sum(squares), 1.0f / (float)d), eps));
    float w[8];
    for (int v = threadIdx.x; v < vectors; v += blockDim.x)
    {
        unpack8(row[v], f);
        unpack8(scale[v], w);
        for (int i = 0; i < 8; i++)
        {
            f[i] = __fmul_rn(w[i], bf16_round(__fmul_rn(f[i], r)));
        }
        target[v] = pack8(f);
    }
}

// silu(gate) · up over a fused gate/up product [rows][gate width | up width]: s = bf16(g / (1 + exp(−g))) as torch's
// silu, out = bf16(s · u). Grid-stride over eight-value vectors of out [rows][width]; width % 8 == 0.
extern "C" __global__ void silu_mul_bf16(
    const unsigned short* __restrict__ gateUp,
    unsigned short* __restrict__ out,
    long long rows,
    int width)
{
    const long long perRow = width / 8;
    const long long total = rows * perRow;
    float g[8];
    float u[8];
    for (long long i = (long long)blockIdx.x * blockDim.x + threadIdx.x; i < total; i += (long long)gridDim.x * blockDim.x)
    {
        const long long r = i / perRow;
        const long long c = i - (r * perRow);
        const uint4* source = reinterpret_cast<const uint4*>(gateUp + (r * 2 * width));
        unpack8(source[c], g);
        unpack8(source[c + perRow], u);
        for (int k = 0; k < 8; k++)
        {
            g[k] = __fmul_rn(bf16_round(g[k] / (1.0f + expf(-g[k]))), u[k]);
        }
        reinterpret_cast<uint4*>(out)[i] = pack8(g);
    }
}

// The routed experts' combine: out[t] = bf16(Σ_j f32(rows[slotRow[t·k + j]]) · weight[t·k + j]) with the products and
// the sum in f32, as transformers' grouped experts; plus, when addend is not null, bf16(that + addend[t]) as torch's bf16
// add (the shared experts). One block per token; hidden % 8 == 0.
extern "C" __global__ void moe_combine_bf16(
    const unsigned short* __restrict__ rows,
    const long long* __restrict__ slotRow,
    const float* __restrict__ weights,
    const unsigned short* __restrict__ addend,
    unsigned short* __restrict__ out,
    int k,
    int hidden)
{
    const long long token = blockIdx.x;
    const int vectors = hidden / 8;
    float acc[8];
    float f[8];
    for (int v = threadIdx.x; v < vectors; v += blockDim.x)
    {
        for (int i = 0; i < 8; i++)
        {
            acc[i] = 0.0f;
        }
        for (int j = 0; j < k; j++)
        {
            const long long slot = token * k + j;
            const float w = weights[slot];
            unpack8(reinterpret_cast<const uint4*>(rows + (slotRow[slot] * hidden))[v], f);
            for (int i = 0; i < 8; i++)
            {
                acc[i] = __fadd_rn(acc[i], __fmul_rn(f[i], w));
            }
        }
        if (addend != nullptr)
        {
            unpack8(reinterpret_cast<const uint4*>(addend + (token * hidden))[v], f);
            for (int i = 0; i < 8; i++)
            {
                acc[i] = __fadd_rn(bf16_round(acc[i]), f[i]);
            }
        }
        reinterpret_cast<uint4*>(out + (token * hidden))[v] = pack8(acc);
    }
}

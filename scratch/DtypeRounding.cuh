// Rounding of fp32 values to the model dtype inside kernels, shared by the GPTQ kernels. CudaModuleCache inlines this
// file where a kernel source says #include "DtypeRounding.cuh" (NVRTC is given one self-contained source).

// Rounds an fp32 value to bf16 (round to nearest even, NaN kept) and widens it back.
__device__ __forceinline__ float round_bf16(float v)
{
    unsigned int bits = __float_as_uint(v);
    if ((bits & 0x7f800000u) == 0x7f800000u && (bits & 0x007fffffu) != 0u)
    {
        return v;
    }
    bits += 0x7fffu + ((bits >> 16) & 1u);
    return __uint_as_float(bits & 0xffff0000u);
}

// Rounds an fp32 value to fp16 (round to nearest even) and widens it back.
__device__ __forceinline__ float round_fp16(float v)
{
    unsigned short h;
    asm("cvt.rn.f16.f32 %0, %1;" : "=h"(h) : "f"(v));
    float back;
    asm("cvt.f32.f16 %0, %1;" : "=f"(back) : "h"(h));
    return back;
}

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

// A diagonal block of ReverseCholesky, factored and inverted in one kernel, one thread block per matrix: A22 = R·Rᵀ with
// R upper, left as R⁻¹ (upper, zeros below) where A22 was. cuSOLVER's batched potrf and a triangular solve took about
// twenty latency-bound launches per block for the same.
//
// With J the reversal, R = J·L·J for L the lower Cholesky factor of B = J·A22·J, so the kernel factors B and inverts L in
// shared memory, with B's lower triangle packed by columns (w·(w + 1)/2 floats: 129 KiB for w = 256), and writes
// R⁻¹ = J·L⁻¹·J. Both sweeps are right-looking and column-oriented: a warp takes a column, its lanes consecutive rows,
// which are consecutive words of the packed column (no bank conflicts), while the column's own factor is a broadcast.
// A thread per row instead (four warps for a leaf of 128, two barriers a column) took 0.48 ms a leaf against 0.25: each
// row's updates are a serial chain of shared-memory round trips.

// Packed index of B[i][j], i ≥ j, columns stored one after another.
__device__ __forceinline__ int packed(int i, int j, int w)
{
    return j * w - (j * (j - 1)) / 2 + (i - j);
}

extern "C" __global__ void reverse_cholesky_leaf(
    float* __restrict__ a,                 // [E][n][n]: the block at rows and columns [o, o + w) of each matrix
    long long batchStride,                 // n·n
    int ld,                                // n
    int o,
    int w,                                 // ≤ 256
    unsigned char* __restrict__ failed,    // [E] bool, set where a pivot was not positive (never cleared)
    float* __restrict__ factor)            // [E][w][w] R itself, or null
{
    extern __shared__ float shared[];
    float* b = shared;                                  // packed lower triangle of B, then of L, then of L⁻¹
    float* column = shared + (w * (w + 1)) / 2;         // one column of L below its diagonal
    const int lane = threadIdx.x & 31;
    const int warp = threadIdx.x >> 5;
    const int warps = blockDim.x >> 5;
    float* block = a + blockIdx.x * batchStride + (long long)o * ld + o;

    // 1) B[i][j] = A22[w−1−i][w−1−j], i ≥ j: A22's upper triangle, read a row at a time (coalesced).
    for (int r = warp; r < w; r += warps)
    {
        for (int c = r + lane; c < w; c += 32)
        {
            b[packed(w - 1 - r, w - 1 - c, w)] = block[(long long)r * ld + c];
        }
    }
    __syncthreads();

    // 2) L: for each column k, its pivot, the column scaled, then the trailing triangle updated.
    __shared__ float pivotInverse;
    __shared__ int notPositive;
    if (threadIdx.x == 0)
    {
        notPositive = 0;
    }
    for (int k = 0; k < w; ++k)
    {
        if (threadIdx.x == 0)
        {
            const float d = b[packed(k, k, w)];
            if (!(d > 0.0f))
            {
                notPositive = 1;
            }
            const float s = sqrtf(d);
            b[packed(k, k, w)] = s;
            pivotInverse = 1.0f / s;
        }
        __syncthreads();
        const int base = packed(k, k, w);
        for (int i = k + 1 + threadIdx.x; i < w; i += blockDim.x)
        {
            b[base + (i - k)] *= pivotInverse;
        }
        __syncthreads();
        for (int j = k + 1 + warp; j < w; j += warps)
        {
            const float ljk = b[base + (j - k)];
            const int target = packed(j, j, w) - j;
            for (int i = j + lane; i < w; i += 32)
            {
                b[target + i] -= b[base + (i - k)] * ljk;
            }
        }
        __syncthreads();
    }

    if (threadIdx.x == 0 && notPositive)
    {
        failed[blockIdx.x] = 1;
    }

    // R = J·L·J, when the caller keeps the factor.
    if (factor != nullptr)
    {
        float* out = factor + (long long)blockIdx.x * w * w;
        for (int r = warp; r < w; r += warps)
        {
            for (int c = lane; c < w; c += 32)
            {
                out[r * w + c] = c >= r ? b[packed(w - 1 - r, w - 1 - c, w)] : 0.0f;
            }
        }
    }

    // 3) L⁻¹ in place, by rows: row k of L⁻¹ is its residual over L[k][k]; then every later row i loses L[i][k] times
    //    it (its entry in column k, which still holds L[i][k], becomes −L[i][k]·L⁻¹[k][k]).
    for (int k = 0; k < w; ++k)
    {
        const float lkk = b[packed(k, k, w)];
        for (int i = k + 1 + threadIdx.x; i < w; i += blockDim.x)
        {
            column[i] = b[packed(i, k, w)];
        }
        for (int c = threadIdx.x; c < k; c += blockDim.x)
        {
            b[packed(k, c, w)] /= lkk;
        }
        __syncthreads();
        const float xkk = 1.0f / lkk;
        if (threadIdx.x == 0)
        {
            b[packed(k, k, w)] = xkk;
        }
        for (int c = warp; c <= k; c += warps)
        {
            const int base = packed(c, c, w) - c;
            if (c == k)
            {
                for (int i = k + 1 + lane; i < w; i += 32)
                {
                    b[base + i] = -column[i] * xkk;
                }
            }
            else
            {
                const float xkc = b[base + k];
                for (int i = k + 1 + lane; i < w; i += 32)
                {
                    b[base + i] -= column[i] * xkc;
                }
            }
        }
        __syncthreads();
    }

    // 4) R⁻¹ = J·L⁻¹·J over the block, zeros below the diagonal.
    for (int r = warp; r < w; r += warps)
    {
        for (int c = lane; c < w; c += 32)
        {
            block[(long long)r * ld + c] = c >= r ? b[packed(w - 1 - r, w - 1 - c, w)] : 0.0f;
        }
    }
}

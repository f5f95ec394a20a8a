// A diagonal block of ReverseCholesky, factored and inverted in one kernel, one thread block per matrix: A22 = R·Rᵀ with
// R upper, left as R⁻¹ (upper, zeros below) where A22 was. cuSOLVER's batched potrf and a triangular solve took about
// twenty latency-bound launches per block for the same.
//
// With J the reversal, R = J·L·J for L the lower Cholesky factor of B = J·A22·J, so the kernel factors B and inverts L in
// shared memory, with B's lower triangle packed by columns (w·(w + 1)/2 floats: 129 KiB for w = 256), and writes
// R⁻¹ = J·L⁻¹·J. Both sweeps are right-looking with one thread per row (blockDim = w rounded up to a warp): a row's
// entry of a column sits one word after the row above's, so the lanes of a warp never share a bank, and what every row
// needs of the current column or row is a broadcast. A warp per column with a thousand threads waited at its barriers:
// 0.25 ms a leaf of 128 whatever the batch.

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
    const int warps = blockDim.x >> 5; // the loads and stores below: a warp per row, its lanes along the row
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

    // 2) L, right-looking, thread i owning row i: per column k, its pivot, then each later row scales its entry and
    //    publishes it, then updates its own entries (k, i] (two barriers a column: a barrier of four warps is cheap, and
    //    a row's entries are one word apart across the rows, so the lanes never share a bank).
    __shared__ float pivotInverse;
    __shared__ int notPositive;
    const int i = threadIdx.x;
    const bool row = i < w;
    if (i == 0)
    {
        notPositive = 0;
    }
    for (int k = 0; k < w; ++k)
    {
        if (i == k)
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
        float lik = 0.0f;
        if (row && i > k)
        {
            lik = b[packed(i, k, w)] * pivotInverse;
            b[packed(i, k, w)] = lik;
            column[i] = lik;
        }
        __syncthreads();
        if (row && i > k)
        {
            for (int j = k + 1; j <= i; ++j)
            {
                b[packed(i, j, w)] -= lik * column[j];
            }
        }
    }
    __syncthreads();

    if (i == 0 && notPositive)
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

    // 3) L⁻¹ in place, by rows: row k of L⁻¹ is its residual over L[k][k] (thread c divides entry c), then every
    //    later row i loses L[i][k] times it; its own entry in column k, which still holds L[i][k], becomes
    //    −L[i][k]·L⁻¹[k][k].
    for (int k = 0; k < w; ++k)
    {
        const float lkk = b[packed(k, k, w)];
        if (i < k)
        {
            b[packed(k, i, w)] /= lkk;
        }
        __syncthreads();
        const float xkk = 1.0f / lkk;
        if (i == k)
        {
            b[packed(k, k, w)] = xkk;
        }
        else if (row && i > k)
        {
            const float lik = b[packed(i, k, w)];
            for (int c = 0; c < k; ++c)
            {
                b[packed(i, c, w)] -= lik * b[packed(k, c, w)];
            }
            b[packed(i, k, w)] = -lik * xkk;
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

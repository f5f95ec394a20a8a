// The in-block column loop of GPTQ, fused: for each of B consecutive GPTQ columns (processing order), quantize every
// output row, round the dequantized value to the model dtype, record the error and apply it to the block's later
// columns. Two neighbouring threads own one output row, each keeping half of its B values in registers (columns of its
// parity), and exchange each column's value by a shuffle so both quantize it identically; the block's B×B slice of the
// factor lives in shared memory, split by column parity, and is read as float4 broadcasts. Every index into the
// register arrays is a compile-time constant, so the rank-1 updates are register FMAs with one shared load per four. A
// whole row per thread needed more registers than it has and spilled to the stack.
// The columns go in chunks of GPTQ_CHUNK: within a chunk the loops are unrolled, and between chunks the register window
// slides down by the chunk's half (x[i] ← x[i + GPTQ_CHUNK/2], a few moves per column), so that the chunk's columns are
// always x[0..GPTQ_CHUNK/2) and the chunk loop itself need not be unrolled. Unrolling all 128 columns instead gave the
// same code but took NVRTC three minutes to compile (measured on an H100 machine's first run).
// blockIdx.y selects the matrix of a batch (experts of one shape), so small matrices still fill the GPU.
//
// Layout (per matrix e): Wt [C][R] fp32, GPTQ column j = row j of Wt, contiguous over the R output channels.
// Numerics match the engine (Kernels/Gptq): q = clamp(round(x / s + z), 0, maxq) with half-up or half-even rounding,
// y = round_to_dtype((q - z) * s), error d = y - x, x[k] += Û[j][k] · d for k > j (Û: rows of the upper Cholesky
// factor U of H⁻¹ over their diagonal). With c_j = 1/U_jj², Σ c_j·d_j² over all columns is tr(ΔW·H·ΔWᵀ) for the
// damped H that was factored (ΔW = W − Q = Uᵀ·err), so the proxy loss needs no product with H.
// With the original weights given, the factor is instead V = −R·diag(R)⁻¹ by columns (H = R·Rᵀ, R upper, U = R⁻¹) and
// the fed-forward error is taken against the original value, p = y − w_original: since W − Q = err·U, err = (W − Q)·R,
// so each updated value is w_original[k] + Σ_{j<k} (w_original[j] − q_j)·R[j][k]/R[k][k], the same GPTQ with no inverse
// of R. The loss is unchanged: c_j = R_jj² = 1/U_jj², with d against the updated value.

#include "DtypeRounding.cuh"

#define GPTQ_MAX_BLOCK 128
#define GPTQ_HALF (GPTQ_MAX_BLOCK / 2)      // columns a thread keeps
#define GPTQ_THREADS 256                    // 128 rows, two threads each
#define GPTQ_CHUNK 8                        // columns per unrolled chunk (a multiple of 8: one float4 of each parity)
#define GPTQ_SLIDE (GPTQ_CHUNK / 2)         // register positions the window slides per chunk

extern "C" __global__ void __launch_bounds__(GPTQ_THREADS, 2) gptq_block(
    float* __restrict__ wt,                 // [E][C][R] working weight; block rows become dequantized values
    unsigned char* __restrict__ codes,      // [E][C][R] integer codes, processing order
    float* __restrict__ error,              // [E][errorRows][R] fed-forward error of each column, for the lazy update
    const float* __restrict__ factor,       // [F][C][C] Û, or V with original; matrix e uses e % F
    const float* __restrict__ scale,        // [E][G][R] scale of each group and row
    const float* __restrict__ zero,         // [E][G][R] zero point of each group and row
    const int* __restrict__ group,          // [E][C] group of each processing-order column
    const float* __restrict__ lossWeight,   // [F][C] c_j per processing column, or null: no loss
    double* __restrict__ loss,              // [E][R] Σ c_j·d_j² accumulated over launches
    int columns,                            // C
    int rows,                               // R
    int groups,                             // G
    int blockStart,                         // i1
    int blockSize,                          // B (<= GPTQ_MAX_BLOCK)
    float maxq,                             // 2^bits - 1
    int halfUp,                             // 1: floor(x + 0.5) as MoE-Quant's Triton kernel; 0: round half to even
    int roundTo,                            // 0: keep fp32; 1: bf16; 2: fp16
    long long factorStride,                 // elements between consecutive factors (0 when the batch shares one Hessian)
    int factors,                            // F: matrices e, e + F, e + 2F, ... share factor e % F (tied weights)
    int errorRows,                          // rows per matrix of the error buffer (the lazy-update span)
    int errorOffset,                        // row of the error buffer that column blockStart goes to
    const float* __restrict__ original)     // [E][C][R] the weights before any update (factor V), or null (factor Û)
{
    // [parity][j][GPTQ_HALF]: Û[j][2i + parity] at i, zero outside the block and on or below the diagonal; then the
    // group of each of the block's columns.
    extern __shared__ float4 shared4[];
    float* u = reinterpret_cast<float*>(shared4);
    int* blockGroup = reinterpret_cast<int*>(u + GPTQ_MAX_BLOCK * GPTQ_MAX_BLOCK);

    const int e = blockIdx.y;
    const int t = threadIdx.x;
    const int parity = t & 1;
    const int r = blockIdx.x * (GPTQ_THREADS / 2) + (t >> 1);
    const bool live = r < rows; // both threads of a row agree, and every lane stays for the shuffles
    const long long matrix = (long long)e * columns * rows;
    const float* fe = factor + (long long)(e % factors) * factorStride;

    for (int idx = t; idx < GPTQ_MAX_BLOCK * GPTQ_MAX_BLOCK; idx += blockDim.x)
    {
        const int a = idx / GPTQ_MAX_BLOCK;
        const int b = idx - a * GPTQ_MAX_BLOCK;
        const float v = a < blockSize && b > a && b < blockSize ? fe[(long long)(blockStart + a) * columns + blockStart + b] : 0.0f;
        u[((b & 1) * GPTQ_MAX_BLOCK + a) * GPTQ_HALF + (b >> 1)] = v;
    }
    if (t < blockSize)
    {
        blockGroup[t] = group[e * columns + blockStart + t];
    }

    float x[GPTQ_HALF]; // x[i]: column 2i + parity
#pragma unroll
    for (int i = 0; i < GPTQ_HALF; i++)
    {
        const int k = 2 * i + parity;
        x[i] = live && k < blockSize ? wt[matrix + (long long)(blockStart + k) * rows + r] : 0.0f;
    }
    __syncthreads();

    const float* lw = lossWeight == nullptr ? nullptr : lossWeight + (factorStride == 0 ? 0 : (long long)(e % factors) * columns);
    double lossSum = 0.0;
    // Each column's scale and zero point are loaded one column ahead, so their latency overlaps the column before.
    const long long rowMeta = (long long)e * groups * rows + (live ? r : 0);
    float nextScale = scale[rowMeta + (long long)blockGroup[0] * rows];
    float nextZero = zero[rowMeta + (long long)blockGroup[0] * rows];
    const float* originalRow = original == nullptr ? nullptr : original + matrix + (live ? r : 0);
    float nextOriginal = originalRow == nullptr ? 0.0f : originalRow[(long long)blockStart * rows];
#pragma unroll 1
    for (int chunk = 0; chunk < GPTQ_MAX_BLOCK / GPTQ_CHUNK && chunk * GPTQ_CHUNK < blockSize; chunk++)
    {
        // x[i] now holds column 2·(i + chunk·GPTQ_SLIDE) + parity; float4 index i4 of a factor row covers x[4·i4 ..].
        const int first4 = chunk * (GPTQ_SLIDE / 4);
#pragma unroll
        for (int jj = 0; jj < GPTQ_CHUNK; jj++)
        {
            const int j = chunk * GPTQ_CHUNK + jj;
            if (j < blockSize)
            {
                // Column j lives with the thread of parity j & 1; its partner gets the value and computes the same d.
                const bool owner = parity == (jj & 1);
                const float mine = x[jj / 2];
                const float theirs = __shfl_xor_sync(0xffffffffu, mine, 1);
                const float xj = owner ? mine : theirs;
                const int column = blockStart + j;
                const float s = nextScale;
                const float z = nextZero;
                const float wj = nextOriginal;
                if (j + 1 < blockSize)
                {
                    nextScale = scale[rowMeta + (long long)blockGroup[j + 1] * rows];
                    nextZero = zero[rowMeta + (long long)blockGroup[j + 1] * rows];
                    if (originalRow != nullptr)
                    {
                        nextOriginal = originalRow[(long long)(column + 1) * rows];
                    }
                }

                const float scaled = xj / s + z;
                float q = halfUp ? floorf(scaled + 0.5f) : rintf(scaled);
                q = fminf(fmaxf(q, 0.0f), maxq);
                float y = (q - z) * s;
                y = roundTo == 1 ? round_bf16(y) : roundTo == 2 ? round_fp16(y) : y;
                const float d = y - xj;
                const float fed = originalRow == nullptr ? d : y - wj; // the error fed forward (see the header)
                if (owner && live)
                {
                    const long long at = matrix + (long long)column * rows + r;
                    codes[at] = (unsigned char)q;
                    wt[at] = y;
                    error[((long long)e * errorRows + errorOffset + j) * rows + r] = fed;
                    if (lw != nullptr)
                    {
                        lossSum += (double)(d * d) * (double)lw[column];
                    }
                }

                // Own later columns: in the first float4 those past jj (known at compile time), then every one up to
                // the block's end (a uniform branch: the same chunk for the whole CTA).
                const float4* row = shared4 + (parity * GPTQ_MAX_BLOCK + j) * (GPTQ_HALF / 4) + first4;
#pragma unroll
                for (int i4 = 0; i4 < GPTQ_HALF / 4; i4++)
                {
                    if (i4 < GPTQ_HALF / 4 - first4)
                    {
                        const float4 f = row[i4];
                        if (i4 > 0 || 2 * 0 + parity > jj) x[4 * i4 + 0] = fmaf(f.x, fed, x[4 * i4 + 0]);
                        if (i4 > 0 || 2 * 1 + parity > jj) x[4 * i4 + 1] = fmaf(f.y, fed, x[4 * i4 + 1]);
                        if (i4 > 0 || 2 * 2 + parity > jj) x[4 * i4 + 2] = fmaf(f.z, fed, x[4 * i4 + 2]);
                        if (i4 > 0 || 2 * 3 + parity > jj) x[4 * i4 + 3] = fmaf(f.w, fed, x[4 * i4 + 3]);
                    }
                }
            }
        }

#pragma unroll
        for (int i = 0; i < GPTQ_HALF - GPTQ_SLIDE; i++)
        {
            x[i] = x[i + GPTQ_SLIDE];
        }
    }

    if (lw != nullptr)
    {
        lossSum += __shfl_xor_sync(0xffffffffu, lossSum, 1);
        if (live && parity == 0)
        {
            loss[(long long)e * rows + r] += lossSum;
        }
    }
}

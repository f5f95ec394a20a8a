using MoeQuant.Kernels.Gptq;
using TorchSharp;
using static TorchSharp.torch;

namespace MoeQuant.Kernels.Tests.Gptq;

/// <summary>
/// A seeded random GPTQ problem: a bf16-representable weight and the Hessian of correlated activations with
/// heavy-tailed channel scales (as LLM hidden states have), so act-order and error feedback both matter.
/// </summary>
internal sealed class Problem
{
    private Problem(float[,] weight, float[,] activations)
    {
        Weight = weight;
        Activations = activations;
    }

    /// <summary>(rows, columns), every value representable in bf16.</summary>
    public float[,] Weight { get; }

    /// <summary>(tokens, columns), bf16-representable.</summary>
    public float[,] Activations { get; }

    public int Rows => Weight.GetLength(0);

    public int Columns => Weight.GetLength(1);

    public static Problem Random(int seed, int rows, int columns, int tokens, int latentRank = 0)
    {
        var random = new Random(seed);
        var rank = latentRank > 0 ? latentRank : Math.Max(2, columns / 4);
        var mixing = Gaussian(random, rank, columns, 1.0);
        var channelScale = Enumerable.Range(0, columns).Select(_ => Math.Exp(0.8 * Normal(random))).ToArray();
        var x = new float[tokens, columns];
        for (var t = 0; t < tokens; t++)
        {
            var latent = Enumerable.Range(0, rank).Select(_ => Normal(random)).ToArray();
            for (var c = 0; c < columns; c++)
            {
                var v = 0.3 * Normal(random);
                for (var k = 0; k < rank; k++)
                {
                    v += latent[k] * mixing[k, c];
                }

                x[t, c] = ToBf16((float)(v * channelScale[c]));
            }
        }

        var w = new float[rows, columns];
        for (var r = 0; r < rows; r++)
        {
            for (var c = 0; c < columns; c++)
            {
                // A few outliers, as real weights have, so scales and groups differ.
                var outlier = random.NextDouble() < 0.01 ? 6.0 : 1.0;
                w[r, c] = ToBf16((float)(0.02 * outlier * Normal(random)));
            }
        }

        return new Problem(w, x);
    }

    public Tensor WeightTensor(ScalarType dtype = ScalarType.BFloat16) => tensor(Weight).to_type(dtype);

    public Hessian BuildHessian(int batches = 3)
    {
        var hessian = Hessian.CreateEmpty(Columns, CPU);
        using var x = tensor(Activations).to_type(ScalarType.BFloat16);
        var tokens = Activations.GetLength(0);
        var step = (tokens + batches - 1) / batches;
        for (var start = 0; start < tokens; start += step)
        {
            using var batch = x.narrow(0, start, Math.Min(step, tokens - start));
            hessian.Accumulate(batch);
        }

        return hessian;
    }

    public static double[,] ToDouble(Tensor t)
    {
        using var cpu = t.to_type(ScalarType.Float64).cpu();
        var data = cpu.data<double>().ToArray();
        var (rows, columns) = ((int)t.shape[0], (int)t.shape[1]);
        var result = new double[rows, columns];
        Buffer.BlockCopy(data, 0, result, 0, data.Length * sizeof(double));
        return result;
    }

    public static int[,] ToInt(Tensor t)
    {
        using var cpu = t.to_type(ScalarType.Int32).cpu();
        var data = cpu.data<int>().ToArray();
        var result = new int[(int)t.shape[0], (int)t.shape[1]];
        Buffer.BlockCopy(data, 0, result, 0, data.Length * sizeof(int));
        return result;
    }

    private static float ToBf16(float value)
    {
        var bits = BitConverter.SingleToUInt32Bits(value);
        bits = (bits + 0x7FFF + ((bits >> 16) & 1)) & 0xFFFF0000;
        return BitConverter.UInt32BitsToSingle(bits);
    }

    private static double[,] Gaussian(Random random, int rows, int columns, double sigma)
    {
        var m = new double[rows, columns];
        for (var r = 0; r < rows; r++)
        {
            for (var c = 0; c < columns; c++)
            {
                m[r, c] = sigma * Normal(random);
            }
        }

        return m;
    }

    private static double Normal(Random random) =>
        Math.Sqrt(-2 * Math.Log(1 - random.NextDouble())) * Math.Cos(2 * Math.PI * random.NextDouble());
}

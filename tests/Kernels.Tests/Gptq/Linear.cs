namespace MoeQuant.Kernels.Tests.Gptq;

/// <summary>Small float64 linear algebra for the test references.</summary>
internal static class Linear
{
    /// <summary>Inverse of a symmetric positive definite n×n matrix given by <paramref name="entry"/>, through A = L Lᵀ.</summary>
    public static double[,] InverseSpd(int n, Func<int, int, double> entry)
    {
        var l = new double[n, n];
        for (var j = 0; j < n; j++)
        {
            var d = entry(j, j);
            for (var k = 0; k < j; k++)
            {
                d -= l[j, k] * l[j, k];
            }

            l[j, j] = Math.Sqrt(d);
            for (var i = j + 1; i < n; i++)
            {
                var s = entry(i, j);
                for (var k = 0; k < j; k++)
                {
                    s -= l[i, k] * l[j, k];
                }

                l[i, j] = s / l[j, j];
            }
        }

        // L⁻¹ by forward substitution, then A⁻¹ = L⁻ᵀ L⁻¹.
        var li = new double[n, n];
        for (var c = 0; c < n; c++)
        {
            li[c, c] = 1 / l[c, c];
            for (var i = c + 1; i < n; i++)
            {
                var s = 0.0;
                for (var k = c; k < i; k++)
                {
                    s -= l[i, k] * li[k, c];
                }

                li[i, c] = s / l[i, i];
            }
        }

        var inverse = new double[n, n];
        for (var i = 0; i < n; i++)
        {
            for (var j = 0; j <= i; j++)
            {
                var s = 0.0;
                for (var k = i; k < n; k++)
                {
                    s += li[k, i] * li[k, j];
                }

                inverse[i, j] = inverse[j, i] = s;
            }
        }

        return inverse;
    }

    /// <summary><c>tr(A H Aᵀ)</c> for A (rows, n) and H (n, n).</summary>
    public static double Trace(double[,] a, double[,] h)
    {
        var (rows, n) = (a.GetLength(0), a.GetLength(1));
        var total = 0.0;
        for (var r = 0; r < rows; r++)
        {
            for (var i = 0; i < n; i++)
            {
                var s = 0.0;
                for (var j = 0; j < n; j++)
                {
                    s += h[i, j] * a[r, j];
                }

                total += a[r, i] * s;
            }
        }

        return total;
    }
}

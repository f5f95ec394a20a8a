using MoeQuant.Kernels.Gptq;
using static TorchSharp.torch;

namespace MoeQuant.Kernels.Tests.Gptq;

public class HessianTests
{
    [Fact]
    public void Should_equal_two_over_n_times_the_sum_of_outer_products_when_accumulated_in_uneven_batches()
    {
        var problem = Problem.Random(7, 1, 12, tokens: 37);
        using var x = tensor(problem.Activations).to_type(ScalarType.BFloat16);
        using var hessian = Hessian.CreateEmpty(12, CPU);
        foreach (var (start, count) in new[] { (0, 20), (20, 1), (21, 16) })
        {
            using var batch = x.narrow(0, start, count);
            hessian.Accumulate(batch.view(1, count, 12));
        }

        Assert.Equal(37, hessian.Tokens);
        AssertClose(ExpectedHessian(problem.Activations, 0, 37), Problem.ToDouble(hessian.Matrix), 1e-6);
    }

    [Fact]
    public void Should_count_one_token_when_a_single_token_comes_as_a_vector_or_a_one_row_matrix()
    {
        // A parameterless squeeze turned a [1, d] input into [d] and miscounted tokens in another quantizer (GPTQ.md §10).
        var problem = Problem.Random(8, 1, 6, tokens: 2);
        using var x = tensor(problem.Activations);
        using var hessian = Hessian.CreateEmpty(6, CPU);
        using (var first = x[0])
        {
            hessian.Accumulate(first);
        }

        using (var second = x.narrow(0, 1, 1))
        {
            hessian.Accumulate(second);
        }

        Assert.Equal(2, hessian.Tokens);
        AssertClose(ExpectedHessian(problem.Activations, 0, 2), Problem.ToDouble(hessian.Matrix), 1e-6);
    }

    [Fact]
    public void Should_equal_one_stream_when_partials_with_different_token_counts_are_merged()
    {
        var problem = Problem.Random(9, 1, 10, tokens: 45);
        using var x = tensor(problem.Activations);
        var parts = new[] { (0, 5), (5, 40), (45, 0) }.Select(p =>
        {
            var h = Hessian.CreateEmpty(10, CPU);
            using var batch = x.narrow(0, p.Item1, p.Item2);
            h.Accumulate(batch);
            return h;
        }).ToList();

        using var merged = Hessian.Merge(parts);

        Assert.Equal(45, merged.Tokens);
        var expected = ExpectedHessian(problem.Activations, 0, 45);
        AssertClose(expected, Problem.ToDouble(merged.Matrix), 1e-6);
        // MoE-Quant's all-reduce AVG weighs the 5-token rank like the 40-token one; that figure is measurably off.
        using var equalWeights = (parts[0].Matrix + parts[1].Matrix) / 2;
        Assert.True(MaxRelativeDifference(expected, Problem.ToDouble(equalWeights)) > 1e-2);
        parts.ForEach(p => p.Dispose());
    }

    [Fact]
    public void Should_reject_activations_when_their_width_differs()
    {
        using var hessian = Hessian.CreateEmpty(8, CPU);
        using var x = ones(3, 7);

        Assert.Throws<ArgumentException>(() => hessian.Accumulate(x));
        Assert.Equal(0, hessian.Tokens);
    }

    private static double[,] ExpectedHessian(float[,] activations, int start, int count)
    {
        var columns = activations.GetLength(1);
        var h = new double[columns, columns];
        for (var t = start; t < start + count; t++)
        {
            for (var i = 0; i < columns; i++)
            {
                for (var j = 0; j < columns; j++)
                {
                    h[i, j] += 2.0 / count * activations[t, i] * activations[t, j];
                }
            }
        }

        return h;
    }

    private static double MaxRelativeDifference(double[,] expected, double[,] actual)
    {
        var scale = expected.Cast<double>().Max(Math.Abs);
        return expected.Cast<double>().Zip(actual.Cast<double>(), (e, a) => Math.Abs(e - a) / scale).Max();
    }

    private static void AssertClose(double[,] expected, double[,] actual, double tolerance) =>
        Assert.True(MaxRelativeDifference(expected, actual) < tolerance, $"difference {MaxRelativeDifference(expected, actual):E2}");
}

using MoeQuant.Model.Calibration;

namespace MoeQuant.Model.Tests.Calibration;

/// <summary>Expected values printed by numpy 1.24.2: <c>np.random.default_rng(seed).permutation(n)</c>.</summary>
public class NumpyGeneratorTests
{
    [Theory]
    [InlineData(10, 0ul, new[] { 4, 6, 2, 7, 3, 5, 9, 0, 8, 1 })]
    [InlineData(10, 42ul, new[] { 5, 6, 0, 7, 3, 2, 4, 9 })]
    [InlineData(1000, 0ul, new[] { 459, 206, 222, 162, 711, 814, 350, 890 })]
    [InlineData(114000, 0ul, new[] { 66336, 1278, 62696, 95591, 2134, 80101, 67086, 60855 })]
    [InlineData(5, 123456789012ul, new[] { 0, 4, 3, 2, 1 })]
    public void Should_permute_exactly_as_numpy_default_rng(int n, ulong seed, int[] prefix)
    {
        var permutation = new NumpyGenerator(seed).Permutation(n);
        Assert.Equal(prefix, permutation[..prefix.Length]);
        Assert.Equal(Enumerable.Range(0, n), permutation.Order());
    }
}

using MoeQuant.Kernels.Gptq;
using static TorchSharp.torch;

namespace MoeQuant.Kernels.Tests.Gptq;

/// <summary>
/// <see cref="SymmetricQuadraticForms"/>: a·H·aᵀ per row from H's lower block triangle, against the full product
/// (A·H)∘A summed over columns, in fp64 on the CPU.
/// </summary>
public class SymmetricQuadraticFormsTests
{
    [Theory]
    [InlineData(200, 64)]  // a narrow last block
    [InlineData(256, 64)]  // whole blocks
    [InlineData(50, 512)]  // one block: only the halved diagonal block
    public void Should_equal_the_full_products_row_sums(int columns, int block)
    {
        using var scope = NewDisposeScope();
        var generator = new TorchSharp.torch.Generator(17);
        var a = randn([3, 40, columns], ScalarType.Float64, generator: generator);
        var x = randn([3, columns, 2 * columns], ScalarType.Float64, generator: generator);
        var h = x.bmm(x.transpose(1, 2));
        var expected = a.bmm(h).mul(a).sum(2);

        var halved = h.clone();
        SymmetricQuadraticForms.HalveDiagonalBlocks(halved, block);
        var sums = SymmetricQuadraticForms.RowSums(a, halved, block);

        // fp32 sums of fp64 products: relative to the largest row's form.
        var error = (sums.to_type(ScalarType.Float64) - expected).abs().max().item<double>();
        Assert.True(error < 1e-6 * expected.abs().max().item<double>(), $"max error {error}");
    }

    [Fact]
    public void Should_read_only_the_lower_block_triangle()
    {
        using var scope = NewDisposeScope();
        const int columns = 192;
        const int block = 64;
        var generator = new TorchSharp.torch.Generator(5);
        var a = randn([2, 8, columns], ScalarType.Float64, generator: generator);
        var x = randn([2, columns, columns], ScalarType.Float64, generator: generator);
        var h = x.bmm(x.transpose(1, 2));
        var expected = a.bmm(h).mul(a).sum(2);

        SymmetricQuadraticForms.HalveDiagonalBlocks(h, block);
        // Blocks right of the diagonal blocks are never read: poison them.
        for (var first = 0; first + block < columns; first += block)
        {
            h.narrow(1, first, block).narrow(2, first + block, columns - first - block).fill_(double.NaN);
        }

        var sums = SymmetricQuadraticForms.RowSums(a, h, block).to_type(ScalarType.Float64);

        Assert.True(sums.isfinite().all().item<bool>());
        Assert.True(sums.allclose(expected, rtol: 1e-6));
    }
}

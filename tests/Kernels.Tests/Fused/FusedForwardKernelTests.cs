using MoeQuant.Kernels.Cuda;
using MoeQuant.Kernels.Fused;
using TorchSharp;
using static TorchSharp.torch;

namespace MoeQuant.Kernels.Tests.Fused;

/// <summary>
/// The fused forward kernels against the tensor operations they replace (transformers' order of roundings): equal
/// where no reduction is involved, within one bf16 rounding where the order of an f32 sum differs.
/// </summary>
public sealed class FusedForwardKernelTests
{
    [Fact]
    public void Should_leave_cpu_tensors_to_the_reference_operations()
    {
        using var rows = randn([4, 64], ScalarType.BFloat16);
        using var weight = ones([64], ScalarType.BFloat16);

        Assert.False(FusedRmsNorm.Applies(rows, weight));
        Assert.False(FusedSiluMul.Applies(rows));
        Assert.False(FusedMoeCombine.Applies(rows, null));
        Assert.False(CublasLinear.Applies(rows, rows));
    }

    [GpuFact]
    public void Should_norm_strided_rows_as_the_tensor_operations_do()
    {
        using var scope = NewDisposeScope();
        var cuda = new Device(DeviceType.CUDA, 0);
        var wide = randn([300, 2112], ScalarType.BFloat16, cuda).mul_(3);
        var x = wide.narrow(1, 1536, 512);
        var weight = randn([512], ScalarType.BFloat16, cuda);

        var xf = x.to_type(ScalarType.Float32);
        var normed = xf.mul(xf.pow(2).mean([-1L], keepdim: true).add(1e-6).rsqrt()).to_type(ScalarType.BFloat16);
        var expected = weight.mul(normed);

        Assert.True(FusedRmsNorm.Applies(x, weight));
        var ulps = Ulps(FusedRmsNorm.Apply(x, weight, 1e-6), expected);
        Assert.True(ulps <= 1, $"{ulps} bf16 ulps apart");
    }

    [GpuFact]
    public void Should_gate_exactly_as_silu_then_multiply()
    {
        using var scope = NewDisposeScope();
        var gateUp = randn([333, 2 * 2048], ScalarType.BFloat16, new Device(DeviceType.CUDA, 0)).mul_(4);
        var expected = nn.functional.silu(gateUp.narrow(1, 0, 2048)).mul_(gateUp.narrow(1, 2048, 2048));

        Assert.True(FusedSiluMul.Applies(gateUp));
        Assert.Equal(0, Ulps(FusedSiluMul.Apply(gateUp), expected));
    }

    [GpuFact]
    public void Should_combine_sorted_expert_rows_as_the_unsorted_f32_sum_does()
    {
        using var scope = NewDisposeScope();
        var cuda = new Device(DeviceType.CUDA, 0);
        const int Tokens = 257;
        const int K = 8;
        var rows = randn([Tokens * K, 7168], ScalarType.BFloat16, cuda);
        var order = randperm(Tokens * K, ScalarType.Int64, cuda);
        var weights = rand([Tokens, K], ScalarType.Float32, cuda);
        var shared = randn([Tokens, 7168], ScalarType.BFloat16, cuda);

        var bySlot = empty_like(rows).index_copy_(0, order, rows).view(Tokens, K, 7168);
        var expected = bySlot.mul(weights.unsqueeze(-1)).sum(1).to_type(ScalarType.BFloat16).add(shared);
        var slotRow = empty_like(order).index_copy_(0, order, arange(Tokens * K, ScalarType.Int64, cuda));

        Assert.True(FusedMoeCombine.Applies(rows, shared));
        var ulps = Ulps(FusedMoeCombine.Apply(rows, slotRow, weights, shared), expected);
        Assert.True(ulps <= 2, $"{ulps} bf16 ulps apart");
    }

    [GpuFact]
    public void Should_multiply_bf16_operands_into_f32_as_the_f32_product_does()
    {
        using var scope = NewDisposeScope();
        var cuda = new Device(DeviceType.CUDA, 0);
        var input = randn([1000, 7168], ScalarType.BFloat16, cuda);
        var weight = randn([256, 7168], ScalarType.BFloat16, cuda).mul_(0.02);

        var expected = nn.functional.linear(input.to_type(ScalarType.Float32), weight.to_type(ScalarType.Float32));
        var relative = (CublasLinear.ToFloat32(input, weight) - expected).abs().max().item<float>() / expected.abs().max().item<float>();
        Assert.True(relative < 1e-5, $"relative error {relative:E2}");
    }

    // Largest distance in bf16 steps (units in the last place of the expected value) between two bf16 tensors.
    private static double Ulps(Tensor actual, Tensor expected)
    {
        using var scope = NewDisposeScope();
        var e = expected.to_type(ScalarType.Float32);
        var difference = actual.to_type(ScalarType.Float32).sub(e).abs();
        // bf16 keeps 8 significant bits: a step is 2^(exponent − 7).
        var step = pow(2.0, e.abs().clamp_min(1e-30).log2().floor().sub(7));
        return difference.div(step).max().item<float>();
    }
}

using MoeQuant.Kernels.Gptq;
using MoeQuant.Kernels.Quantization;
using TorchSharp;
using static TorchSharp.torch;
using GptqEngine = MoeQuant.Kernels.Gptq.Gptq;

namespace MoeQuant.Kernels.Tests.Gptq;

/// <summary>The batched engine's CUDA paths (fused MSE search, fused loop over tied weights) against their references.</summary>
public class BatchGpuTests
{
    [GpuFact]
    public void Should_pick_the_reference_mse_scales_when_the_search_runs_fused()
    {
        var cuda = new Device(DeviceType.CUDA, 0);
        using var weight = Problem.Random(900, 64, 256, tokens: 1).WeightTensor(ScalarType.Float32).to(cuda);
        using var values = weight.view(64, 2, 128);
        foreach (var (symmetric, dtype, rounding) in new[] { (true, ScalarType.BFloat16, CodeRounding.HalfUp), (false, ScalarType.Float16, CodeRounding.HalfEven), (false, ScalarType.Float32, CodeRounding.HalfUp) })
        {
            var spec = new QuantizerSpec(4, symmetric, ScaleSearch.Mse, dtype, rounding);
            var (scale, zero) = GroupQuantizer.Fit(values, spec);
            var (referenceScale, referenceZero) = GroupQuantizer.FitReference(values, spec);

            Assert.Equal(0, zero.ne(referenceZero).sum().item<long>());
            Assert.Equal(0, scale.ne(referenceScale).sum().item<long>());
        }
    }

    [GpuFact]
    public void Should_agree_with_single_calls_up_to_a_few_codes_when_batched_on_cuda()
    {
        var cuda = new Device(DeviceType.CUDA, 0);
        var hessians = new List<Hessian>();
        var weights = new List<Tensor>();
        var items = new List<GptqBatchItem>();
        for (var e = 0; e < 4; e++)
        {
            var problem = Problem.Random(910 + e, 32, 256, tokens: 512);
            using var cpu = problem.BuildHessian();
            var hessian = e == 3 ? Hessian.CreateEmpty(256, cuda) : Hessian.FromMatrix(cpu.Matrix.to(cuda), cpu.Tokens);
            hessians.Add(hessian);
            var gate = problem.WeightTensor().to(cuda);
            var up = Problem.Random(920 + e, 32, 256, tokens: 1).WeightTensor().to(cuda);
            weights.AddRange([gate, up]);
            items.Add(new GptqBatchItem(hessian, [new GptqWeight($"e{e}.gate", gate), new GptqWeight($"e{e}.up", up)]));
        }

        try
        {
            foreach (var options in new[] { new GptqOptions { RelDamp = 0.1 }, new GptqOptions { RelDamp = 0.1, Order = QuantizationOrder.Activation, Scale = ScaleSearch.Mse } })
            {
                var batch = GptqEngine.QuantizeBatch(items, options);
                var single = items.Select(i => GptqEngine.QuantizeTied(i.Weights, i.Hessian, options)).ToList();
                var pairs = batch.SelectMany(r => r).Zip(single.SelectMany(r => r)).ToList();
                foreach (var (b, s) in pairs)
                {
                    Assert.Equal((s.Method, s.Issues, s.DeadColumns), (b.Method, b.Issues, b.DeadColumns));
                    Assert.True(b.Codes.ne(s.Codes).to_type(ScalarType.Float64).mean().item<double>() < 1e-3, $"{b.Unit}: codes differ");
                    Assert.True(s.GptqLoss is null ? b.GptqLoss is null : Math.Abs(b.GptqLoss!.Value / s.GptqLoss.Value - 1) < 1e-3, $"{b.Unit}: losses differ");
                }

                pairs.ForEach(p => { p.First.Dispose(); p.Second.Dispose(); });
            }
        }
        finally
        {
            hessians.ForEach(h => h.Dispose());
            weights.ForEach(w => w.Dispose());
        }
    }
}

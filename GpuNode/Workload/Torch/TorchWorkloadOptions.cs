using MoeQuant.Kernels.Gptq;
using MoeQuant.Model.Config;
using static TorchSharp.torch;

namespace MoeQuant.GpuNode.Workload.Torch;

/// <summary>What <see cref="TorchLayerWorkload"/> quantizes and how.</summary>
/// <param name="Config">The model's config.</param>
/// <param name="CheckpointFolder">The checkpoint's folder (FP8 or bf16 safetensors, single or sharded).</param>
/// <param name="Samples">Calibration samples, token ids, each at least 2 long.</param>
/// <param name="Shards">Calibration shards: the samples are split into this many contiguous runs of about equal token
/// count. A property of the run, not of the devices, so that any device count computes the same sums.</param>
/// <param name="DType">Compute dtype of the forward and of the scales: Float16, BFloat16 or Float32.</param>
/// <param name="Gptq">GPTQ settings; RelDamp is overridden per request by the retry policy.</param>
/// <param name="QuantizeOnlyExperts">Quantize only routed experts (MoE-Quant's <c>--quantize_only_experts</c>).</param>
/// <param name="TieGptqHandles">Quantize the linears of one unit with one act-order permutation and factorization.</param>
/// <param name="OffloadActivations">Keep shards' activations in host memory between steps.</param>
/// <param name="ProfilePhases">Time the Hessian sums apart from the calibration forward (synchronizes the device around
/// every sum, which costs a little overlap).</param>
public sealed record TorchWorkloadOptions(
    DeepseekV3Config Config,
    string CheckpointFolder,
    IReadOnlyList<int[]> Samples,
    int Shards,
    ScalarType DType,
    GptqOptions Gptq,
    bool QuantizeOnlyExperts,
    bool TieGptqHandles,
    bool OffloadActivations,
    bool ProfilePhases);

using MoeQuant.Messages;

namespace MoeQuant.GpuNode.Workload;

/// <summary>
/// The numerical side of a quantization run, behind one seam so that the actors (plan, supervision, journal) do not
/// depend on how the maths is done. The real implementation is the DeepSeek-V3 forward with activation capture, the
/// GPTQ engine and the state writer; tests use a small deterministic fake. Every method except <see cref="Shape"/>
/// runs on a device thread (<see cref="Execution.IGpuExecutor"/>) and may throw the typed device exceptions of
/// Kernels (out of memory, corrupted context, kernel failure).
/// </summary>
public interface ILayerWorkload
{
    /// <summary>Layers, shards and units of the run.</summary>
    RunShape Shape { get; }

    /// <summary>Reads layer <paramref name="layer"/>'s weights onto <paramref name="device"/>.</summary>
    ILayerWeights LoadLayer(string device, int layer);

    /// <summary>The committed input of <paramref name="layer"/> for one shard: the embedded calibration samples for
    /// layer 0, else what <see cref="WriteShardAsync"/> wrote for the layer before.</summary>
    IActivations ReadInput(string device, int layer, int shard);

    /// <summary>Calibration forward of one shard with the original weights: one entry per unit of
    /// <paramref name="units"/> (a calibration wave), in <see cref="RunShape.Units"/> order, holding Σ xxᵀ (fp32,
    /// unnormalised) over the tokens that reach the unit. Work that only other units need may be skipped.</summary>
    IReadOnlyList<UnitCalibration> Calibrate(ILayerWeights weights, IActivations input, IReadOnlySet<UnitId> units);

    /// <summary>Adds <paramref name="part"/> into <paramref name="sum"/> (null for the first) on
    /// <paramref name="device"/>, the owner's, and returns the sum. Takes ownership of <paramref name="part"/>: it
    /// becomes the sum or is disposed.</summary>
    IHessian Accumulate(string device, IHessian? sum, IHessian part);

    /// <summary>GPTQ for a batch of units (one result per request, in order); many units may share one launch.</summary>
    IReadOnlyList<IQuantizedUnit> Quantize(ILayerWeights weights, IReadOnlyList<QuantizeRequest> batch);

    /// <summary>Writes a unit's quantized state file (temp name, fsync, rename) and returns its SHA-256 (hex). Called on
    /// the device thread, which it leaves as soon as the results are in host memory (what only the state file needed is
    /// freed then, and the rest may leave the device); the disk write finishes on the thread pool.</summary>
    Task<string> WriteUnitAsync(IQuantizedUnit unit);

    /// <summary>Runs one shard through the block with the quantized weights (units missing from
    /// <paramref name="quantized"/> keep their original weights) and returns the next layer's input.</summary>
    IActivations ForwardQuantized(ILayerWeights weights, IActivations input, IReadOnlyDictionary<UnitId, IQuantizedUnit> quantized);

    /// <summary>Writes the next layer's input of one shard durably and returns its SHA-256 (hex). Called on the device
    /// thread, which it leaves once the activations are copied to host memory; the disk write finishes on the thread
    /// pool, so that the device goes on with the next shard.</summary>
    Task<string> WriteShardAsync(int layer, int shard, IActivations output);
}

/// <summary>A layer's weights on one device.</summary>
public interface ILayerWeights : IDisposable
{
    /// <summary>The layer.</summary>
    int Layer { get; }
}

/// <summary>One shard's hidden states at the input of some layer, on a device or offloaded.</summary>
public interface IActivations : IDisposable;

/// <summary>A (partial or summed) Hessian of one unit.</summary>
public interface IHessian : IDisposable;

/// <summary>A unit's quantized weights (codes, scales, zeros, g_idx) and its losses.</summary>
public interface IQuantizedUnit : IDisposable
{
    /// <summary>The unit.</summary>
    UnitId Unit { get; }

    /// <summary>GPTQ proxy loss.</summary>
    double Loss { get; }

    /// <summary>Proxy loss of round-to-nearest with the same scales.</summary>
    double RtnLoss { get; }

    /// <summary>Hessian issues met while quantizing.</summary>
    QuantIssues Issues { get; }
}

/// <summary>One unit's share of a shard's calibration forward.</summary>
/// <param name="Unit">The unit.</param>
/// <param name="Hessian">Σ xxᵀ over the shard's tokens that reach the unit; null when none did.</param>
/// <param name="Tokens">How many tokens that is.</param>
public sealed record UnitCalibration(UnitId Unit, IHessian? Hessian, long Tokens);

/// <summary>One unit to quantize.</summary>
/// <param name="Unit">The unit.</param>
/// <param name="Hessian">Its reduced Hessian (sum over every shard); null when it saw no tokens.</param>
/// <param name="Tokens">Tokens in the sum (the normaliser N of H = 2/N Σ xxᵀ).</param>
/// <param name="RelDamp">Relative damping for this try.</param>
public sealed record QuantizeRequest(UnitId Unit, IHessian? Hessian, long Tokens, double RelDamp);

using System.ComponentModel.DataAnnotations;

namespace MoeQuant.Coordinator.Hosting;

/// <summary>Section <c>MoeQuant:Model</c>: what to quantize.</summary>
public sealed record ModelOptions
{
    public const string Section = "MoeQuant:Model";

    /// <summary><c>--model-name-or-path</c>: checkpoint folder; empty for the built-in tiny model.</summary>
    public string? Path { get; init; }

    /// <summary><c>--dtype</c>: float16, bfloat16 or float32: the forward's compute dtype and the scales' dtype. Default
    /// bfloat16, DeepSeek-V3's own dtype and what MoE-Quant's README runs: its parser's float16 default is reachable only
    /// by omitting the flag, because of its "float16s" typo (GPTQ.md §2.1).</summary>
    public string Dtype { get; init; } = "bfloat16";
}

/// <summary>Section <c>MoeQuant:Calibration</c>: the calibration data.</summary>
public sealed record CalibrationOptions
{
    public const string Section = "MoeQuant:Calibration";

    /// <summary><c>--dataset-name-or-path</c>: a named dataset or a local folder; empty for the built-in model's data.</summary>
    public string? Dataset { get; init; }

    [Range(1, 1 << 20, ErrorMessage = "--num-calibration-samples must be between 1 and 1048576")]
    public int NumCalibrationSamples { get; init; } = 128;

    [Range(1, 1 << 20, ErrorMessage = "--max-sequence-length must be between 1 and 1048576")]
    public int MaxSequenceLength { get; init; } = 8192;

    /// <summary><c>--seed</c>: sampling seed of the calibration data.</summary>
    public int Seed { get; init; }

    /// <summary><c>--offload-activations</c>: keep inter-layer activations off the device.</summary>
    public bool OffloadActivations { get; init; }
}

/// <summary>Section <c>MoeQuant:Gptq</c>: the quantizer (GPTQ spec §2.1 defaults).</summary>
public sealed record GptqSettings
{
    public const string Section = "MoeQuant:Gptq";

    public int Bits { get; init; } = 4;

    /// <summary><c>--group-size</c>: columns per scale; null for one group over all input columns.</summary>
    [Range(1, int.MaxValue, ErrorMessage = "--group-size must be a positive number of columns (omit it for per-channel scales)")]
    public int? GroupSize { get; init; }

    [Range(0.0, 100.0, MinimumIsExclusive = true, ErrorMessage = "--rel-damp must be positive and at most 100")]
    public double RelDamp { get; init; } = 0.01;

    public bool Sym { get; init; }

    [Range(1, int.MaxValue, ErrorMessage = "--block-size must be positive")]
    public int BlockSize { get; init; } = 128;

    public string QuantizationOrder { get; init; } = "default";

    public string QuantizationScale { get; init; } = "absmax";

    /// <summary><c>--method</c>: gptq, or rtn (round-to-nearest with the same scales, every unit; the baseline of the
    /// quality table).</summary>
    public string Method { get; init; } = "gptq";

    public bool QuantizeOnlyExperts { get; init; }

    public bool TieGptqHandles { get; init; }
}

/// <summary>Section <c>MoeQuant:Run</c>: where and how this run works.</summary>
public sealed record RunOptions
{
    public const string Section = "MoeQuant:Run";

    /// <summary><c>--save-dir</c>; empty for <c>./quantized/&lt;model&gt;-w&lt;bits&gt;[g&lt;group&gt;]</c>.</summary>
    public string? SaveDir { get; init; }

    public bool Resume { get; init; }

    public bool Overwrite { get; init; }

    /// <summary><c>--skip-eval</c>: no held-out perplexity before and after (measured only for the built-in model).</summary>
    public bool SkipEval { get; init; }

    /// <summary><c>--devices</c>: cpu, cpu:N, 0-7, 0,2; empty for every CUDA device, or the CPU when there is none.</summary>
    public string? Devices { get; init; }

    public string ExportFormat { get; init; } = "compressed-tensors";

    /// <summary>Calibration shards: the unit of data parallelism and of Hessian summation order. Part of the run's
    /// identity (the sums' order shapes the bits), not of its devices.</summary>
    [Range(1, 4096, ErrorMessage = "MoeQuant:Run:CalibrationShards must be between 1 and 4096")]
    public int CalibrationShards { get; init; } = 8;

    /// <summary>Units per GPTQ launch on one device.</summary>
    [Range(1, 4096, ErrorMessage = "MoeQuant:Run:MaxQuantizeBatch must be between 1 and 4096")]
    public int MaxQuantizeBatch { get; init; } = 32;

    /// <summary><c>--hessian-memory-gb</c>: fp32 Hessian bytes (GiB) one calibration wave may hold. A layer whose units'
    /// Hessians exceed it (a DeepSeek-V3 MoE layer needs about 57 GB) is calibrated and quantized in several waves, each
    /// re-running the calibration forward for its own units; on the CPU the output does not depend on it. A wave that runs
    /// out of device memory cuts the budget for the rest of the run (<c>Planning.WaveBudget</c>), and the journal keeps the
    /// cut for a resume with the same value.</summary>
    [Range(1e-6, 1e6, ErrorMessage = "MoeQuant:Run:HessianMemoryGb (--hessian-memory-gb) must be between 1e-6 and 1e6 GiB")]
    public double HessianMemoryGb { get; init; } = 6;

    /// <summary><c>--profile-phases</c>: time the Hessian sums apart from the calibration forward in
    /// <c>report/timings.json</c> (synchronizes the device around every sum).</summary>
    public bool ProfilePhases { get; init; }

    /// <summary>Tries of one layer (a lost device or failed actor makes a new try) before the run stops. A re-plan in
    /// smaller waves after the device ran out of memory is not a failed try.</summary>
    [Range(1, 100, ErrorMessage = "MoeQuant:Run:MaxLayerAttempts must be between 1 and 100")]
    public int MaxLayerAttempts { get; init; } = 4;

    /// <summary>Factor on --rel-damp for the last try of a unit whose kernel keeps failing.</summary>
    [Range(1.0, 1e6, ErrorMessage = "MoeQuant:Run:DampingGrowth must be at least 1")]
    public double DampingGrowth { get; init; } = 10;
}

/// <summary>Section <c>MoeQuant:Cluster</c>: where this process's remoting listens.</summary>
public sealed record ClusterSettings
{
    public const string Section = "MoeQuant:Cluster";

    /// <summary>Loopback only: other addresses need TLS and a cluster secret, which this build does not configure.</summary>
    public string Host { get; init; } = "127.0.0.1";

    /// <summary>0 picks a free port.</summary>
    [Range(0, 65535, ErrorMessage = "MoeQuant:Cluster:Port must be between 0 and 65535")]
    public int Port { get; init; }
}

namespace MoeQuant.Model.Export;

/// <summary>What <see cref="CheckpointExporter.Export"/> turns into a loadable checkpoint.</summary>
public sealed record ExportRequest
{
    /// <summary>transformers' default shard limit ("5GB").</summary>
    public const long DefaultMaxShardBytes = 5_000_000_000;

    /// <summary>The original checkpoint folder the run quantized.</summary>
    public required string ModelFolder { get; init; }

    /// <summary>Every unit state file of the run; units left in original weights have none.</summary>
    public required IReadOnlyList<string> UnitStateFiles { get; init; }

    /// <summary>Where config.json and the shards go (created if missing).</summary>
    public required string OutputFolder { get; init; }

    /// <summary>What moequant.json records about the run.</summary>
    public required ExportProvenance Provenance { get; init; }

    public ExportFormat Format { get; init; } = ExportFormat.CompressedTensors;

    /// <summary>Keep the MTP layers, unquantized (BF16) and listed as ignored, instead of dropping them.</summary>
    public bool KeepMtp { get; init; }

    /// <summary>Replace a checkpoint already in <see cref="OutputFolder"/>.</summary>
    public bool Overwrite { get; init; }

    /// <summary>Most tensor bytes per shard; a tensor larger than this gets a shard of its own.</summary>
    public long MaxShardBytes { get; init; } = DefaultMaxShardBytes;

    /// <summary>
    /// Tensors made and written at once; every core by default. One streams the shards in order on the calling thread;
    /// any count writes the same bytes.
    /// </summary>
    public int Threads { get; init; } = Environment.ProcessorCount;

    /// <summary>The run's relative damping, which GPTQ v1 records as <c>damp_percent</c>.</summary>
    public double RelDamp { get; init; } = 0.01;
}

/// <summary>Where an export came from, for moequant.json.</summary>
/// <param name="MoeQuantVersion">The version that wrote it.</param>
/// <param name="ModelHash">Fingerprint of the original checkpoint (config and tensor headers).</param>
/// <param name="Dataset">The calibration dataset (empty for a model's built-in samples).</param>
/// <param name="RunFlags">The run's flags as run.json holds them.</param>
public sealed record ExportProvenance(string MoeQuantVersion, string ModelHash, string Dataset, IReadOnlyDictionary<string, string> RunFlags);

/// <summary>What an export wrote.</summary>
/// <param name="Folder">The output folder.</param>
/// <param name="Format">The format.</param>
/// <param name="Scheme">The weight scheme of every quantized linear.</param>
/// <param name="QuantizedLinears">How many linears are stored quantized.</param>
/// <param name="Unquantized">The ignore list and the linears that fell back to their original weights.</param>
/// <param name="Files">Every file written, full paths, in writing order (moequant.json last).</param>
/// <param name="Notes">What the user should know (the MTP layer dropped or kept, fallbacks).</param>
/// <param name="Warnings">What will not load somewhere (vLLM limits).</param>
public sealed record ExportResult(
    string Folder,
    ExportFormat Format,
    QuantizationScheme Scheme,
    int QuantizedLinears,
    UnquantizedModules Unquantized,
    IReadOnlyList<string> Files,
    IReadOnlyList<string> Notes,
    IReadOnlyList<string> Warnings);

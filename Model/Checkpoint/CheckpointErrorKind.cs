namespace MoeQuant.Model.Checkpoint;

/// <summary>What is wrong with a checkpoint; the safetensors kinds mirror the official reader's errors (FORMATS.md §1.3).</summary>
public enum CheckpointErrorKind
{
    /// <summary>The file or folder does not exist or cannot be read.</summary>
    NotFound,

    /// <summary>Shorter than the 8-byte header length.</summary>
    HeaderTooSmall,

    /// <summary>Header length above 100,000,000 bytes.</summary>
    HeaderTooLarge,

    /// <summary>8 + header length is beyond the end of the file.</summary>
    InvalidHeaderLength,

    /// <summary>Not UTF-8, not a JSON object, a wrong field type, an unknown dtype or a duplicate name.</summary>
    InvalidHeader,

    /// <summary>Tensor byte ranges that do not tile the data buffer from 0 (gaps, overlaps, reversed ranges).</summary>
    InvalidOffset,

    /// <summary>Element count × element size overflows 64 bits.</summary>
    ValidationOverflow,

    /// <summary>The byte range does not match shape × dtype.</summary>
    TensorInvalidInfo,

    /// <summary>The data buffer is shorter or longer than the last tensor's end (truncated file or trailing bytes).</summary>
    IncompleteBuffer,

    /// <summary>model.safetensors.index.json is not the expected JSON.</summary>
    InvalidIndex,

    /// <summary>A shard named by the index does not exist.</summary>
    MissingShard,

    /// <summary>A shard path leaves the model folder (.., an absolute path, or a symlink that resolves outside).</summary>
    ShardOutsideFolder,

    /// <summary>One tensor name in two shards.</summary>
    DuplicateTensor,

    /// <summary>The index and the shards disagree on where a tensor is, or a shard holds a tensor the index omits.</summary>
    IndexMismatch,

    /// <summary>A tensor that was asked for does not exist.</summary>
    TensorNotFound,

    /// <summary>A tensor whose shape is not the one config.json implies.</summary>
    ShapeMismatch,

    /// <summary>An FP8 weight without its <c>weight_scale_inv</c>, or a scale of the wrong dtype or shape.</summary>
    InvalidFp8Scale,

    /// <summary>A quantized weight (state or packed) that does not fit its scheme: a value out of range, a missing or
    /// misshapen companion tensor, zero points or groups that contradict the scheme.</summary>
    InvalidQuantization,
}

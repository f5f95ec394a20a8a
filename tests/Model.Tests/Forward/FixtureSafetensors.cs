using System.Buffers.Binary;
using System.Runtime.InteropServices;
using System.Text.Json;
using static TorchSharp.torch;

namespace MoeQuant.Model.Tests.Forward;

/// <summary>
/// A minimal safetensors reader for the small HF fixtures (F32, BF16, I64, F8_E4M3), with FP8 block dequantization.
/// Test-only stand-in for the checkpoint reader of Model/Checkpoint, which is being finished on another branch.
/// </summary>
internal static class FixtureSafetensors
{
    /// <summary>Every tensor of the file, on the CPU: F8_E4M3 as uint8 codes, BF16 as bf16, F32, I64.</summary>
    public static Dictionary<string, Tensor> Load(string path)
    {
        var bytes = File.ReadAllBytes(path);
        var headerLength = checked((int)BinaryPrimitives.ReadUInt64LittleEndian(bytes));
        using var header = JsonDocument.Parse(bytes.AsMemory(8, headerLength));
        var data = bytes.AsSpan(8 + headerLength);
        var tensors = new Dictionary<string, Tensor>();
        foreach (var entry in header.RootElement.EnumerateObject())
        {
            if (entry.Name == "__metadata__")
            {
                continue;
            }

            var shape = entry.Value.GetProperty("shape").EnumerateArray().Select(d => d.GetInt64()).ToArray();
            var offsets = entry.Value.GetProperty("data_offsets").EnumerateArray().Select(o => o.GetInt32()).ToArray();
            var raw = data[offsets[0]..offsets[1]];
            var t = entry.Value.GetProperty("dtype").GetString() switch
            {
                "F32" => tensor(MemoryMarshal.Cast<byte, float>(raw).ToArray(), shape),
                "I64" => tensor(MemoryMarshal.Cast<byte, long>(raw).ToArray(), shape),
                "BF16" => tensor(MemoryMarshal.Cast<byte, ushort>(raw).ToArray().Select(b => BitConverter.Int32BitsToSingle(b << 16)).ToArray(), shape)
                    .to_type(ScalarType.BFloat16),
                "F8_E4M3" => tensor(raw.ToArray(), shape),
                var other => throw new NotSupportedException($"{path}: {entry.Name} has dtype {other}"),
            };
            tensors[entry.Name] = t.DetachFromDisposeScope();
        }

        return tensors;
    }

    /// <summary>FP8 E4M3 codes [rows, cols] times their 128×128 block scales, multiplied in f32 (FORMATS.md §2.5, §2.6).</summary>
    public static Tensor Dequantize(Tensor codes, Tensor scaleInv)
    {
        using var scope = NewDisposeScope();
        var (rows, cols) = (codes.shape[0], codes.shape[1]);
        var values = tensor(DecodeTable).index_select(0, codes.reshape(-1).to_type(ScalarType.Int64)).view(rows, cols);
        var scales = scaleInv.repeat_interleave(128, 0).narrow(0, 0, rows).repeat_interleave(128, 1).narrow(1, 0, cols);
        return values.mul(scales).MoveToOuterDisposeScope();
    }

    private static readonly float[] DecodeTable = [.. Enumerable.Range(0, 256).Select(b => DecodeE4M3((byte)b))];

    private static float DecodeE4M3(byte b)
    {
        var sign = (b & 0x80) != 0 ? -1f : 1f;
        var exponent = (b >> 3) & 0xF;
        var mantissa = b & 7;
        return exponent switch
        {
            15 when mantissa == 7 => float.NaN,
            0 => sign * MathF.ScaleB(mantissa / 8f, -6),
            _ => sign * MathF.ScaleB(1f + (mantissa / 8f), exponent - 7),
        };
    }
}

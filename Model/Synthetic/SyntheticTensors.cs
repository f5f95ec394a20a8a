using System.Buffers.Binary;
using System.Collections.Immutable;
using MoeQuant.Model.Checkpoint;
using MoeQuant.Model.Config;

namespace MoeQuant.Model.Synthetic;

/// <summary>
/// Random values for every tensor of a config (<see cref="DeepseekV3Config.ExpectedTensors"/>), chosen so that a
/// forward pass is sane: activations keep their scale through the layers and the router spreads tokens over experts
/// and groups. Each tensor draws from a stream of its own (seed and name), by position, so its bytes depend on
/// neither the thread count nor the order of writing.
/// <list type="bullet">
/// <item>Linear weights: N(0, 1/fan_in). As FP8 (E4M3 codes of a normal of deviation 100, never NaN) times a
/// <c>weight_scale_inv</c> per 128×128 block of 1/(√fan_in · 100) × a factor uniform in [0.75, 1.25]; as
/// BF16/F16/F32 directly. The router's <c>mlp.gate.weight</c>, <c>lm_head</c> and the MTP projections follow the same
/// rule, so router logits are about N(0, 1) and differ from token to token.</item>
/// <item>Embeddings: N(0, 1), so the residual stream starts at unit scale.</item>
/// <item>RMSNorm weights: 1 ± 0.1 uniform. <c>e_score_correction_bias</c> and other vectors: N(0, 0.01²).</item>
/// </list>
/// </summary>
public static class SyntheticTensors
{
    private const double EmbeddingStd = 1.0;
    private const double SmallStd = 0.01;
    private const double NormSpread = 0.1;
    private const double ScaleSpread = 0.25;

    /// <summary>Every tensor of <paramref name="config"/>, in model order, each drawing from its own stream under <paramref name="seed"/>.</summary>
    public static IReadOnlyList<GeneratedTensor> For(DeepseekV3Config config, long seed)
    {
        var expected = config.ExpectedTensors();
        var shapes = expected.ToDictionary(t => t.Name, t => t.Shape, StringComparer.Ordinal);
        return [.. expected.Select(t => new GeneratedTensor(t.Name, t.Dtype, t.Shape, Fill(t, shapes, CounterRandom.Stream(seed, t.Name))))];
    }

    private static TensorBytesFill Fill(ExpectedTensor tensor, Dictionary<string, ImmutableArray<long>> shapes, ulong stream)
    {
        var dtype = tensor.Dtype;
        if (tensor.IsFp8)
        {
            return (offset, destination) => Fp8Codes(stream, offset, destination);
        }

        if (tensor.IsFp8Scale)
        {
            // The weight this scale belongs to gives the fan-in.
            var weight = shapes[tensor.Name[..^ExpectedTensor.ScaleSuffix.Length]];
            var scale = 1.0 / (Math.Sqrt(weight[1]) * NormalQuantiles.Fp8CodeRms);
            return (offset, destination) => Uniform(stream, dtype, scale * (1 - ScaleSpread), scale * (1 + ScaleSpread), offset, destination);
        }

        if (tensor.Name.EndsWith("norm.weight", StringComparison.Ordinal))
        {
            return (offset, destination) => Uniform(stream, dtype, 1 - NormSpread, 1 + NormSpread, offset, destination);
        }

        var std = tensor.Shape.Length switch
        {
            2 when tensor.Name.EndsWith("embed_tokens.weight", StringComparison.Ordinal) => EmbeddingStd,
            2 => 1.0 / Math.Sqrt(tensor.Shape[1]),
            _ => SmallStd,
        };
        return (offset, destination) => Normal(stream, dtype, (float)std, offset, destination);
    }

    /// <summary>Element e takes the 16 bits (e mod 4) of draw e / 4 as its quantile index.</summary>
    private static void Fp8Codes(ulong stream, long offset, Span<byte> destination)
    {
        var codes = NormalQuantiles.Fp8Codes;
        var bits = CounterRandom.At(stream, (ulong)offset >> 2);
        for (var i = 0; i < destination.Length; i++)
        {
            var element = offset + i;
            var lane = (int)(element & 3);
            if (lane == 0 && i > 0)
            {
                bits = CounterRandom.At(stream, (ulong)element >> 2);
            }

            destination[i] = codes[(ushort)(bits >> (16 * lane))];
        }
    }

    private static void Normal(ulong stream, SafetensorsDtype dtype, float std, long offset, Span<byte> destination)
    {
        var size = dtype.ElementSize();
        var first = offset / size;
        var quantiles = NormalQuantiles.Values;
        var bits = CounterRandom.At(stream, (ulong)first >> 2);
        for (var i = 0; i < destination.Length / size; i++)
        {
            var element = first + i;
            var lane = (int)(element & 3);
            if (lane == 0 && i > 0)
            {
                bits = CounterRandom.At(stream, (ulong)element >> 2);
            }

            Store(dtype, destination, i, quantiles[(ushort)(bits >> (16 * lane))] * std);
        }
    }

    private static void Uniform(ulong stream, SafetensorsDtype dtype, double low, double high, long offset, Span<byte> destination)
    {
        var size = dtype.ElementSize();
        var first = offset / size;
        for (var i = 0; i < destination.Length / size; i++)
        {
            var u = CounterRandom.Uniform(CounterRandom.At(stream, (ulong)(first + i)));
            Store(dtype, destination, i, (float)(low + ((high - low) * u)));
        }
    }

    private static void Store(SafetensorsDtype dtype, Span<byte> destination, int index, float value)
    {
        switch (dtype)
        {
            case SafetensorsDtype.BF16:
                BinaryPrimitives.WriteUInt16LittleEndian(destination[(2 * index)..], ToBFloat16(value));
                break;
            case SafetensorsDtype.F16:
                BinaryPrimitives.WriteHalfLittleEndian(destination[(2 * index)..], (Half)value);
                break;
            case SafetensorsDtype.F32:
                BinaryPrimitives.WriteSingleLittleEndian(destination[(4 * index)..], value);
                break;
            default:
                throw new InvalidOperationException($"synthetic checkpoints have no {dtype.HeaderName()} tensors other than FP8 weights");
        }
    }

    /// <summary>Round to nearest even on the 16 dropped bits (the values here are finite).</summary>
    private static ushort ToBFloat16(float value)
    {
        var bits = BitConverter.SingleToUInt32Bits(value);
        return (ushort)((bits + 0x7FFFu + ((bits >> 16) & 1u)) >> 16);
    }
}

using System.Collections.Immutable;
using MoeQuant.GpuNode.Durability;
using MoeQuant.GpuNode.Workload;
using MoeQuant.Messages;

namespace MoeQuant.GpuNode.Tests.Fakes;

/// <summary>
/// A deterministic stand-in for the real maths, small enough for actor tests: each layer has an attention unit that
/// sees every token and <see cref="Experts"/> expert units that see the tokens routed to them; Hessians are Σ xxᵀ over
/// plain float arrays; "GPTQ" is round-to-nearest with a per-row scale, its loss measured with the damped Hessian; the
/// quantized forward is x ← tanh(x + Σ W_q x) over the units each token reaches. Every result depends only on the
/// inputs and the order of the sums, never on which device or thread computed it.
/// </summary>
public sealed class FakeWorkload(RunLayout layout, int layers = 3, int shards = 4, int bits = 4, int stepDelayMs = 0) : ILayerWorkload
{
    public const int Hidden = 8;
    public const int Experts = 4;

    public RunShape Shape { get; } = new(
        [.. Enumerable.Range(0, shards).Select(s => (long)TokensOf(s))],
        [.. Enumerable.Range(0, layers).Select(l => Enumerable.Range(0, Experts).Select(e => new UnitId(l, $"mlp.experts.{e}.gate_up_proj"))
            .Append(new UnitId(l, "self_attn.o_proj")).ToImmutableArray())],
        [.. Enumerable.Range(0, layers).Select(_ => Enumerable.Repeat(Hidden, Experts + 1).ToImmutableArray())]);

    public ILayerWeights LoadLayer(string device, int layer)
    {
        Pause();
        return new Weights(layer, Shape.Units[layer].ToDictionary(u => u, u => Random(HashCode(u.Layer, u.Module), Hidden * Hidden, 0.5f)));
    }

    public IActivations ReadInput(string device, int layer, int shard)
    {
        if (layer == 0)
        {
            return new Activations(Random(HashCode(-1, $"shard{shard}"), TokensOf(shard) * Hidden, 1f));
        }

        var bytes = File.ReadAllBytes(layout.ShardInputFile(layer, shard));
        var values = new float[bytes.Length / sizeof(float)];
        Buffer.BlockCopy(bytes, 0, values, 0, bytes.Length);
        return new Activations(values);
    }

    public IReadOnlyList<UnitCalibration> Calibrate(ILayerWeights weights, IActivations input, IReadOnlySet<UnitId> units)
    {
        Pause();
        var x = ((Activations)input).Values;
        return Shape.Units[weights.Layer].Where(units.Contains).Select(unit =>
        {
            var tokens = Tokens(x).Where(t => Reaches(unit, x, t)).ToList();
            if (tokens.Count == 0)
            {
                return new UnitCalibration(unit, null, 0);
            }

            var h = new float[Hidden * Hidden];
            foreach (var t in tokens)
            {
                for (var i = 0; i < Hidden; i++)
                {
                    for (var j = 0; j < Hidden; j++)
                    {
                        h[(i * Hidden) + j] += x[(t * Hidden) + i] * x[(t * Hidden) + j];
                    }
                }
            }

            return new UnitCalibration(unit, new Hessian(h), tokens.Count);
        }).ToList();
    }

    public IHessian Accumulate(string device, IHessian? sum, IHessian part)
    {
        var add = ((Hessian)part).Values;
        var total = sum is null ? new float[add.Length] : ((Hessian)sum).Values;
        for (var i = 0; i < add.Length; i++)
        {
            total[i] += add[i];
        }

        return sum ?? new Hessian(total);
    }

    public IReadOnlyList<IQuantizedUnit> Quantize(ILayerWeights weights, IReadOnlyList<QuantizeRequest> batch)
    {
        Pause();
        var maxq = (1 << (bits - 1)) - 1;
        return batch.Select(request =>
        {
            var w = ((Weights)weights).Matrices[request.Unit];
            var q = new float[w.Length];
            var scales = new float[Hidden];
            for (var r = 0; r < Hidden; r++)
            {
                var row = w.AsSpan(r * Hidden, Hidden);
                scales[r] = Math.Max(row.ToArray().Max(Math.Abs), 1e-6f) / maxq;
                for (var c = 0; c < Hidden; c++)
                {
                    q[(r * Hidden) + c] = Math.Clamp(MathF.Round(row[c] / scales[r]), -maxq - 1, maxq) * scales[r];
                }
            }

            var loss = Loss(w, q, (request.Hessian as Hessian)?.Values, request.RelDamp);
            var issues = request.Hessian is null ? QuantIssues.ZeroSamples : QuantIssues.None;
            return (IQuantizedUnit)new Quantized(request.Unit, q, scales, loss, loss, issues);
        }).ToList();
    }

    public Task<string> WriteUnitAsync(IQuantizedUnit unit)
    {
        var quantized = (Quantized)unit;
        return Task.Run(() => AtomicFile.WriteAllBytes(layout.UnitFile(unit.Unit), Bytes([.. quantized.Weight, .. quantized.Scales])));
    }

    public IActivations ForwardQuantized(ILayerWeights weights, IActivations input, IReadOnlyDictionary<UnitId, IQuantizedUnit> quantized)
    {
        Pause();
        var x = ((Activations)input).Values;
        var y = (float[])x.Clone();
        foreach (var unit in Shape.Units[weights.Layer])
        {
            var w = quantized.TryGetValue(unit, out var q) ? ((Quantized)q).Weight : ((Weights)weights).Matrices[unit];
            foreach (var t in Tokens(x).Where(t => Reaches(unit, x, t)))
            {
                for (var r = 0; r < Hidden; r++)
                {
                    var dot = 0f;
                    for (var c = 0; c < Hidden; c++)
                    {
                        dot += w[(r * Hidden) + c] * x[(t * Hidden) + c];
                    }

                    y[(t * Hidden) + r] += dot;
                }
            }
        }

        return new Activations([.. y.Select(MathF.Tanh)]);
    }

    public Task<string> WriteShardAsync(int layer, int shard, IActivations output)
    {
        var bytes = Bytes(((Activations)output).Values);
        return Task.Run(() => AtomicFile.WriteAllBytes(layout.ShardInputFile(layer + 1, shard), bytes));
    }

    private static int TokensOf(int shard) => 5 + (shard % 3);

    private static IEnumerable<int> Tokens(float[] x) => Enumerable.Range(0, x.Length / Hidden);

    private static bool Reaches(UnitId unit, float[] x, int token) =>
        !unit.Module.StartsWith("mlp.experts.", StringComparison.Ordinal)
        || int.Parse(unit.Module.Split('.')[2], System.Globalization.CultureInfo.InvariantCulture) == (int)(MathF.Abs(x[token * Hidden]) * 1000) % Experts;

    private static double Loss(float[] w, float[] q, float[]? h, double relDamp)
    {
        var damp = h is null ? 1 : relDamp * Enumerable.Range(0, Hidden).Average(i => h[(i * Hidden) + i]);
        var loss = 0.0;
        for (var r = 0; r < Hidden; r++)
        {
            for (var i = 0; i < Hidden; i++)
            {
                for (var j = 0; j < Hidden; j++)
                {
                    var hij = (h?[(i * Hidden) + j] ?? (i == j ? 1 : 0)) + (i == j ? damp : 0);
                    loss += (w[(r * Hidden) + i] - q[(r * Hidden) + i]) * hij * (w[(r * Hidden) + j] - q[(r * Hidden) + j]);
                }
            }
        }

        return loss;
    }

    private static int HashCode(int layer, string text) => text.Aggregate(layer * 7919, (h, c) => unchecked((h * 31) + c));

    private static float[] Random(int seed, int count, float scale)
    {
        var random = new Random(seed);
        return [.. Enumerable.Range(0, count).Select(_ => (float)((random.NextDouble() * 2) - 1) * scale)];
    }

    private static byte[] Bytes(float[] values)
    {
        var bytes = new byte[values.Length * sizeof(float)];
        Buffer.BlockCopy(values, 0, bytes, 0, bytes.Length);
        return bytes;
    }

    private void Pause()
    {
        if (stepDelayMs > 0)
        {
            Thread.Sleep(stepDelayMs);
        }
    }

    private sealed record Weights(int Layer, Dictionary<UnitId, float[]> Matrices) : ILayerWeights
    {
        public void Dispose()
        {
        }
    }

    private sealed record Activations(float[] Values) : IActivations
    {
        public void Dispose()
        {
        }
    }

    private sealed record Hessian(float[] Values) : IHessian
    {
        public void Dispose()
        {
        }
    }

    private sealed record Quantized(UnitId Unit, float[] Weight, float[] Scales, double Loss, double RtnLoss, QuantIssues Issues) : IQuantizedUnit
    {
        public void Dispose()
        {
        }
    }
}

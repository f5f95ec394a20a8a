using System.Collections.Concurrent;
using System.Collections.Immutable;
using System.Diagnostics;
using MoeQuant.GpuNode.Durability;
using MoeQuant.Kernels.Cuda;
using MoeQuant.Kernels.Gptq;
using MoeQuant.Kernels.Tensors;
using MoeQuant.Messages;
using MoeQuant.Model.Checkpoint;
using MoeQuant.Model.Forward;
using MoeQuant.Model.Quantized;
using TorchSharp;
using static TorchSharp.torch;

namespace MoeQuant.GpuNode.Workload.Torch;

/// <summary>
/// The real maths of a run: the DeepSeek-V3 decoder layer forward with activation capture for the Hessians, the GPTQ
/// engine, and the state files. A unit is one input group of a layer (the linears that read the same activations:
/// q_a_proj with kv_a_proj_with_mqa, gate_proj with up_proj), so one Hessian serves all its linears. Every result
/// depends only on the run's options and inputs, never on which device or thread computed it (shards are fixed by the
/// options; Hessian parts are summed in shard order by the pipeline).
/// </summary>
public sealed class TorchLayerWorkload : ILayerWorkload, ICountingWorkload, IDisposable
{
    private readonly TorchWorkloadOptions _options;
    private readonly RunLayout _layout;
    private readonly ShardedCheckpoint _checkpoint;
    private readonly ImmutableArray<ImmutableArray<int>> _shardSamples;
    private readonly ImmutableArray<ImmutableDictionary<string, IReadOnlyList<string>>> _unitLinears;
    private readonly ImmutableArray<ImmutableDictionary<string, int?>> _unitExperts;
    private readonly Lazy<Tensor> _embedding;
    private readonly ConcurrentDictionary<(int Layer, string Device), double> _hessianSeconds = new();
    private readonly ConcurrentDictionary<int, long> _hessianBytes = new();
    private readonly ConcurrentDictionary<int, long> _weightBytes = new();

    /// <summary>Opens the checkpoint and plans the shards and units.</summary>
    public TorchLayerWorkload(TorchWorkloadOptions options, RunLayout layout)
    {
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(options.Shards);
        _options = options;
        _layout = layout;
        _checkpoint = ShardedCheckpoint.Open(options.CheckpointFolder);
        var shards = Math.Min(options.Shards, options.Samples.Count);
        _shardSamples = [.. Enumerable.Range(0, shards).Select(s => Enumerable.Range(0, options.Samples.Count).Where(i => (long)i * shards / options.Samples.Count == s).ToImmutableArray())];
        var layers = Enumerable.Range(0, options.Config.NumHiddenLayers).Select(LinearUnitsOf).ToList();
        _unitLinears = [.. layers.Select(units => units.ToImmutableDictionary(g => g.Key, g => (IReadOnlyList<string>)[.. g.Select(u => u.Name)], StringComparer.Ordinal))];
        _unitExperts = [.. layers.Select(units => units.ToImmutableDictionary(g => g.Key, g => g.First().Expert, StringComparer.Ordinal))];
        _embedding = new Lazy<Tensor>(ReadEmbedding, LazyThreadSafetyMode.ExecutionAndPublication);
        var ordered = layers.Select(units => units.OrderBy(g => g.Key, StringComparer.Ordinal).ToList()).ToList();
        Shape = new RunShape(
            [.. _shardSamples.Select(samples => samples.Sum(i => (long)options.Samples[i].Length))],
            [.. ordered.Select((units, layer) => units.Select(g => new UnitId(layer, g.Key)).ToImmutableArray())],
            [.. ordered.Select(units => units.Select(g => (int)g.First().InFeatures).ToImmutableArray())]);
    }

    public RunShape Shape { get; }

    /// <summary>The linears of every unit of <paramref name="layer"/>, by unit module name.</summary>
    public IReadOnlyDictionary<string, IReadOnlyList<string>> LinearsOf(int layer) => _unitLinears[layer];

    public ILayerWeights LoadLayer(string device, int layer)
    {
        var target = TorchDevices.Of(device);
        if (target.type == TorchSharp.DeviceType.CUDA)
        {
            // The GPTQ column loop's kernel is the largest NVRTC compiles on a machine's first run: start it now, beside
            // the load and the calibration, instead of at the layer's first GPTQ launch (a no-op once it is built).
            CudaModuleCache.Precompile(target.index, "GptqBlock");
        }

        return new TorchLayerWeights(device, DecoderLayerWeights.Load(_options.Config, layer, new CheckpointWeightSource(_checkpoint), target, _options.DType));
    }

    public IActivations ReadInput(string device, int layer, int shard)
    {
        var target = _options.OffloadActivations ? CPU : TorchDevices.Of(device);
        if (layer == 0)
        {
            return new TorchActivations([.. _shardSamples[shard].Select(i => Embed(_options.Samples[i], target))]);
        }

        using var file = SafetensorsFile.Open(_layout.ShardInputFile(layer, shard));
        return new TorchActivations([.. _shardSamples[shard].Select((_, k) => file.ReadTensorCopy(SampleName(k)).unsqueeze(0).to(target, disposeAfter: true))]);
    }

    public IReadOnlyList<UnitCalibration> Calibrate(ILayerWeights weights, IActivations input, IReadOnlySet<UnitId> units)
    {
        var held = (TorchLayerWeights)weights;
        var layer = held.Weights;
        var wave = Shape.Units[layer.Layer].Where(units.Contains).ToList();
        var wanted = wave.Select(u => u.Module).ToHashSet(StringComparer.Ordinal);
        var sums = new Dictionary<string, Tensor>(StringComparer.Ordinal);
        var tokens = wanted.ToDictionary(u => u, _ => 0L, StringComparer.Ordinal);
        var experts = wave.Select(u => _unitExperts[layer.Layer][u.Module]).OfType<int>().ToHashSet();
        var clock = new Stopwatch();
        var hessianSeconds = 0.0;
        var capture = new LayerCapture(Experts: experts, OnLinearInput: c =>
        {
            if (!wanted.Contains(c.InputGroup) || c.Tokens == 0)
            {
                return;
            }

            if (!sums.TryGetValue(c.InputGroup, out var sum))
            {
                sums[c.InputGroup] = sum = zeros([c.Activations.shape[1], c.Activations.shape[1]], ScalarType.Float32, layer.Device).DetachFromDisposeScope();
            }

            if (_options.ProfilePhases)
            {
                Synchronize(layer.Device);
                clock.Restart();
                HessianSum.Add(sum, c.Activations);
                Synchronize(layer.Device);
                hessianSeconds += clock.Elapsed.TotalSeconds;
            }
            else
            {
                HessianSum.Add(sum, c.Activations);
            }

            tokens[c.InputGroup] += c.Tokens;
        });

        try
        {
            foreach (var sample in ((TorchActivations)input).Samples)
            {
                using var scope = NewDisposeScope();
                DecoderLayer.Run(layer, sample.to(layer.Device), Positions(sample), capture);
            }
        }
        catch
        {
            // The sums live outside every dispose scope: a pass that fails (out of memory, typically, which the
            // coordinator answers with smaller waves) frees them here rather than leave the retry less memory.
            foreach (var sum in sums.Values)
            {
                sum.Dispose();
            }

            throw;
        }

        if (_options.ProfilePhases)
        {
            _hessianSeconds.AddOrUpdate((layer.Layer, held.Device), hessianSeconds, (_, s) => s + hessianSeconds);
        }

        return [.. wave.Select(u => new UnitCalibration(u, sums.TryGetValue(u.Module, out var sum) ? new TorchHessian(sum, layer.Layer) : null, tokens[u.Module]))];
    }

    public IHessian Accumulate(string device, IHessian? sum, IHessian part)
    {
        var target = TorchDevices.Of(device);
        var add = ((TorchHessian)part).Sum;
        var local = TorchDevices.Same(add.device, target);
        if (local && sum is null)
        {
            return part;
        }

        using (part)
        {
            if (!local)
            {
                Count(_hessianBytes, ((TorchHessian)part).Layer, add);
            }

            if (sum is null)
            {
                return new TorchHessian(add.to(target, copy: true), ((TorchHessian)part).Layer);
            }

            var total = ((TorchHessian)sum).Sum;
            using var moved = local ? null : add.to(target);
            total.add_(moved ?? add, PinnedScalars.One);
            return sum;
        }
    }

    public WorkloadCounters Counters => new(
        _hessianSeconds.ToDictionary(),
        _hessianBytes.ToDictionary(),
        _weightBytes.ToDictionary());

    public IReadOnlyList<IQuantizedUnit> Quantize(ILayerWeights weights, IReadOnlyList<QuantizeRequest> batch) =>
        QuantizeBatch(((TorchLayerWeights)weights).Weights, batch);

    public Task<string> WriteUnitAsync(IQuantizedUnit unit)
    {
        var quantized = (TorchQuantizedUnit)unit;
        var linears = quantized.Results.Select(l => new QuantizedLinear(
            $"model.layers.{unit.Unit.Layer}.{l.Name}",
            l.Result.Codes.cpu(),
            l.Result.Scales.cpu(),
            l.Result.ZeroPoints.cpu(),
            l.Result.GIdx.cpu(),
            l.Result.Bits,
            l.Result.GroupSize,
            l.Result.Symmetric,
            l.Result.ContiguousGroups)).ToList();
        quantized.Park();
        var path = _layout.UnitFile(unit.Unit);
        return DiskWrites.RunAsync(() =>
        {
            try
            {
                UnitStateFile.Write(path, linears);
                return AtomicFile.Sha256Of(path);
            }
            finally
            {
                linears.ForEach(l => l.Dispose());
            }
        });
    }

    public IActivations ForwardQuantized(ILayerWeights weights, IActivations input, IReadOnlyDictionary<UnitId, IQuantizedUnit> quantized)
    {
        var held = (TorchLayerWeights)weights;
        var layer = held.Weights;
        foreach (var unit in quantized.Values.Cast<TorchQuantizedUnit>().Where(u => held.Replaced.Add(u.Unit)))
        {
            foreach (var (name, weight) in unit.Weights)
            {
                layer.ReplaceWeight(name, weight);
                if (!TorchDevices.Same(weight.device, layer.Device))
                {
                    Count(_weightBytes, layer.Layer, weight);
                }
            }
        }

        var outputs = new List<Tensor>();
        try
        {
            foreach (var sample in ((TorchActivations)input).Samples)
            {
                using var scope = NewDisposeScope();
                var output = DecoderLayer.Run(layer, sample.to(layer.Device), Positions(sample));
                outputs.Add((_options.OffloadActivations ? output.cpu() : output).DetachFromDisposeScope());
            }
        }
        catch
        {
            // Detached outputs of the samples done so far would outlive a failed pass on the device.
            outputs.ForEach(o => o.Dispose());
            throw;
        }

        return new TorchActivations(outputs);
    }

    public Task<string> WriteShardAsync(int layer, int shard, IActivations output)
    {
        var host = ((TorchActivations)output).Samples.Select(s => s.squeeze(0).cpu()).ToList();
        var path = _layout.ShardInputFile(layer + 1, shard);
        return DiskWrites.RunAsync(() =>
        {
            try
            {
                Directory.CreateDirectory(Path.GetDirectoryName(path)!);
                SafetensorsWriter.WriteFile(path, [.. host.Select((t, k) => SafetensorsEntry.FromTensor(SampleName(k), t))], new Dictionary<string, string>());
                return AtomicFile.Sha256Of(path);
            }
            finally
            {
                host.ForEach(t => t.Dispose());
            }
        });
    }

    public void Dispose()
    {
        if (_embedding.IsValueCreated)
        {
            _embedding.Value.Dispose();
        }

        _checkpoint.Dispose();
    }

    // Engine items are a unit with all its linears (tied: one permutation and factorization) or each linear alone (as
    // separate calls were); items of one weight shape and damping go to the engine together (issue #7: many experts per
    // launch), and the results go back to their units in request order.
    private List<IQuantizedUnit> QuantizeBatch(DecoderLayerWeights layer, IReadOnlyList<QuantizeRequest> batch)
    {
        var names = batch.Select(r => _unitLinears[layer.Layer][r.Unit.Module]).ToList();
        var results = names.Select(n => new QuantResult?[n.Count]).ToArray();
        var hessians = new List<Hessian>();
        try
        {
            var items = new List<(int Request, int[] Linears, GptqBatchItem Item)>();
            for (var r = 0; r < batch.Count; r++)
            {
                var hessian = ToHessian(batch[r], (int)layer.Weight(names[r][0]).shape[1], layer.Device);
                hessians.Add(hessian);
                var all = Enumerable.Range(0, names[r].Count).ToArray();
                foreach (var linears in _options.TieGptqHandles ? [all] : all.Select(i => new[] { i }))
                {
                    var tied = linears.Select(i => new GptqWeight($"model.layers.{layer.Layer}.{names[r][i]}", layer.Weight(names[r][i]))).ToList();
                    items.Add((r, linears, new GptqBatchItem(hessian, tied)));
                }
            }

            foreach (var group in items.GroupBy(i => (Shapes: string.Join(";", i.Item.Weights.Select(w => string.Join("x", w.Weight.shape))), batch[i.Request].RelDamp)))
            {
                var quantized = Gptq.QuantizeBatch([.. group.Select(g => g.Item)], _options.Gptq with { RelDamp = group.Key.RelDamp });
                foreach (var ((request, linears, _), outputs) in group.Zip(quantized))
                {
                    for (var k = 0; k < linears.Length; k++)
                    {
                        results[request][linears[k]] = outputs[k];
                    }
                }
            }

            return [.. batch.Select((request, r) => (IQuantizedUnit)new TorchQuantizedUnit(request.Unit, [.. names[r].Zip(results[r].Select(q => q!))]))];
        }
        catch
        {
            foreach (var result in results.SelectMany(r => r))
            {
                result?.Dispose();
            }

            throw;
        }
        finally
        {
            hessians.ForEach(h => h.Dispose());
        }
    }

    /// <summary>The engine's Hessian, (2/N)·Σxxᵀ, from the pipeline's unnormalised sum.</summary>
    private static Hessian ToHessian(QuantizeRequest request, int columns, Device device)
    {
        if (request.Hessian is not TorchHessian { } sum || request.Tokens == 0)
        {
            return Hessian.CreateEmpty(columns, device);
        }

        using var factor = (2.0 / request.Tokens).ToScalar(); // held to the end: see PinnedScalars
        using var scaled = sum.Sum.to(device).mul(factor);
        return Hessian.FromMatrix(scaled, request.Tokens);
    }

    private List<IGrouping<string, LinearUnit>> LinearUnitsOf(int layer) => [.. LinearUnit.ForLayer(_options.Config, layer)
        .Where(u => !_options.QuantizeOnlyExperts || u.Expert is not null)
        .GroupBy(u => u.InputGroup)];

    private Tensor ReadEmbedding() => new CheckpointWeightSource(_checkpoint).Read("model.embed_tokens.weight", _options.DType, CPU);

    private Tensor Embed(int[] ids, Device device)
    {
        using var index = tensor(ids.Select(i => (long)i).ToArray(), ScalarType.Int64);
        using var rows = _embedding.Value.index_select(0, index);
        return rows.unsqueeze(0).to(device);
    }

    private static void Count(ConcurrentDictionary<int, long> bytesByLayer, int layer, Tensor moved) =>
        bytesByLayer.AddOrUpdate(layer, moved.NumberOfElements * moved.ElementSize, (_, bytes) => bytes + (moved.NumberOfElements * moved.ElementSize));

    private static void Synchronize(Device device)
    {
        if (device.type == TorchSharp.DeviceType.CUDA)
        {
            cuda.synchronize(device);
        }
    }

    private static Tensor Positions(Tensor sample) => arange(sample.shape[1], ScalarType.Int64);

    private static string SampleName(int k) => $"sample.{k:D6}";
}

using MoeQuant.Model.Config;
using static TorchSharp.torch;

namespace MoeQuant.Model.Forward;

/// <summary>How <see cref="CausalLmForward.Run"/> computes.</summary>
/// <param name="Device">Where weights and activations live while computing.</param>
/// <param name="DType">Compute dtype: BFloat16 (as DeepSeek-V3 runs) or Float32.</param>
public sealed record CausalLmOptions(Device Device, ScalarType DType)
{
    /// <summary>Sequences per layer run: bounds activation memory, not the number of times a layer is loaded.</summary>
    public int MicroBatch { get; init; } = 8;

    /// <summary>Return the logits (f32, [B, T, vocab], in CPU memory) besides the NLL.</summary>
    public bool KeepLogits { get; init; }

    /// <summary>Keep hidden states in CPU memory between layers, for more tokens than the device holds.</summary>
    public bool OffloadHidden { get; init; }

    /// <summary>Implementation switches of every layer run; null for <see cref="ForwardOptions.Fused"/>.</summary>
    public ForwardOptions? Forward { get; init; }
}

/// <summary>The outputs of <see cref="CausalLmForward.Run"/>, in CPU memory.</summary>
public sealed class CausalLmOutput : IDisposable
{
    internal CausalLmOutput(Tensor nll, Tensor? logits)
    {
        Nll = nll;
        Logits = logits;
    }

    /// <summary>[B, T-1] f32: −log p(token t+1 | tokens ≤ t), the next-token loss at each position.</summary>
    public Tensor Nll { get; }

    /// <summary>[B, T, vocab] f32 when <see cref="CausalLmOptions.KeepLogits"/>, else null.</summary>
    public Tensor? Logits { get; }

    /// <summary>Mean of <see cref="Nll"/> over all positions.</summary>
    public double MeanNll => Nll.mean().item<float>();

    public void Dispose()
    {
        Nll.Dispose();
        Logits?.Dispose();
    }
}

/// <summary>
/// DeepseekV3ForCausalLM run layer by layer: only the embedding, one decoder layer, or the head is in device memory at a
/// time, each loaded once for all sequences. MTP layers are not part of the causal LM and are skipped.
/// </summary>
public static class CausalLmForward
{
    /// <summary>Logits and per-token NLL of <paramref name="inputIds"/> [B, T] int64 (any device).</summary>
    /// <param name="config">The model config.</param>
    /// <param name="source">The checkpoint's weights.</param>
    /// <param name="inputIds">Token ids, [B, T] with T ≥ 2.</param>
    /// <param name="options">Device, dtype and batching.</param>
    public static CausalLmOutput Run(DeepseekV3Config config, IWeightSource source, Tensor inputIds, CausalLmOptions options) =>
        RunBatches(config, source, [inputIds], options)[0];

    /// <summary>
    /// <see cref="Run"/> over batches of different lengths in one layer-by-layer pass, so that each layer is loaded once
    /// for all of them (an evaluation set rarely has one length).
    /// </summary>
    /// <param name="config">The model config.</param>
    /// <param name="source">The checkpoint's weights.</param>
    /// <param name="inputIds">Token ids: batch i is [B_i, T_i] int64 (any device) with T_i ≥ 2.</param>
    /// <param name="options">Device, dtype and batching; each batch is split into micro-batches of at most <see cref="CausalLmOptions.MicroBatch"/>.</param>
    /// <param name="layerFinished">Called with the index of each decoder layer once it has run over every batch.</param>
    /// <returns>One output per batch, in order; the caller disposes them.</returns>
    public static IReadOnlyList<CausalLmOutput> RunBatches(DeepseekV3Config config, IWeightSource source, IReadOnlyList<Tensor> inputIds,
        CausalLmOptions options, Action<int>? layerFinished = null)
    {
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(options.MicroBatch);
        using var scope = NewDisposeScope();
        var device = options.Device;
        var storage = options.OffloadHidden ? CPU : device;
        // Micro-batches of all batches in one list; owner[i] is the batch that micro-batch i came from.
        var batches = new List<Tensor>();
        var owner = new List<int>();
        for (var b = 0; b < inputIds.Count; b++)
        {
            foreach (var micro in inputIds[b].split(options.MicroBatch))
            {
                batches.Add(micro);
                owner.Add(b);
            }
        }

        // 1) embed every micro-batch with one load of the table.
        var hidden = new Tensor[batches.Count];
        using (var table = source.Read("model.embed_tokens.weight", options.DType, device))
        {
            for (var i = 0; i < batches.Count; i++)
            {
                hidden[i] = Embed(table, batches[i]).to(storage, disposeAfter: true);
            }
        }

        // 2) one decoder layer at a time over all micro-batches.
        for (var layer = 0; layer < config.NumHiddenLayers; layer++)
        {
            using (var weights = DecoderLayerWeights.Load(config, layer, source, device, options.DType))
            {
                for (var i = 0; i < batches.Count; i++)
                {
                    using var positions = arange(batches[i].shape[1], ScalarType.Int64, device);
                    using var input = hidden[i].to(device, disposeAfter: true);
                    hidden[i] = DecoderLayer.Run(weights, input, positions, null, options.Forward).to(storage, disposeAfter: true);
                }
            }

            layerFinished?.Invoke(layer);
        }

        // 3) final norm, lm_head and the loss.
        using var norm = source.Read("model.norm.weight", options.DType, device);
        using var head = source.Read(config.TieWordEmbeddings ? "model.embed_tokens.weight" : "lm_head.weight", options.DType, device);
        var nll = inputIds.Select(_ => new List<Tensor>()).ToList();
        var logits = inputIds.Select(_ => new List<Tensor>()).ToList();
        for (var i = 0; i < batches.Count; i++)
        {
            using var last = hidden[i].to(device, disposeAfter: true);
            var (batchLogits, batchNll) = Head(config, norm, head, last, batches[i], options.KeepLogits);
            nll[owner[i]].Add(batchNll.to(CPU, disposeAfter: true));
            if (batchLogits is not null)
            {
                logits[owner[i]].Add(batchLogits.to(CPU, disposeAfter: true));
            }
        }

        var outputs = new List<CausalLmOutput>(inputIds.Count);
        for (var b = 0; b < inputIds.Count; b++)
        {
            var output = new CausalLmOutput(cat(nll[b], 0), options.KeepLogits ? cat(logits[b], 0) : null);
            output.Nll.MoveToOuterDisposeScope();
            output.Logits?.MoveToOuterDisposeScope();
            outputs.Add(output);
        }

        return outputs;
    }

    /// <summary>The embeddings of <paramref name="ids"/>: [B, T, hidden] of the table's dtype and device.</summary>
    /// <param name="table">model.embed_tokens.weight, [vocab, hidden].</param>
    /// <param name="ids">[B, T] int64, any device.</param>
    public static Tensor Embed(Tensor table, Tensor ids)
    {
        using var scope = NewDisposeScope();
        var rows = table.index_select(0, ids.reshape(-1).to(table.device));
        return rows.view(ids.shape[0], ids.shape[1], table.shape[1]).MoveToOuterDisposeScope();
    }

    /// <summary>
    /// Final norm and lm_head, then the next-token NLL. Logits are rounded to the compute dtype before the f32 softmax,
    /// as transformers returns them; one sequence at a time so that f32 logits of a 129k vocabulary stay small.
    /// </summary>
    /// <param name="config">The model config (rms_norm_eps).</param>
    /// <param name="norm">model.norm.weight [hidden].</param>
    /// <param name="head">lm_head.weight [vocab, hidden].</param>
    /// <param name="hidden">[B, T, hidden], the last decoder layer's output.</param>
    /// <param name="ids">[B, T] int64: the inputs, whose tokens 1..T-1 are the targets.</param>
    /// <param name="keepLogits">Return the logits too; otherwise each sequence's are dropped after its loss.</param>
    /// <returns>Logits [B, T, vocab] f32 (null unless <paramref name="keepLogits"/>) and NLL [B, T-1] f32.</returns>
    public static (Tensor? Logits, Tensor Nll) Head(DeepseekV3Config config, Tensor norm, Tensor head, Tensor hidden, Tensor ids, bool keepLogits)
    {
        using var scope = NewDisposeScope();
        var targets = ids.to(hidden.device).narrow(1, 1, ids.shape[1] - 1);
        var logits = new List<Tensor>();
        var nll = new List<Tensor>();
        for (var b = 0; b < hidden.shape[0]; b++)
        {
            using var sequenceScope = NewDisposeScope();
            var normed = RmsNorm.Apply(hidden[b], norm, config.RmsNormEps);
            var sequenceLogits = nn.functional.linear(normed, head).to_type(ScalarType.Float32);
            var logProbs = sequenceLogits.narrow(0, 0, ids.shape[1] - 1).log_softmax(-1);
            nll.Add(logProbs.gather(1, targets[b].unsqueeze(1)).squeeze(1).neg().MoveToOuterDisposeScope());
            if (keepLogits)
            {
                logits.Add(sequenceLogits.MoveToOuterDisposeScope());
            }
        }

        return (keepLogits ? stack(logits).MoveToOuterDisposeScope() : null, stack(nll).MoveToOuterDisposeScope());
    }
}

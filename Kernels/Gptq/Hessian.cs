using TorchSharp;
using static TorchSharp.torch;

namespace MoeQuant.Kernels.Gptq;

/// <summary>
/// The GPTQ Hessian of one linear layer's input, <c>H = (2/N)·Σₜ xₜ xₜᵀ</c> over the N calibration tokens it saw
/// (MoE-Quant <c>GPTQ.update</c>). Owns its matrix; dispose it when done.
/// </summary>
public sealed class Hessian : IDisposable
{
    private Hessian(Tensor matrix, long tokens)
    {
        Matrix = matrix;
        Tokens = tokens;
    }

    /// <summary>(columns, columns) float32 on <see cref="Device"/>: <c>(2/N)·Σ x xᵀ</c>, all zeros while no token was seen.</summary>
    public Tensor Matrix { get; }

    /// <summary>N, the number of tokens accumulated (rows of activations, not sequences).</summary>
    public long Tokens { get; private set; }

    /// <summary>The layer's input width.</summary>
    public int Columns => (int)Matrix.shape[0];

    /// <summary>Where the matrix lives; activations must be on the same device.</summary>
    public Device Device => Matrix.device;

    /// <summary>A Hessian that has seen no token yet.</summary>
    /// <param name="columns">The layer's input width (in_features).</param>
    /// <param name="device">Device of the activations that will be accumulated.</param>
    public static Hessian CreateEmpty(int columns, Device device)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(columns, 1);
        var matrix = zeros(columns, columns, ScalarType.Float32, device);
        return new Hessian(matrix.DetachFromDisposeScope(), 0);
    }

    /// <summary>Wraps a Hessian computed elsewhere (received from a peer, or built by a test). Takes a copy.</summary>
    /// <param name="matrix">(columns, columns) float32: <c>(2/N)·Σ x xᵀ</c>.</param>
    /// <param name="tokens">N, the tokens behind it.</param>
    public static Hessian FromMatrix(Tensor matrix, long tokens)
    {
        ArgumentNullException.ThrowIfNull(matrix);
        ArgumentOutOfRangeException.ThrowIfNegative(tokens);
        if (matrix.dim() != 2 || matrix.shape[0] != matrix.shape[1] || matrix.dtype != ScalarType.Float32)
        {
            throw new ArgumentException(
                $"A Hessian is a square float32 matrix; got {matrix.dtype} [{string.Join(", ", matrix.shape)}]", nameof(matrix));
        }

        return new Hessian(matrix.clone().DetachFromDisposeScope(), tokens);
    }

    /// <summary>Adds one batch of activations.</summary>
    /// <param name="activations">
    /// (..., columns) bfloat16, float16 or float32 on <see cref="Device"/>: any number of tokens, one token too
    /// (a (1, columns) or (columns) tensor is one token, never squeezed away).
    /// </param>
    public void Accumulate(Tensor activations)
    {
        ArgumentNullException.ThrowIfNull(activations);
        if (activations.dim() < 1 || activations.shape[^1] != Columns || !activations.is_floating_point())
        {
            throw new ArgumentException(
                $"Activations must be floating point [..., {Columns}]; got {activations.dtype} [{string.Join(", ", activations.shape)}]",
                nameof(activations));
        }

        if (!activations.device.SameAs(Device))
        {
            throw new ArgumentException($"Activations are on {activations.device}, the Hessian on {Device}", nameof(activations));
        }

        using var scope = NewDisposeScope();
        // 1) bf16/fp16 → fp32 is exact, and so is every product of two of them: only the sums round, in fp32.
        var x = activations.reshape(-1, Columns).to_type(ScalarType.Float32);
        var batch = x.shape[0];
        if (batch == 0)
        {
            return;
        }

        // 2) running average, H ← n/(n+m)·H + 2/(n+m)·xᵀx: equal to (2/N)·Σxxᵀ after N tokens, and H never grows with N.
        var total = Tokens + batch;
        Matrix.addmm_(x.t(), x, beta: (float)((double)Tokens / total), alpha: (float)(2.0 / total));
        Tokens = total;
    }

    /// <summary>
    /// Merges partial Hessians of the same layer (one per data-parallel rank) into the Hessian of all their tokens:
    /// <c>Σᵢ (Nᵢ/N)·Hᵢ</c>, added in the order given so every rank that merges gets the same bits. Weighting by tokens
    /// makes the merge equal to one stream over all the data; MoE-Quant's all-reduce AVG weighs ranks equally instead,
    /// a bias when ranks saw different token counts (GPTQ.md §7.6).
    /// </summary>
    /// <param name="parts">Partial Hessians, same columns and device; parts without tokens are skipped.</param>
    /// <returns>A new Hessian with <c>Tokens = Σ Nᵢ</c>.</returns>
    public static Hessian Merge(IReadOnlyList<Hessian> parts)
    {
        ArgumentNullException.ThrowIfNull(parts);
        if (parts.Count == 0)
        {
            throw new ArgumentException("Nothing to merge", nameof(parts));
        }

        var first = parts[0];
        if (parts.Any(p => p.Columns != first.Columns || !p.Device.SameAs(first.Device)))
        {
            throw new ArgumentException("Partial Hessians differ in width or device", nameof(parts));
        }

        var merged = CreateEmpty(first.Columns, first.Device);
        var total = parts.Sum(p => p.Tokens);
        foreach (var part in parts.Where(p => p.Tokens > 0))
        {
            merged.Matrix.add_(part.Matrix, alpha: (double)part.Tokens / total);
        }

        merged.Tokens = total;
        return merged;
    }

    /// <summary>Frees the matrix.</summary>
    public void Dispose() => Matrix.Dispose();
}

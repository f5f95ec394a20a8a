using System.Collections.Concurrent;
using System.Runtime.ExceptionServices;
using Microsoft.Win32.SafeHandles;

namespace MoeQuant.Model.Checkpoint;

public static partial class SafetensorsWriter
{
    // One piece of work: made in a buffer of its own, then written at its place. Small enough that a thread per core
    // holds little memory, large enough for sequential disk writes.
    private const int ChunkBytes = 4 << 20;

    /// <summary>
    /// <see cref="WriteSharded"/> for tensors made from their position: the same files, byte for byte, but every shard's
    /// size is reserved up front and pieces of at most 4 MiB are made and written at their offsets by
    /// <paramref name="parallelism"/> threads at once, so that the disk, not one core, sets the pace. No shard is ever
    /// held in memory; the output does not depend on the thread count.
    /// </summary>
    /// <param name="folder">Created if missing.</param>
    /// <param name="tensors">Tensors with unique names, in shard order.</param>
    /// <param name="maxShardBytes">Data bytes per shard at most (a larger tensor gets a shard of its own).</param>
    /// <param name="parallelism">Threads making and writing pieces.</param>
    /// <param name="progress">Called from the writing threads with the data bytes written so far (thread-safe callers only).</param>
    /// <param name="metadata">The <c>__metadata__</c> strings; <see cref="DefaultMetadata"/> when null.</param>
    /// <param name="cancellation">Stops between pieces; nothing is left behind.</param>
    /// <returns>The full paths written, the index last if there is one.</returns>
    public static IReadOnlyList<string> WriteShardedParallel(
        string folder,
        IReadOnlyList<GeneratedTensor> tensors,
        long maxShardBytes,
        int parallelism,
        Action<long>? progress = null,
        IReadOnlyDictionary<string, string>? metadata = null,
        CancellationToken cancellation = default)
    {
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(parallelism);
        return WritePlaced(folder, [.. tensors.Select(t => t.ToEntry())], maxShardBytes, metadata, placed =>
        {
            var fills = tensors.ToDictionary(t => t.Name, t => t.Fill, StringComparer.Ordinal);
            var chunks = new List<Chunk>();
            foreach (var p in placed)
            {
                for (var start = 0L; start < p.Tensor.ByteLength; start += ChunkBytes)
                {
                    chunks.Add(new Chunk(p.File, fills[p.Tensor.Name], start, (int)Math.Min(ChunkBytes, p.Tensor.ByteLength - start), p.FileOffset + start));
                }
            }

            WriteChunks(chunks, parallelism, progress, cancellation);
        });
    }

    /// <summary>
    /// <see cref="WriteSharded"/> on <paramref name="parallelism"/> threads: the same files, byte for byte, whatever the
    /// thread count. Every tensor's place is known from the shapes, so each shard's size is reserved up front and each
    /// tensor writes its bytes straight to its place while later tensors are being made. Tensors are handed out one at
    /// a time in file order, so at most <paramref name="parallelism"/> are in memory at once (each entry holds only what
    /// its <see cref="SafetensorsEntry.WriteData"/> holds); their sources must be safe to run on several threads at once.
    /// </summary>
    /// <param name="folder">Created if missing.</param>
    /// <param name="tensors">Entries with unique names, in shard order.</param>
    /// <param name="maxShardBytes">Data bytes per shard at most (a larger tensor gets a shard of its own).</param>
    /// <param name="parallelism">Tensors made and written at once.</param>
    /// <param name="metadata">The <c>__metadata__</c> strings; <see cref="DefaultMetadata"/> when null.</param>
    /// <returns>The full paths written, the index last if there is one.</returns>
    /// <exception cref="InvalidOperationException">An entry wrote a different number of bytes than its shape needs.</exception>
    public static IReadOnlyList<string> WriteShardedParallel(
        string folder, IReadOnlyList<SafetensorsEntry> tensors, long maxShardBytes, int parallelism, IReadOnlyDictionary<string, string>? metadata = null)
    {
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(parallelism);
        return WritePlaced(folder, tensors, maxShardBytes, metadata, placed => RunInFileOrder(placed, parallelism, p =>
        {
            using var stream = new PlacedStream(p.File, p.FileOffset, p.Tensor.ByteLength, written => WrongLength(p.Path, p.Tensor, written));
            p.Tensor.WriteData(stream);
            if (stream.Position != p.Tensor.ByteLength)
            {
                throw WrongLength(p.Path, p.Tensor, stream.Position);
            }
        }, CancellationToken.None));
    }

    /// <summary>
    /// Creates every shard at its full size with its header, lets <paramref name="write"/> fill the tensors' places,
    /// then fsyncs and commits (index, renames). On failure no new file is left behind.
    /// </summary>
    private static IReadOnlyList<string> WritePlaced(
        string folder, IReadOnlyList<SafetensorsEntry> entries, long maxShardBytes, IReadOnlyDictionary<string, string>? metadata, Action<IReadOnlyList<Placed>> write)
    {
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(maxShardBytes);
        Validate(entries);
        Directory.CreateDirectory(folder);
        var shards = Split(entries, maxShardBytes);
        var pending = new List<PendingFile>();
        try
        {
            var placed = new List<Placed>();
            var weightMap = new List<(string Tensor, string Shard)>();
            for (var i = 0; i < shards.Count; i++)
            {
                var name = ShardName(i, shards.Count);
                var ordered = SafetensorsLayout.Order(shards[i]);
                var header = SafetensorsLayout.Header(ordered, metadata ?? DefaultMetadata);
                var file = PendingFile.Create(Path.Combine(folder, name), header.Length + ordered.Sum(t => t.ByteLength));
                pending.Add(file);
                var handle = file.Stream.SafeFileHandle;
                RandomAccess.Write(handle, header, 0);
                var offset = (long)header.Length;
                foreach (var tensor in ordered)
                {
                    placed.Add(new Placed(tensor, file.FinalPath, handle, offset));
                    offset += tensor.ByteLength;
                }

                weightMap.AddRange(shards[i].Select(t => (t.Name, name)));
            }

            write(placed);
            foreach (var file in pending)
            {
                file.Complete();
            }

            return CommitAll(folder, pending, entries.Sum(t => t.ByteLength), weightMap);
        }
        finally
        {
            foreach (var file in pending)
            {
                file.Dispose();
            }
        }
    }

    private static void WriteChunks(List<Chunk> chunks, int parallelism, Action<long>? progress, CancellationToken cancellation)
    {
        var written = 0L;
        RunInFileOrder(chunks, parallelism, () => new byte[ChunkBytes], (chunk, buffer) =>
        {
            var data = buffer.AsSpan(0, chunk.Length);
            chunk.Tensor(chunk.TensorOffset, data);
            RandomAccess.Write(chunk.File, data, chunk.FileOffset);
            progress?.Invoke(Interlocked.Add(ref written, chunk.Length));
        }, cancellation);
    }

    private static void RunInFileOrder<T>(IReadOnlyList<T> items, int parallelism, Action<T> body, CancellationToken cancellation) =>
        RunInFileOrder<T, object?>(items, parallelism, () => null, (item, _) => body(item), cancellation);

    // One item at a time, in file order: threads stay near each other in the files, and uneven items balance. The
    // first failure stops the others and is rethrown as itself, as the serial writer would throw it.
    private static void RunInFileOrder<T, TLocal>(IReadOnlyList<T> items, int parallelism, Func<TLocal> local, Action<T, TLocal> body, CancellationToken cancellation)
    {
        var options = new ParallelOptions { MaxDegreeOfParallelism = parallelism, CancellationToken = cancellation };
        try
        {
            Parallel.ForEach(
                Partitioner.Create(items, EnumerablePartitionerOptions.NoBuffering),
                options,
                local,
                (item, _, state) =>
                {
                    body(item, state);
                    return state;
                },
                _ => { });
        }
        catch (AggregateException e) when (e.InnerExceptions.Count > 0)
        {
            ExceptionDispatchInfo.Capture(e.InnerExceptions[0]).Throw();
        }
    }

    private sealed record Chunk(SafeFileHandle File, TensorBytesFill Tensor, long TensorOffset, int Length, long FileOffset);

    /// <summary>A tensor and where its bytes go.</summary>
    private sealed record Placed(SafetensorsEntry Tensor, string Path, SafeFileHandle File, long FileOffset);
}

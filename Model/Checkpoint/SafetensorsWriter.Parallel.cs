using System.Collections.Concurrent;
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
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(maxShardBytes);
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(parallelism);
        var entries = tensors.Select(t => t.ToEntry()).ToList();
        Validate(entries);
        Directory.CreateDirectory(folder);
        var generators = tensors.ToDictionary(t => t.Name, StringComparer.Ordinal);
        var shards = Split(entries, maxShardBytes);
        var pending = new List<PendingFile>();
        try
        {
            var chunks = new List<Chunk>();
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
                    for (var start = 0L; start < tensor.ByteLength; start += ChunkBytes)
                    {
                        chunks.Add(new Chunk(handle, generators[tensor.Name], start, (int)Math.Min(ChunkBytes, tensor.ByteLength - start), offset + start));
                    }

                    offset += tensor.ByteLength;
                }

                weightMap.AddRange(shards[i].Select(t => (t.Name, name)));
            }

            WriteChunks(chunks, parallelism, progress, cancellation);
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
        var options = new ParallelOptions { MaxDegreeOfParallelism = parallelism, CancellationToken = cancellation };
        // One piece at a time, in file order: threads stay near each other in the files, and uneven pieces balance.
        Parallel.ForEach(
            Partitioner.Create(chunks, EnumerablePartitionerOptions.NoBuffering),
            options,
            () => new byte[ChunkBytes],
            (chunk, _, buffer) =>
            {
                var data = buffer.AsSpan(0, chunk.Length);
                chunk.Tensor.Fill(chunk.TensorOffset, data);
                RandomAccess.Write(chunk.File, data, chunk.FileOffset);
                progress?.Invoke(Interlocked.Add(ref written, chunk.Length));
                return buffer;
            },
            _ => { });
    }

    private sealed record Chunk(SafeFileHandle File, GeneratedTensor Tensor, long TensorOffset, int Length, long FileOffset);
}

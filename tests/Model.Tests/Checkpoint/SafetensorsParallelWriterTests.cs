using MoeQuant.Model.Checkpoint;
using static MoeQuant.Model.Tests.Checkpoint.SafetensorsWriterTests;

namespace MoeQuant.Model.Tests.Checkpoint;

/// <summary><see cref="SafetensorsWriter.WriteShardedParallel(string, IReadOnlyList{SafetensorsEntry}, long, int, IReadOnlyDictionary{string, string}?)"/>
/// against the serial streaming writer: the same files byte for byte at any thread count, the same refusals, nothing
/// left behind on failure.</summary>
public sealed class SafetensorsParallelWriterTests : IDisposable
{
    private readonly TempFolder _serial = new();
    private readonly TempFolder _parallel = new();

    public void Dispose()
    {
        _serial.Dispose();
        _parallel.Dispose();
    }

    [Theory]
    [InlineData(1)]
    [InlineData(2)]
    [InlineData(3)]
    [InlineData(8)]
    public void Should_write_the_serial_writers_bytes_whatever_the_thread_count(int threads)
    {
        // Assorted dtypes (the layout sorts them), sizes that straddle the shard limit, and sources that write in
        // small uneven pieces after a random pause, so that tensors finish out of order.
        var tensors = Enumerable.Range(0, 23).Select(i => Piecewise($"t{i:D2}", i % 3 == 0 ? SafetensorsDtype.F32 : i % 3 == 1 ? SafetensorsDtype.BF16 : SafetensorsDtype.U8, 40 + (i * 97 % 300))).ToList();

        var serial = SafetensorsWriter.WriteSharded(_serial.Path, tensors, maxShardBytes: 1500);
        var parallel = SafetensorsWriter.WriteShardedParallel(_parallel.Path, tensors, maxShardBytes: 1500, threads);

        Assert.True(serial.Count > 3, $"{serial.Count} files");
        Assert.Equal(serial.Select(Path.GetFileName), parallel.Select(Path.GetFileName));
        Assert.Equal(serial.Select(Path.GetFileName).Order(StringComparer.Ordinal), Directory.EnumerateFiles(_parallel.Path).Select(Path.GetFileName).Order(StringComparer.Ordinal));
        foreach (var file in serial)
        {
            Assert.True(File.ReadAllBytes(file).SequenceEqual(File.ReadAllBytes(Path.Combine(_parallel.Path, Path.GetFileName(file)))), Path.GetFileName(file));
        }
    }

    [Fact]
    public void Should_hold_no_more_tensors_at_once_than_its_threads()
    {
        var inFlight = 0;
        var most = 0;
        var tensors = Enumerable.Range(0, 12).Select(i => new SafetensorsEntry($"t{i}", SafetensorsDtype.U8, [8], stream =>
        {
            var now = Interlocked.Increment(ref inFlight);
            InterlockedMax(ref most, now);
            Thread.Sleep(10);
            stream.Write(Fill($"t{i}", 8));
            Interlocked.Decrement(ref inFlight);
        })).ToList();

        SafetensorsWriter.WriteShardedParallel(_parallel.Path, tensors, maxShardBytes: 1 << 20, parallelism: 3);

        Assert.InRange(most, 1, 3);
    }

    [Theory]
    [InlineData(4)]
    [InlineData(12)]
    public void Should_name_the_tensor_and_leave_no_file_when_a_source_writes_the_wrong_length(int written)
    {
        var wrong = new SafetensorsEntry("wrong", SafetensorsDtype.F32, [2], stream => stream.Write(new byte[written]));

        var e = Assert.Throws<InvalidOperationException>(() => SafetensorsWriter.WriteShardedParallel(_parallel.Path, [Bytes("a", 8), wrong, Bytes("b", 8)], maxShardBytes: 8, parallelism: 2));

        Assert.Contains("'wrong'", e.Message, StringComparison.Ordinal);
        Assert.Contains($"wrote {written} bytes", e.Message, StringComparison.Ordinal);
        Assert.Empty(Directory.EnumerateFileSystemEntries(_parallel.Path));
    }

    [Fact]
    public void Should_throw_the_sources_own_error_and_leave_no_file()
    {
        var failing = new SafetensorsEntry("z", SafetensorsDtype.U8, [8], _ => throw new IOException("disk full"));

        var e = Assert.Throws<IOException>(() => SafetensorsWriter.WriteShardedParallel(_parallel.Path, [Bytes("a", 8), Bytes("b", 8), failing], maxShardBytes: 8, parallelism: 2));

        Assert.Equal("disk full", e.Message);
        Assert.Empty(Directory.EnumerateFileSystemEntries(_parallel.Path));
    }

    /// <summary>A tensor whose source pauses, then writes its bytes (those of <see cref="Fill"/>) in pieces of 1 to 37 bytes.</summary>
    private static SafetensorsEntry Piecewise(string name, SafetensorsDtype dtype, int elements)
    {
        var length = elements * dtype.ElementSize();
        return new SafetensorsEntry(name, dtype, [elements], stream =>
        {
            var bytes = Fill(name, length);
            var random = new Random(length);
            Thread.Sleep(random.Next(3));
            for (var offset = 0; offset < length;)
            {
                var piece = Math.Min(length - offset, random.Next(1, 38));
                stream.Write(bytes, offset, piece);
                offset += piece;
            }
        });
    }

    private static void InterlockedMax(ref int target, int value)
    {
        for (var seen = Volatile.Read(ref target); value > seen; seen = Volatile.Read(ref target))
        {
            if (Interlocked.CompareExchange(ref target, value, seen) == seen)
            {
                return;
            }
        }
    }
}

using System.Collections.Immutable;
using BenchmarkDotNet.Attributes;
using BenchmarkDotNet.Running;
using MoeQuant.Benchmarks.Reporting;
using MoeQuant.Model.Checkpoint;
using TorchSharp;
using static TorchSharp.torch;

namespace MoeQuant.Benchmarks.Checkpoint;

/// <summary>
/// Reading every byte of a sharded checkpoint through MoeQuant's reader, against a plain sequential read of the same
/// files in the same run (goal: ratio ≥ 0.8). The checkpoint imitates DeepSeek-V3's routed experts: FP8 [2048, 7168]
/// weights with their F32 [16, 56] scales, split into 512 MiB shards.
/// </summary>
[Config(typeof(ThroughputConfig))]
[BenchmarkNote("Page cache warm: GlobalSetup writes the files and reads them once; dropping the cache needs root, which this machine does not give. Every method touches every byte once. Bytes = tensor data only.")]
public class SafetensorsReadBenchmarks : IBytesPerOperation
{
    private const int Rows = 2048;
    private const int Cols = 7168;
    private const long ShardBytes = 512L << 20;
    private const int ChunkBytes = 4 << 20;
    private static readonly long[] ScaleShape = [Rows / 128, Cols / 128];

    private string _folder = "";
    private string[] _files = [];
    private byte[] _buffer = [];
    private Dictionary<ScalarType, Tensor> _staging = [];

    /// <summary>Approximate checkpoint size; rounded down to whole experts.</summary>
    [Params(2048)]
    public int SizeMiB { get; set; }

    public static long BytesPerOperation(BenchmarkCase benchmarkCase) =>
        Experts((int)benchmarkCase.Parameters["SizeMiB"]) * ExpertBytes;

    private static long ExpertBytes => ((long)Rows * Cols) + (ScaleShape[0] * ScaleShape[1] * sizeof(float));

    [GlobalSetup]
    public void Setup()
    {
        _folder = Directory.CreateTempSubdirectory("moequant-bench-").FullName;
        var codes = new byte[Rows * Cols];
        new Random(1).NextBytes(codes);
        var scales = new byte[ScaleShape[0] * ScaleShape[1] * sizeof(float)];
        var tensors = new List<SafetensorsEntry>();
        for (var i = 0; i < Experts(SizeMiB); i++)
        {
            var name = $"model.layers.{3 + (i / 256)}.mlp.experts.{i % 256}.gate_proj.weight";
            tensors.Add(SafetensorsEntry.FromBytes(name, SafetensorsDtype.F8_E4M3, [Rows, Cols], codes));
            tensors.Add(SafetensorsEntry.FromBytes(name + "_scale_inv", SafetensorsDtype.F32, [.. ScaleShape], scales));
        }

        _files = [.. SafetensorsWriter.WriteSharded(_folder, tensors, ShardBytes).Where(f => f.EndsWith(".safetensors", StringComparison.Ordinal))];
        _buffer = GC.AllocateArray<byte>(ChunkBytes, pinned: true);
        _staging = new()
        {
            [ScalarType.Byte] = empty(Rows * Cols, ScalarType.Byte),
            [ScalarType.Float32] = empty(ScaleShape[0] * ScaleShape[1], ScalarType.Float32),
        };
        RawSequentialRead();
    }

    [GlobalCleanup]
    public void Cleanup()
    {
        foreach (var staging in _staging.Values)
        {
            staging.Dispose();
        }

        Directory.Delete(_folder, recursive: true);
    }

    [Benchmark(Baseline = true, Description = "raw sequential read")]
    public long RawSequentialRead()
    {
        var checksum = 0L;
        foreach (var path in _files)
        {
            // No FileStream buffer: reads go straight into the 4 MiB chunk, as a tuned loader would do.
            using var stream = new FileStream(path, FileMode.Open, FileAccess.Read, FileShare.Read, bufferSize: 0, FileOptions.SequentialScan);
            int read;
            while ((read = stream.Read(_buffer)) > 0)
            {
                checksum += _buffer[read - 1];
            }
        }

        return checksum;
    }

    [Benchmark(Description = "open + ReadBytes (pread) per tensor")]
    public long PositionalReads()
    {
        var checksum = 0L;
        using var checkpoint = ShardedCheckpoint.Open(_folder);
        foreach (var shard in checkpoint.Shards)
        {
            foreach (var tensor in shard.Tensors)
            {
                for (var offset = 0L; offset < tensor.ByteLength; offset += ChunkBytes)
                {
                    var length = (int)Math.Min(ChunkBytes, tensor.ByteLength - offset);
                    shard.ReadBytes(tensor.Name, offset, _buffer.AsSpan(0, length));
                    checksum += _buffer[length - 1];
                }
            }
        }

        return checksum;
    }

    [Benchmark(Description = "open + ReadTensorCopy (new tensors)")]
    public long TensorCopies()
    {
        var checksum = 0L;
        using var checkpoint = ShardedCheckpoint.Open(_folder);
        foreach (var shard in checkpoint.Shards)
        {
            foreach (var tensor in shard.Tensors)
            {
                using var copy = shard.ReadTensorCopy(tensor.Name);
                checksum += copy.numel();
            }
        }

        return checksum;
    }

    [Benchmark(Description = "open + spans from the mapping")]
    public unsafe long Spans()
    {
        var checksum = 0L;
        using var checkpoint = ShardedCheckpoint.Open(_folder);
        foreach (var shard in checkpoint.Shards)
        {
            foreach (var tensor in shard.Tensors)
            {
                var source = (byte*)shard.GetAddress(tensor.Name);
                for (var offset = 0L; offset < tensor.ByteLength; offset += ChunkBytes)
                {
                    var length = (int)Math.Min(ChunkBytes, tensor.ByteLength - offset);
                    new ReadOnlySpan<byte>(source + offset, length).CopyTo(_buffer);
                    checksum += _buffer[length - 1];
                }
            }
        }

        return checksum;
    }

    [Benchmark(Description = "open + zero-copy tensor views, copied into staging")]
    public long TensorViews()
    {
        var checksum = 0L;
        using var checkpoint = ShardedCheckpoint.Open(_folder);
        foreach (var shard in checkpoint.Shards)
        {
            foreach (var tensor in shard.Tensors)
            {
                using var scope = NewDisposeScope();
                var view = shard.ReadTensor(tensor.Name);
                _staging[view.dtype].narrow(0, 0, view.numel()).copy_(view.reshape(-1));
                checksum += view.numel();
            }
        }

        return checksum;
    }

    private static int Experts(int sizeMiB) => (int)((long)sizeMiB * (1 << 20) / ExpertBytes);
}

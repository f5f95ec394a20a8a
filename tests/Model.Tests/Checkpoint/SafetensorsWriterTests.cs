using System.Collections.Immutable;
using MoeQuant.Model.Checkpoint;

namespace MoeQuant.Model.Tests.Checkpoint;

public sealed class SafetensorsWriterTests : IDisposable
{
    private readonly TempFolder _folder = new();

    public void Dispose() => _folder.Dispose();

    [Fact]
    public void Should_leave_no_file_when_a_data_source_fails()
    {
        var failing = new SafetensorsEntry("bad", SafetensorsDtype.F32, [2], stream =>
        {
            stream.Write(new byte[4]);
            throw new IOException("source went away");
        });

        Assert.Throws<IOException>(() => SafetensorsWriter.WriteFile(_folder.File("x.safetensors"), [Bytes("a", 8), failing]));
        Assert.Empty(Directory.EnumerateFileSystemEntries(_folder.Path));
    }

    [Fact]
    public void Should_name_the_tensor_and_leave_no_file_when_a_source_writes_the_wrong_length()
    {
        var path = _folder.File("x.safetensors");
        var shortEntry = new SafetensorsEntry("short", SafetensorsDtype.F32, [2], stream => stream.Write(new byte[4]));
        var error = Assert.Throws<InvalidOperationException>(() => SafetensorsWriter.WriteFile(path, [shortEntry]));
        Assert.Contains(path, error.Message);
        Assert.Contains("'short'", error.Message);
        Assert.Empty(Directory.EnumerateFileSystemEntries(_folder.Path));
    }

    [Fact]
    public void Should_leave_no_shard_or_index_when_a_later_shard_fails()
    {
        var failing = new SafetensorsEntry("z", SafetensorsDtype.U8, [8], _ => throw new IOException("disk full"));
        Assert.Throws<IOException>(() => SafetensorsWriter.WriteSharded(_folder.Path, [Bytes("a", 8), Bytes("b", 8), failing], maxShardBytes: 8));
        Assert.Empty(Directory.EnumerateFileSystemEntries(_folder.Path));
    }

    [Fact]
    public void Should_replace_the_old_file_when_writing_over_it()
    {
        var path = _folder.File("x.safetensors");
        SafetensorsWriter.WriteFile(path, [Bytes("old", 8)]);
        SafetensorsWriter.WriteFile(path, [Bytes("new", 16)]);
        using var file = SafetensorsFile.Open(path);
        Assert.Equal("new", Assert.Single(file.Tensors).Name);
        Assert.Single(Directory.EnumerateFileSystemEntries(_folder.Path));
    }

    [Theory]
    [InlineData("a", "a")]
    [InlineData("__metadata__", "b")]
    public void Should_refuse_names_when_they_repeat_or_are_reserved(string first, string second)
    {
        Assert.Throws<ArgumentException>(() => SafetensorsWriter.WriteFile(_folder.File("x.safetensors"), [Bytes(first, 1), Bytes(second, 1)]));
        Assert.Empty(Directory.EnumerateFileSystemEntries(_folder.Path));
    }

    [Fact]
    public void Should_refuse_bytes_when_their_length_does_not_match_the_shape() =>
        Assert.Throws<ArgumentException>(() => SafetensorsEntry.FromBytes("t", SafetensorsDtype.BF16, [3], new byte[4]));

    [Fact]
    public void Should_split_in_order_and_write_an_index_when_tensors_exceed_the_shard_limit()
    {
        IReadOnlyList<SafetensorsEntry> tensors = [Bytes("l0.b", 1024), Bytes("l0.a", 1024), Bytes("l1", 1024), Bytes("big", 4096), Bytes("l2", 512)];
        var written = SafetensorsWriter.WriteSharded(_folder.Path, tensors, maxShardBytes: 2560);

        string[] shards = ["model-00001-of-00004.safetensors", "model-00002-of-00004.safetensors", "model-00003-of-00004.safetensors", "model-00004-of-00004.safetensors"];
        Assert.Equal([.. shards.Select(_folder.File), _folder.File(ShardedCheckpoint.IndexFileName)], written);
        Assert.Equal([.. written.Order(StringComparer.Ordinal)], Directory.EnumerateFiles(_folder.Path).Order(StringComparer.Ordinal));

        var index = File.ReadAllText(_folder.File(ShardedCheckpoint.IndexFileName));
        Assert.Equal(
            """
            {
              "metadata": {
                "total_size": 7680
              },
              "weight_map": {
                "big": "model-00003-of-00004.safetensors",
                "l0.a": "model-00001-of-00004.safetensors",
                "l0.b": "model-00001-of-00004.safetensors",
                "l1": "model-00002-of-00004.safetensors",
                "l2": "model-00004-of-00004.safetensors"
              }
            }

            """, index);

        using var checkpoint = ShardedCheckpoint.Open(_folder.Path);
        Assert.Equal(4, checkpoint.Shards.Count);
        Assert.All(checkpoint.Shards, s => Assert.Equal("pt", s.Metadata["format"]));
        foreach (var tensor in tensors)
        {
            Assert.Equal(Fill(tensor.Name, (int)tensor.ByteLength), checkpoint.GetBytes(tensor.Name).ToArray());
        }
    }

    [Fact]
    public void Should_write_one_model_safetensors_without_index_when_everything_fits()
    {
        var written = SafetensorsWriter.WriteSharded(_folder.Path, [Bytes("a", 8), Bytes("b", 8)], maxShardBytes: 1 << 20,
            ImmutableDictionary<string, string>.Empty.Add("format", "pt").Add("stage", "test"));
        Assert.Equal([_folder.File(ShardedCheckpoint.SingleFileName)], written);
        using var checkpoint = ShardedCheckpoint.Open(_folder.Path);
        Assert.Equal(["a", "b"], checkpoint.Tensors.Select(t => t.Name));
        Assert.Equal("test", checkpoint.Shards[0].Metadata["stage"]);
    }

    /// <summary>A U8 tensor whose bytes depend on its name, so that mixed-up tensors are caught.</summary>
    internal static SafetensorsEntry Bytes(string name, int length) =>
        SafetensorsEntry.FromBytes(name, SafetensorsDtype.U8, [length], Fill(name, length));

    internal static byte[] Fill(string name, int length)
    {
        var bytes = new byte[length];
        new Random(name.GetHashCode(StringComparison.Ordinal)).NextBytes(bytes);
        return bytes;
    }
}

using MoeQuant.Model.Checkpoint;
using static MoeQuant.Model.Tests.Checkpoint.SafetensorsWriterTests;

namespace MoeQuant.Model.Tests.Checkpoint;

/// <summary>Opening model folders: the accepted layouts, then one test per bad index or shard set.</summary>
public sealed class ShardedCheckpointTests : IDisposable
{
    private readonly TempFolder _root = new();
    private readonly string _model;

    public ShardedCheckpointTests()
    {
        _model = Directory.CreateDirectory(_root.File("model")).FullName;
    }

    private string IndexPath => Path.Combine(_model, ShardedCheckpoint.IndexFileName);

    public void Dispose() => _root.Dispose();

    [Theory]
    [InlineData("""{"metadata":{},"weight_map":{"a":"s1.safetensors","b":"s2.safetensors"}}""")]
    [InlineData("""{"weight_map":{"a":"s1.safetensors","b":"s2.safetensors"}}""")]
    [InlineData("""{"metadata":{"total_size":"unknown"},"weight_map":{"b":"s2.safetensors","a":"s1.safetensors"}}""")]
    public void Should_open_when_index_metadata_is_empty_missing_or_odd(string index)
    {
        Shard("s1.safetensors", "a");
        Shard("s2.safetensors", "b");
        File.WriteAllText(IndexPath, index);
        using var checkpoint = ShardedCheckpoint.Open(_model);
        Assert.Equal(["a", "b"], checkpoint.Tensors.Select(t => t.Name));
        Assert.Equal(Path.Combine(_model, "s2.safetensors"), checkpoint.GetHeader("b").File);
    }

    [Fact]
    public void Should_open_every_safetensors_file_when_there_is_no_index()
    {
        Shard("b.safetensors", "x");
        Shard("a.safetensors", "y");
        File.WriteAllText(Path.Combine(_model, "notes.txt"), "ignored");
        using var checkpoint = ShardedCheckpoint.Open(_model);
        Assert.Equal(["a.safetensors", "b.safetensors"], checkpoint.Shards.Select(s => Path.GetFileName(s.Path)));
        Assert.Equal(Fill("y", 4), checkpoint.GetBytes("y").ToArray());
    }

    [Fact]
    public void Should_accept_a_symlink_when_it_stays_inside_the_folder()
    {
        Directory.CreateDirectory(Path.Combine(_model, "blobs"));
        Shard(Path.Combine("blobs", "real.safetensors"), "a");
        File.CreateSymbolicLink(Path.Combine(_model, "s1.safetensors"), Path.Combine("blobs", "real.safetensors"));
        File.WriteAllText(IndexPath, """{"weight_map":{"a":"s1.safetensors"}}""");
        using var checkpoint = ShardedCheckpoint.Open(_model);
        Assert.True(checkpoint.Contains("a"));
    }

    [Fact]
    public void Should_reject_when_the_index_names_a_missing_shard()
    {
        Shard("s1.safetensors", "a");
        File.WriteAllText(IndexPath, """{"weight_map":{"a":"s1.safetensors","b":"s2.safetensors"}}""");
        Reject(CheckpointErrorKind.MissingShard, IndexPath, "b", "s2.safetensors");
    }

    [Fact]
    public void Should_reject_when_an_index_path_climbs_out_of_the_folder()
    {
        Shard(Path.Combine("..", "outside.safetensors"), "a");
        File.WriteAllText(IndexPath, """{"weight_map":{"a":"../outside.safetensors"}}""");
        Reject(CheckpointErrorKind.ShardOutsideFolder, IndexPath, "a", "../outside.safetensors");
    }

    [Fact]
    public void Should_reject_when_an_index_path_is_absolute()
    {
        var inside = Shard("s1.safetensors", "a");
        File.WriteAllText(IndexPath, $$$"""{"weight_map":{"a":"{{{inside}}}"}}""");
        Reject(CheckpointErrorKind.ShardOutsideFolder, IndexPath, "a", inside);
    }

    [Fact]
    public void Should_reject_when_a_shard_is_a_symlink_out_of_the_folder()
    {
        var outside = Shard(Path.Combine("..", "outside.safetensors"), "a");
        File.CreateSymbolicLink(Path.Combine(_model, "s1.safetensors"), outside);
        File.WriteAllText(IndexPath, """{"weight_map":{"a":"s1.safetensors"}}""");
        Reject(CheckpointErrorKind.ShardOutsideFolder, IndexPath, "a", outside);
    }

    [Fact]
    public void Should_reject_when_a_folder_on_the_way_is_a_symlink_out()
    {
        Directory.CreateDirectory(_root.File("elsewhere"));
        Shard(Path.Combine("..", "elsewhere", "s1.safetensors"), "a");
        Directory.CreateSymbolicLink(Path.Combine(_model, "sub"), _root.File("elsewhere"));
        File.WriteAllText(IndexPath, """{"weight_map":{"a":"sub/s1.safetensors"}}""");
        Reject(CheckpointErrorKind.ShardOutsideFolder, IndexPath, "a", "sub/s1.safetensors");
    }

    [Fact]
    public void Should_reject_a_glob_match_when_it_is_a_symlink_out_of_the_folder()
    {
        var outside = Shard(Path.Combine("..", "outside.safetensors"), "a");
        var link = Path.Combine(_model, "s1.safetensors");
        File.CreateSymbolicLink(link, outside);
        Reject(CheckpointErrorKind.ShardOutsideFolder, link, null, outside);
    }

    [Fact]
    public void Should_reject_when_one_tensor_is_in_two_shards_of_the_index()
    {
        var first = Shard("s1.safetensors", "a", "b");
        var second = Shard("s2.safetensors", "b");
        File.WriteAllText(IndexPath, """{"weight_map":{"a":"s1.safetensors","b":"s2.safetensors"}}""");
        Reject(CheckpointErrorKind.DuplicateTensor, second, "b", first);
    }

    [Fact]
    public void Should_reject_when_one_tensor_is_in_two_shards_without_index()
    {
        var first = Shard("a.safetensors", "x");
        var second = Shard("b.safetensors", "x");
        Reject(CheckpointErrorKind.DuplicateTensor, second, "x", first);
    }

    [Fact]
    public void Should_reject_when_the_index_lists_a_tensor_in_the_wrong_shard()
    {
        Shard("s1.safetensors", "a");
        var actual = Shard("s2.safetensors", "b", "c");
        File.WriteAllText(IndexPath, """{"weight_map":{"a":"s1.safetensors","b":"s2.safetensors","c":"s1.safetensors"}}""");
        Reject(CheckpointErrorKind.IndexMismatch, IndexPath, "c", actual);
    }

    [Fact]
    public void Should_reject_when_a_shard_holds_a_tensor_the_index_omits()
    {
        var shard = Shard("s1.safetensors", "a", "extra");
        File.WriteAllText(IndexPath, """{"weight_map":{"a":"s1.safetensors"}}""");
        Reject(CheckpointErrorKind.IndexMismatch, shard, "extra", IndexPath);
    }

    [Theory]
    [InlineData("not json")]
    [InlineData("""{"metadata":{}}""")]
    [InlineData("""{"weight_map":{"a":7}}""")]
    public void Should_reject_when_the_index_is_malformed(string index)
    {
        Shard("s1.safetensors", "a");
        File.WriteAllText(IndexPath, index);
        Reject(CheckpointErrorKind.InvalidIndex, IndexPath, index.Contains('7') ? "a" : null, IndexPath);
    }

    [Fact]
    public void Should_reject_when_the_folder_is_missing_or_has_no_safetensors()
    {
        Reject(CheckpointErrorKind.NotFound, _model, null, "*.safetensors");
        var missing = _root.File("nothing-here");
        var error = Assert.Throws<CheckpointException>(() => ShardedCheckpoint.Open(missing));
        Assert.Equal(CheckpointErrorKind.NotFound, error.Kind);
        Assert.Contains(missing, error.Message);
    }

    [Fact]
    public void Should_name_folder_and_tensor_when_a_missing_tensor_is_looked_up()
    {
        Shard("model.safetensors", "a");
        using var checkpoint = ShardedCheckpoint.Open(_model);
        var error = Assert.Throws<CheckpointException>(() => checkpoint.ReadTensor("model.layers.0.nope"));
        Assert.Equal(CheckpointErrorKind.TensorNotFound, error.Kind);
        Assert.Contains(_model, error.Message);
        Assert.Contains("'model.layers.0.nope'", error.Message);
    }

    /// <summary>Writes a shard (path relative to the model folder) holding 4-byte U8 tensors with the given names.</summary>
    private string Shard(string relativePath, params string[] tensors)
    {
        var path = Path.GetFullPath(Path.Combine(_model, relativePath));
        SafetensorsWriter.WriteFile(path, [.. tensors.Select(t => Bytes(t, 4))]);
        return path;
    }

    private void Reject(CheckpointErrorKind kind, string file, string? tensor, string alsoMentioned)
    {
        var error = Assert.Throws<CheckpointException>(() => ShardedCheckpoint.Open(_model).Dispose());
        Assert.Equal(kind, error.Kind);
        Assert.Equal(file, error.File);
        Assert.StartsWith(file, error.Message);
        Assert.Equal(tensor, error.Tensor);
        if (tensor is not null)
        {
            Assert.Contains($"tensor '{tensor}'", error.Message);
        }

        Assert.Contains(alsoMentioned, error.Message);
    }
}

using MoeQuant.Model.Checkpoint;

namespace MoeQuant.Model.Tests.Checkpoint;

/// <summary>One test per malformed file: the exception type, its kind, and a message naming the file and tensor.</summary>
public sealed class SafetensorsValidationTests : IDisposable
{
    private readonly TempFolder _folder = new();

    public void Dispose() => _folder.Dispose();

    [Fact]
    public void Should_reject_when_the_file_is_truncated()
    {
        var path = RawSafetensors.WriteSingle(_folder.File("x.safetensors"), dataBytes: 5);
        Reject(path, CheckpointErrorKind.IncompleteBuffer, "a");
    }

    [Fact]
    public void Should_reject_when_the_file_is_shorter_than_the_length_prefix()
    {
        var path = _folder.File("x.safetensors");
        File.WriteAllBytes(path, [1, 0, 0]);
        Reject(path, CheckpointErrorKind.HeaderTooSmall);
    }

    [Fact]
    public void Should_reject_when_the_header_length_runs_beyond_the_file()
    {
        var path = RawSafetensors.Write(_folder.File("x.safetensors"), "{}", [], declaredLength: 4096);
        Reject(path, CheckpointErrorKind.InvalidHeaderLength);
    }

    [Fact]
    public void Should_reject_when_the_header_is_over_100_mb()
    {
        var path = RawSafetensors.Write(_folder.File("x.safetensors"), "{}", [], declaredLength: 100_000_001);
        Reject(path, CheckpointErrorKind.HeaderTooLarge);
    }

    [Theory]
    [InlineData("[1,2]")]
    [InlineData("  {}")]
    [InlineData("{\"a\":")]
    [InlineData("{} x")]
    public void Should_reject_when_the_header_is_not_a_json_object(string header)
    {
        var path = RawSafetensors.Write(_folder.File("x.safetensors"), header, []);
        Reject(path, CheckpointErrorKind.InvalidHeader);
    }

    [Fact]
    public void Should_reject_when_the_header_is_not_utf8()
    {
        var path = RawSafetensors.Write(_folder.File("x.safetensors"), [(byte)'{', (byte)'"', 0xC3, 0x28, (byte)'"', (byte)':', (byte)'1', (byte)'}'], []);
        Reject(path, CheckpointErrorKind.InvalidHeader);
    }

    [Theory]
    [InlineData("F8_E5M2")]
    [InlineData("Q4_0")]
    [InlineData("f32")]
    [InlineData("0")]
    public void Should_reject_when_the_dtype_is_unknown(string dtype)
    {
        var path = RawSafetensors.WriteSingle(_folder.File("x.safetensors"), $$"""{"dtype":"{{dtype}}","shape":[2],"data_offsets":[0,8]}""");
        var error = Reject(path, CheckpointErrorKind.InvalidHeader, "a");
        Assert.Contains(dtype, error.Message);
    }

    [Theory]
    [InlineData("""{"dtype":"F32","shape":[-2],"data_offsets":[0,8]}""")]
    [InlineData("""{"dtype":"F32","shape":[2.5],"data_offsets":[0,8]}""")]
    [InlineData("""{"dtype":"F32","shape":[2],"data_offsets":[0]}""")]
    [InlineData("""{"dtype":"F32","data_offsets":[0,8]}""")]
    [InlineData("""[1]""")]
    public void Should_reject_when_an_entry_has_wrong_field_types(string entry)
    {
        var path = RawSafetensors.WriteSingle(_folder.File("x.safetensors"), entry);
        Reject(path, CheckpointErrorKind.InvalidHeader, "a");
    }

    [Fact]
    public void Should_reject_when_shape_times_dtype_differs_from_the_byte_range()
    {
        var path = RawSafetensors.WriteSingle(_folder.File("x.safetensors"), """{"dtype":"BF16","shape":[2],"data_offsets":[0,8]}""");
        Reject(path, CheckpointErrorKind.TensorInvalidInfo, "a");
    }

    [Fact]
    public void Should_reject_when_the_element_count_overflows()
    {
        var path = RawSafetensors.WriteSingle(_folder.File("x.safetensors"), """{"dtype":"F64","shape":[4294967296,4294967296],"data_offsets":[0,8]}""");
        Reject(path, CheckpointErrorKind.ValidationOverflow, "a");
    }

    [Fact]
    public void Should_reject_when_offsets_overlap()
    {
        var path = RawSafetensors.Write(_folder.File("x.safetensors"),
            """{"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]},"b":{"dtype":"F32","shape":[2],"data_offsets":[4,12]}}""", new byte[12]);
        Reject(path, CheckpointErrorKind.InvalidOffset, "b");
    }

    [Fact]
    public void Should_reject_when_offsets_leave_a_gap()
    {
        var path = RawSafetensors.Write(_folder.File("x.safetensors"),
            """{"a":{"dtype":"F32","shape":[1],"data_offsets":[0,4]},"b":{"dtype":"F32","shape":[1],"data_offsets":[8,12]}}""", new byte[12]);
        Reject(path, CheckpointErrorKind.InvalidOffset, "b");
    }

    [Fact]
    public void Should_reject_when_an_end_offset_comes_before_its_begin()
    {
        var path = RawSafetensors.WriteSingle(_folder.File("x.safetensors"), """{"dtype":"F32","shape":[0],"data_offsets":[0,0]}""", dataBytes: 0);
        var reversed = RawSafetensors.Write(_folder.File("y.safetensors"),
            """{"a":{"dtype":"F32","shape":[0],"data_offsets":[8,4]},"b":{"dtype":"F32","shape":[2],"data_offsets":[0,8]}}""", new byte[8]);
        using (SafetensorsFile.Open(path))
        {
            // An empty tensor at [0, 0] is fine; the reversed range is not.
        }

        Reject(reversed, CheckpointErrorKind.InvalidOffset, "a");
    }

    [Fact]
    public void Should_reject_when_offsets_run_past_the_data()
    {
        var path = RawSafetensors.Write(_folder.File("x.safetensors"),
            """{"a":{"dtype":"F32","shape":[1],"data_offsets":[0,4]},"b":{"dtype":"F32","shape":[1024],"data_offsets":[4,4100]}}""", new byte[8]);
        Reject(path, CheckpointErrorKind.IncompleteBuffer, "b");
    }

    [Fact]
    public void Should_reject_when_bytes_are_left_over_past_the_last_tensor()
    {
        var path = RawSafetensors.WriteSingle(_folder.File("x.safetensors"), dataBytes: 9);
        var error = Reject(path, CheckpointErrorKind.IncompleteBuffer);
        Assert.Contains("1 bytes are left over", error.Message);
    }

    [Fact]
    public void Should_reject_when_a_name_appears_twice()
    {
        var path = RawSafetensors.Write(_folder.File("x.safetensors"),
            """{"a":{"dtype":"F32","shape":[1],"data_offsets":[0,4]},"a":{"dtype":"F32","shape":[1],"data_offsets":[4,8]}}""", new byte[8]);
        Reject(path, CheckpointErrorKind.InvalidHeader, "a");
    }

    [Fact]
    public void Should_reject_when_metadata_holds_a_non_string()
    {
        var path = RawSafetensors.Write(_folder.File("x.safetensors"), """{"__metadata__":{"format":"pt","step":3}}""", []);
        var error = Reject(path, CheckpointErrorKind.InvalidHeader);
        Assert.Contains("step", error.Message);
    }

    [Fact]
    public void Should_reject_when_the_file_does_not_exist()
    {
        Reject(_folder.File("missing.safetensors"), CheckpointErrorKind.NotFound);
    }

    [Fact]
    public void Should_name_file_and_tensor_when_a_missing_tensor_is_looked_up()
    {
        var path = RawSafetensors.WriteSingle(_folder.File("x.safetensors"));
        using var file = SafetensorsFile.Open(path);
        var error = Assert.Throws<CheckpointException>(() => file.GetHeader("nope"));
        Assert.Equal(CheckpointErrorKind.TensorNotFound, error.Kind);
        Assert.Contains(path, error.Message);
        Assert.Contains("'nope'", error.Message);
    }

    private static CheckpointException Reject(string path, CheckpointErrorKind kind, string? tensor = null)
    {
        var error = Assert.Throws<CheckpointException>(() => SafetensorsFile.Open(path).Dispose());
        Assert.Equal(kind, error.Kind);
        Assert.StartsWith(path, error.Message);
        Assert.Equal(path, error.File);
        Assert.Equal(tensor, error.Tensor);
        if (tensor is not null)
        {
            Assert.Contains($"tensor '{tensor}'", error.Message);
        }

        return error;
    }
}

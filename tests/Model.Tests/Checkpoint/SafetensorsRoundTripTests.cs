using System.Buffers.Binary;
using System.Collections.Immutable;
using System.Text;
using MoeQuant.Model.Checkpoint;
using TorchSharp;
using static TorchSharp.torch;

namespace MoeQuant.Model.Tests.Checkpoint;

public sealed class SafetensorsRoundTripTests : IDisposable
{
    private readonly TempFolder _folder = new();

    public void Dispose() => _folder.Dispose();

    public static TheoryData<SafetensorsDtype> AllDtypes() => [.. Enum.GetValues<SafetensorsDtype>()];

    [Theory]
    [MemberData(nameof(AllDtypes))]
    public void Should_read_back_the_same_bytes_shape_and_type_when_any_dtype_is_written(SafetensorsDtype dtype)
    {
        var bytes = new byte[3 * 5 * dtype.ElementSize()];
        new Random((int)dtype).NextBytes(bytes);
        if (dtype == SafetensorsDtype.BOOL)
        {
            bytes = [.. bytes.Select(b => (byte)(b & 1))];
        }

        var path = _folder.File("x.safetensors");
        SafetensorsWriter.WriteFile(path, [SafetensorsEntry.FromBytes("t", dtype, [3, 5], bytes)]);

        using var file = SafetensorsFile.Open(path);
        var header = Assert.Single(file.Tensors);
        Assert.Equal(("t", dtype), (header.Name, header.Dtype));
        Assert.Equal(new long[] { 3, 5 }, header.Shape);
        Assert.Equal(bytes, file.GetBytes("t").ToArray());
        using var tensor = file.ReadTensor("t");
        Assert.Equal(dtype.ToScalarType(), tensor.dtype);
        Assert.Equal(new long[] { 3, 5 }, tensor.shape);
        Assert.Equal(bytes, tensor.bytes.ToArray());
    }

    [Theory]
    [InlineData(ScalarType.Int64)]
    [InlineData(ScalarType.Float64)]
    [InlineData(ScalarType.Float32)]
    [InlineData(ScalarType.Int32)]
    [InlineData(ScalarType.BFloat16)]
    [InlineData(ScalarType.Float16)]
    [InlineData(ScalarType.Int16)]
    [InlineData(ScalarType.Int8)]
    [InlineData(ScalarType.Byte)]
    [InlineData(ScalarType.Bool)]
    public void Should_read_back_equal_values_when_a_torch_tensor_is_written(ScalarType type)
    {
        using var source = (arange(-7, 8).reshape(3, 5) * 3 % (type == ScalarType.Bool ? 2 : 100)).to(type);
        var path = _folder.File("x.safetensors");
        SafetensorsWriter.WriteFile(path, [SafetensorsEntry.FromTensor("t", source)]);

        using var file = SafetensorsFile.Open(path);
        using var read = file.ReadTensor("t");
        Assert.True(read.Equals(source), $"{type} differs after the round trip");
    }

    [Fact]
    public void Should_keep_scalars_and_empty_tensors_when_written()
    {
        var path = _folder.File("x.safetensors");
        using var scalar = tensor(3.25);
        using var empty = zeros(0, 4, ScalarType.BFloat16);
        SafetensorsWriter.WriteFile(path,
        [
            SafetensorsEntry.FromTensor("scalar", scalar),
            SafetensorsEntry.FromTensor("empty", empty),
            SafetensorsEntry.FromBytes("empty1d", SafetensorsDtype.I32, [0], Array.Empty<byte>()),
        ]);

        using var file = SafetensorsFile.Open(path);
        Assert.Empty(file.GetHeader("scalar").Shape);
        using var readScalar = file.ReadTensor("scalar");
        Assert.Equal(0, readScalar.dim());
        Assert.Equal(3.25, readScalar.item<double>());
        using var readEmpty = file.ReadTensor("empty");
        Assert.Equal(new long[] { 0, 4 }, readEmpty.shape);
        Assert.Equal(0, file.GetHeader("empty1d").ByteLength);
        Assert.Equal(0, file.ReadTensor("empty1d").numel());
    }

    [Fact]
    public void Should_write_the_official_layout_when_dtypes_and_names_are_mixed()
    {
        var path = _folder.File("x.safetensors");
        SafetensorsWriter.WriteFile(path,
        [
            SafetensorsEntry.FromBytes("b", SafetensorsDtype.BF16, [1], new byte[2]),
            SafetensorsEntry.FromBytes("z", SafetensorsDtype.F32, [1], new byte[4]),
            SafetensorsEntry.FromBytes("a", SafetensorsDtype.BF16, [1], new byte[2]),
        ]);

        // F32 before BF16 (dtype order), then names in ordinal order; compact JSON, metadata first, space padding to 8.
        const string Json = """{"__metadata__":{"format":"pt"},"z":{"dtype":"F32","shape":[1],"data_offsets":[0,4]},"a":{"dtype":"BF16","shape":[1],"data_offsets":[4,6]},"b":{"dtype":"BF16","shape":[1],"data_offsets":[6,8]}}""";
        var padded = (Json.Length + 7) / 8 * 8;
        var bytes = File.ReadAllBytes(path);
        Assert.Equal((ulong)padded, BinaryPrimitives.ReadUInt64LittleEndian(bytes));
        Assert.Equal(Json.PadRight(padded), Encoding.UTF8.GetString(bytes, 8, padded));
        Assert.Equal(8 + padded + 8, bytes.Length);
    }

    [Fact]
    public void Should_align_every_tensor_to_its_element_size_when_written()
    {
        var path = _folder.File("x.safetensors");
        SafetensorsWriter.WriteFile(path,
        [
            SafetensorsEntry.FromBytes("odd.u8", SafetensorsDtype.U8, [3], new byte[3]),
            SafetensorsEntry.FromBytes("f64", SafetensorsDtype.F64, [1], new byte[8]),
            SafetensorsEntry.FromBytes("bf16", SafetensorsDtype.BF16, [3], new byte[6]),
            SafetensorsEntry.FromBytes("f32", SafetensorsDtype.F32, [1], new byte[4]),
        ]);

        using var file = SafetensorsFile.Open(path);
        Assert.Equal(["f64", "f32", "bf16", "odd.u8"], file.Tensors.Select(t => t.Name));
        Assert.All(file.Tensors, t => Assert.Equal(0, t.DataOffset % t.Dtype.ElementSize()));
    }

    [Fact]
    public void Should_keep_metadata_when_custom_metadata_is_given()
    {
        var path = _folder.File("x.safetensors");
        var metadata = new Dictionary<string, string> { ["format"] = "pt", ["producer"] = "moequant \"1\" ü" };
        SafetensorsWriter.WriteFile(path, [], metadata);
        using var file = SafetensorsFile.Open(path);
        Assert.Equal(metadata, file.Metadata);
        Assert.Empty(file.Tensors);
    }

    [Fact]
    public void Should_write_default_metadata_when_none_is_given_and_none_when_empty()
    {
        var withDefault = _folder.File("a.safetensors");
        var withNone = _folder.File("b.safetensors");
        SafetensorsWriter.WriteFile(withDefault, []);
        SafetensorsWriter.WriteFile(withNone, [], ImmutableDictionary<string, string>.Empty);
        using (var file = SafetensorsFile.Open(withDefault))
        {
            Assert.Equal("pt", file.Metadata["format"]);
        }

        using (var file = SafetensorsFile.Open(withNone))
        {
            Assert.Empty(file.Metadata);
        }

        Assert.DoesNotContain("__metadata__", File.ReadAllText(withNone));
    }

    [Fact]
    public void Should_keep_a_view_valid_and_the_file_unchanged_when_the_view_outlives_the_file()
    {
        var path = _folder.File("x.safetensors");
        using var source = arange(6, ScalarType.Float32);
        SafetensorsWriter.WriteFile(path, [SafetensorsEntry.FromTensor("t", source)]);
        var before = File.ReadAllBytes(path);

        Tensor view;
        using (var file = SafetensorsFile.Open(path))
        {
            view = file.ReadTensor("t");
        }

        using (view)
        {
            Assert.True(view.Equals(source));
            view.fill_(-1);
            Assert.Equal(-6f, view.sum().item<float>());
        }

        Assert.Equal(before, File.ReadAllBytes(path));
    }

    [Fact]
    public void Should_return_views_of_one_mapping_when_an_aligned_tensor_is_read_twice()
    {
        var path = _folder.File("x.safetensors");
        using var source = arange(4, ScalarType.Int64);
        SafetensorsWriter.WriteFile(path, [SafetensorsEntry.FromTensor("t", source)]);
        using var file = SafetensorsFile.Open(path);
        using var first = file.ReadTensor("t");
        using var second = file.ReadTensor("t");

        // A copy would not see the other read's write: both are views of the same (private) mapping.
        first.fill_(9);
        Assert.Equal(36, second.sum().item<long>());
    }

    [Fact]
    public void Should_read_any_part_of_a_tensor_when_reading_bytes_at_an_offset()
    {
        var path = _folder.File("x.safetensors");
        var bytes = SafetensorsWriterTests.Fill("t", 100);
        SafetensorsWriter.WriteFile(path, [SafetensorsWriterTests.Bytes("first", 3), SafetensorsEntry.FromBytes("t", SafetensorsDtype.U8, [100], bytes)]);
        using var file = SafetensorsFile.Open(path);
        var part = new byte[30];
        file.ReadBytes("t", 65, part);
        Assert.Equal(bytes[65..95], part);
        Assert.Throws<ArgumentOutOfRangeException>(() => file.ReadBytes("t", 71, part));
    }

    [Fact]
    public void Should_return_an_independent_copy_when_a_tensor_copy_is_read()
    {
        var path = _folder.File("x.safetensors");
        using var source = arange(12, ScalarType.Float32).reshape(3, 4).to(ScalarType.BFloat16);
        SafetensorsWriter.WriteFile(path, [SafetensorsEntry.FromTensor("t", source)]);
        using var file = SafetensorsFile.Open(path);
        using var copy = file.ReadTensorCopy("t");
        using var view = file.ReadTensor("t");
        Assert.True(copy.Equals(source));
        copy.fill_(0);
        Assert.True(view.Equals(source));
    }

    [Fact]
    public void Should_copy_the_values_when_a_tensor_is_not_aligned_to_its_element_size()
    {
        // A 57-byte header puts the F32 data at file offset 65, which no f32 view can start at.
        var header = """{"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]}}""".PadRight(57);
        var data = new byte[8];
        BinaryPrimitives.WriteSingleLittleEndian(data, 1.5f);
        BinaryPrimitives.WriteSingleLittleEndian(data.AsSpan(4), -2f);
        var path = RawSafetensors.Write(_folder.File("x.safetensors"), header, data);

        using var file = SafetensorsFile.Open(path);
        Assert.Equal(65, file.GetHeader("a").DataOffset);
        using var read = file.ReadTensor("a");
        Assert.Equal(new[] { 1.5f, -2f }, read.data<float>().ToArray());
    }
}

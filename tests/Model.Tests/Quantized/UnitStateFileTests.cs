using System.Runtime.InteropServices;
using MoeQuant.Model.Checkpoint;
using MoeQuant.Model.Quantized;
using MoeQuant.Model.Tests.Checkpoint;
using static TorchSharp.torch;

namespace MoeQuant.Model.Tests.Quantized;

/// <summary>Unit state files ("moequant-unit/2"): codes stored as compressed-tensors' packed words, checked against the
/// bit layout of FORMATS.md §3.3 written out here, and read back to what was written; first-version files still read.</summary>
public sealed class UnitStateFileTests : IDisposable
{
    private const string Name = "model.layers.3.mlp.experts.5.down_proj";
    private readonly TempFolder _folder = new();

    public void Dispose() => _folder.Dispose();

    public static TheoryData<int, bool, int> Widths()
    {
        var data = new TheoryData<int, bool, int>();
        foreach (var bits in new[] { 2, 3, 4, 8 })
        {
            foreach (var symmetric in new[] { true, false })
            {
                // An odd width leaves a part-filled last word; 64 fills every word at 2, 4 and 8 bits.
                data.Add(bits, symmetric, 37);
                data.Add(bits, symmetric, 64);
            }
        }

        return data;
    }

    [Theory]
    [MemberData(nameof(Widths))]
    public void Should_store_codes_packed_and_read_back_what_was_written(int bits, bool symmetric, int columns)
    {
        var path = _folder.File("unit.safetensors");
        using var written = Linear(bits, symmetric, rows: 5, columns, groupSize: 8, seed: (bits * 100) + columns);

        UnitStateFile.Write(path, [written]);

        // 1) On disk: I32 [rows, ceil(columns / pf)], each code at (word >> b·i) & mask as u = q + 2^(b−1), other bits 0.
        using (var file = SafetensorsFile.Open(path))
        {
            var perWord = 32 / bits;
            var wordsPerRow = (columns + perWord - 1) / perWord;
            var header = file.GetHeader(Name + ".codes");
            Assert.Equal(SafetensorsDtype.I32, header.Dtype);
            Assert.Equal(new long[] { 5, wordsPerRow }, header.Shape.ToArray());
            Assert.Equal(UnitStateFile.Format, file.Metadata["format"]);
            var words = MemoryMarshal.Cast<byte, int>(file.GetBytes(header.Name)).ToArray();
            var codes = written.Codes.data<sbyte>().ToArray();
            var mask = (1u << bits) - 1;
            for (var r = 0; r < 5; r++)
            {
                for (var k = 0; k < wordsPerRow; k++)
                {
                    var expected = 0u;
                    for (var i = 0; i < perWord && (k * perWord) + i < columns; i++)
                    {
                        expected |= ((uint)(codes[(r * columns) + (k * perWord) + i] + (1 << (bits - 1))) & mask) << (bits * i);
                    }

                    Assert.Equal(expected, (uint)words[(r * wordsPerRow) + k]);
                }
            }
        }

        // 2) Read back whole, and described from the header alone.
        var read = Assert.Single(UnitStateFile.Read(path));
        using (read)
        {
            AssertSame(written, read);
        }

        var described = Assert.Single(UnitStateFile.Describe(path));
        Assert.Equal((Name, bits, symmetric, 5L, (long)columns, (columns + 7L) / 8, true), (described.Name, described.Bits, described.Symmetric, described.OutFeatures, described.InFeatures, described.Groups, described.PackedCodes));
    }

    [Fact]
    public void Should_take_half_the_bytes_of_int8_codes_at_4_bits()
    {
        var path = _folder.File("unit.safetensors");
        using var linear = Linear(4, symmetric: true, rows: 256, columns: 512, groupSize: 128, seed: 1);

        UnitStateFile.Write(path, [linear]);

        using var file = SafetensorsFile.Open(path);
        Assert.Equal(256 * 512 / 2, file.GetHeader(Name + ".codes").ByteLength);
    }

    [Fact]
    public void Should_read_a_first_version_file_with_one_byte_per_code()
    {
        var path = _folder.File("unit.safetensors");
        using var linear = Linear(3, symmetric: false, rows: 4, columns: 21, groupSize: 8, seed: 3);
        SafetensorsWriter.WriteFile(
            path,
            [
                SafetensorsEntry.FromTensor(Name + ".codes", linear.Codes), SafetensorsEntry.FromTensor(Name + ".scales", linear.Scales),
                SafetensorsEntry.FromTensor(Name + ".zero_points", linear.ZeroPoints), SafetensorsEntry.FromTensor(Name + ".g_idx", linear.GIdx),
            ],
            new Dictionary<string, string> { ["format"] = "moequant-unit/1", [Name] = "bits=3;group_size=8;symmetric=False;contiguous_groups=True" });

        using var read = Assert.Single(UnitStateFile.Read(path));
        var described = Assert.Single(UnitStateFile.Describe(path));

        AssertSame(linear, read);
        Assert.Equal((21L, false), (described.InFeatures, described.PackedCodes));
    }

    [Fact]
    public void Should_refuse_a_code_outside_its_range_and_leave_no_file()
    {
        var path = _folder.File("unit.safetensors");
        using var linear = Linear(4, symmetric: true, rows: 2, columns: 16, groupSize: 8, seed: 4);
        linear.Codes[1, 3] = tensor((sbyte)8);

        var e = Assert.Throws<ArgumentOutOfRangeException>(() => UnitStateFile.Write(path, [linear]));

        Assert.Contains("[1, 3]", e.Message, StringComparison.Ordinal);
        Assert.Empty(Directory.EnumerateFileSystemEntries(_folder.Path));
    }

    [Fact]
    public void Should_refuse_a_file_of_another_format_naming_it()
    {
        var path = _folder.File("unit.safetensors");
        SafetensorsWriter.WriteFile(path, [SafetensorsEntry.FromBytes("x", SafetensorsDtype.U8, [1], new byte[1])], new Dictionary<string, string> { ["format"] = "moequant-unit/9" });

        var e = Assert.Throws<CheckpointException>(() => UnitStateFile.Describe(path));

        Assert.Contains(path, e.Message, StringComparison.Ordinal);
        Assert.Contains("moequant-unit/2", e.Message, StringComparison.Ordinal);
    }

    /// <summary>Random codes over the whole signed range, positive scales, zero points (all 0 when symmetric), contiguous groups.</summary>
    private static QuantizedLinear Linear(int bits, bool symmetric, int rows, int columns, int groupSize, int seed)
    {
        var random = new Random(seed);
        var (low, high) = (-(1 << (bits - 1)), 1 << (bits - 1));
        var groups = (columns + groupSize - 1) / groupSize;
        var codes = Enumerable.Range(0, rows * columns).Select(_ => (sbyte)random.Next(low, high)).ToArray();
        codes[0] = (sbyte)low;
        codes[^1] = (sbyte)(high - 1);
        var zeros = Enumerable.Range(0, rows * groups).Select(_ => symmetric ? (sbyte)0 : (sbyte)random.Next(low, high)).ToArray();
        var scales = Enumerable.Range(0, rows * groups).Select(_ => (float)(random.NextDouble() + 0.01)).ToArray();
        return new QuantizedLinear(
            Name,
            tensor(codes, [rows, columns]),
            tensor(scales, [rows, groups]).to_type(ScalarType.BFloat16),
            tensor(zeros, [rows, groups]),
            tensor(Enumerable.Range(0, columns).Select(c => c / groupSize).ToArray(), [columns]),
            bits,
            groupSize,
            symmetric,
            ContiguousGroups: true);
    }

    private static void AssertSame(QuantizedLinear expected, QuantizedLinear actual)
    {
        Assert.Equal((expected.Name, expected.Bits, expected.GroupSize, expected.Symmetric, expected.ContiguousGroups), (actual.Name, actual.Bits, actual.GroupSize, actual.Symmetric, actual.ContiguousGroups));
        foreach (var (what, e, a) in new[] { ("codes", expected.Codes, actual.Codes), ("scales", expected.Scales, actual.Scales), ("zero points", expected.ZeroPoints, actual.ZeroPoints), ("g_idx", expected.GIdx, actual.GIdx) })
        {
            Assert.True(e.shape.SequenceEqual(a.shape) && e.dtype == a.dtype && e.eq(a).all().item<bool>(), $"{what} differ");
        }
    }
}

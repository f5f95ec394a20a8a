using MoeQuant.Coordinator.Packing;
using MoeQuant.Model.Checkpoint;
using MoeQuant.Model.Quantized;

namespace MoeQuant.Coordinator.Tests.Packing;

/// <summary>The export on one thread and on several, and from unit state of either version: the same bytes; packed
/// codes with a bit outside them refused by name.</summary>
public sealed partial class PackCommandTests
{
    [Theory]
    [InlineData(QuantizedRuns.W4, "compressed-tensors")]
    [InlineData(QuantizedRuns.W8Asymmetric, "gptq-v1")]
    public async Task Should_write_the_same_bytes_on_one_thread_as_on_several(string run, string format)
    {
        var (saveDir, _) = await runs.Get(run);
        var serial = runs.NewFolder("one-thread");
        var parallel = runs.NewFolder("three-threads");

        // One thread streams the shards in order; several write each tensor at its place. Small shards, so that
        // tensors of one shard are in flight at once with those of the next.
        RunExport.Run(new PackOptions(saveDir, serial, format, KeepMtp: false, Overwrite: false, ModelPath: null, MaxShardBytes: 64 << 10, Threads: 1));
        RunExport.Run(new PackOptions(saveDir, parallel, format, KeepMtp: false, Overwrite: false, ModelPath: null, MaxShardBytes: 64 << 10, Threads: 3));
        var cli = await QuantizedRuns.Invoke("pack", "--save-dir", saveDir, "--output", runs.NewFolder("cli-threads"), "--export-format", format, "--threads", "4");

        Assert.True(cli.ExitCode == 0, cli.Error);
        Assert.True(Directory.GetFiles(serial, "model-*.safetensors").Length > 1);
        AssertSameFiles(serial, parallel);
    }

    [Theory]
    [InlineData("compressed-tensors")]
    [InlineData("gptq-v1")]
    public async Task Should_export_state_of_the_first_version_to_the_same_bytes(string format)
    {
        var (source, _) = await runs.Get(QuantizedRuns.W4);
        var firstVersion = runs.Copy(source, "unit-v1");
        foreach (var file in Directory.EnumerateFiles(Path.Combine(firstVersion, "layers"), "*.safetensors", SearchOption.AllDirectories))
        {
            WriteFirstVersion(file);
        }

        var current = runs.NewFolder("from-v2");
        var old = runs.NewFolder("from-v1");
        RunExport.Run(new PackOptions(source, current, format, KeepMtp: false, Overwrite: false, ModelPath: null));
        RunExport.Run(new PackOptions(firstVersion, old, format, KeepMtp: false, Overwrite: false, ModelPath: null));

        AssertSameFiles(current, old);
    }

    [Fact]
    public async Task Should_refuse_packed_codes_with_a_stray_bit_naming_the_state_file_and_tensor()
    {
        var (source, _) = await runs.Get(QuantizedRuns.W3);
        var saveDir = runs.Copy(source, "stray-bit");
        var unit = Path.Combine(saveDir, "layers", "001", "mlp.experts.2.down_proj.safetensors");
        const string codes = "model.layers.1.mlp.experts.2.down_proj.codes";
        long offset;
        using (var file = SafetensorsFile.Open(unit))
        {
            offset = file.GetHeader(codes).DataOffset + 3;
        }

        // The top byte of the first word: bit 31 lies outside ten 3-bit codes.
        using (var stream = File.Open(unit, FileMode.Open))
        {
            stream.Position = offset;
            stream.WriteByte(0x80);
        }

        var output = runs.NewFolder("stray-bit-export");
        var pack = await QuantizedRuns.Invoke("pack", "--save-dir", saveDir, "--output", output);

        Assert.Equal(2, pack.ExitCode);
        Assert.Contains(unit, pack.Error, StringComparison.Ordinal);
        Assert.Contains(codes, pack.Error, StringComparison.Ordinal);
        Assert.Contains("word [0, 0]", pack.Error, StringComparison.Ordinal);
        Assert.Empty(Directory.EnumerateFiles(output, "*.safetensors"));
    }

    private static void AssertSameFiles(string expected, string actual)
    {
        var names = Directory.GetFiles(expected).Select(Path.GetFileName).Order(StringComparer.Ordinal).ToList();
        Assert.Equal(names, Directory.GetFiles(actual).Select(Path.GetFileName).Order(StringComparer.Ordinal));
        Assert.All(names, n => Assert.True(File.ReadAllBytes(Path.Combine(expected, n!)).SequenceEqual(File.ReadAllBytes(Path.Combine(actual, n!))), $"{n} differs"));
    }

    /// <summary>Rewrites a unit state file as "moequant-unit/1" wrote it: one I8 byte per code.</summary>
    private static void WriteFirstVersion(string path)
    {
        var linears = UnitStateFile.Read(path);
        try
        {
            var metadata = new Dictionary<string, string> { ["format"] = "moequant-unit/1" };
            var entries = new List<SafetensorsEntry>();
            foreach (var l in linears)
            {
                entries.AddRange(
                [
                    SafetensorsEntry.FromTensor(l.Name + ".codes", l.Codes), SafetensorsEntry.FromTensor(l.Name + ".scales", l.Scales),
                    SafetensorsEntry.FromTensor(l.Name + ".zero_points", l.ZeroPoints), SafetensorsEntry.FromTensor(l.Name + ".g_idx", l.GIdx),
                ]);
                metadata[l.Name] = $"bits={l.Bits};group_size={l.GroupSize};symmetric={l.Symmetric};contiguous_groups={l.ContiguousGroups}";
            }

            SafetensorsWriter.WriteFile(path, entries, metadata);
        }
        finally
        {
            foreach (var l in linears)
            {
                l.Dispose();
            }
        }
    }
}

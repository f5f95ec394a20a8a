using System.Diagnostics;
using System.Text.Json.Nodes;
using MoeQuant.Coordinator.Diagnostics;
using MoeQuant.Model;
using MoeQuant.Model.Checkpoint;
using MoeQuant.Model.Config;
using MoeQuant.Model.Export;
using MoeQuant.Model.Forward;
using MoeQuant.Model.Quantized;
using MoeQuant.Model.Synthetic;
using static TorchSharp.torch;

namespace MoeQuant.Coordinator.Bench;

/// <summary>What <c>moequant bench export</c> builds and times.</summary>
/// <param name="WorkDir">Folder for the synthetic model, its state and the exports (emptied first, kept after).</param>
/// <param name="Shape">The synthetic model's sizes.</param>
/// <param name="Bits">Code width of every linear.</param>
/// <param name="Threads">Threads of the parallel export; the baseline uses one.</param>
/// <param name="Repeat">Timed exports of each kind, alternating serial and parallel; the fastest counts.</param>
internal sealed record ExportBenchmarkOptions(string WorkDir, SyntheticModelShape Shape, int Bits, int Threads, int Repeat);

/// <summary>
/// Export speed on the CPU: a synthetic DeepSeek-V3-shaped FP8 checkpoint (<see cref="SyntheticCheckpoint"/>) and a
/// quantized state for every linear of its main layers (random codes, 4-bit groups of 128 by default), written as unit
/// state files, packed, and timed beside the same state written one byte per code (the first version's layout, the
/// baseline of the state writes); then <see cref="CheckpointExporter"/> on one thread (the serial writer) and on
/// <see cref="ExportBenchmarkOptions.Threads"/>, into separate folders whose bytes must be equal.
/// </summary>
internal static class ExportBenchmark
{
    private const int GroupSize = 128;

    public static void Run(BenchRecorder recorder, ExportBenchmarkOptions options, TextWriter console)
    {
        if (options.Repeat < 1 || options.Threads < 1 || options.Bits is < 2 or > 8)
        {
            throw new UserInputException("bench export needs --repeat ≥ 1, --threads ≥ 1 and --bits from 2 to 8");
        }

        var work = Path.GetFullPath(options.WorkDir);
        if (Directory.Exists(work))
        {
            Directory.Delete(work, recursive: true);
        }

        // 1) The original checkpoint, on every core.
        var model = Path.Combine(work, "model");
        var synthetic = SyntheticCheckpoint.Write(model, options.Shape.ToConfigJson(), new SyntheticCheckpointOptions());
        console.WriteLine($"model: {synthetic.TensorBytes / 1e9:F2} GB in {synthetic.Elapsed.TotalSeconds:F1} s");

        // 2) The state, one file per unit as a run writes it, each also written one byte per code for comparison.
        var state = WriteState(model, Path.Combine(work, "layers"), options.Bits);
        console.WriteLine($"state: {state.Files.Count} unit files, {state.PackedBytes / 1e9:F2} GB packed in {state.PackedSeconds:F1} s, "
            + $"{state.Int8Bytes / 1e9:F2} GB as int8 in {state.Int8Seconds:F1} s");

        // 3) Serial and parallel exports, alternating so that neither always finds the other's pages cached.
        var serial = new List<double>();
        var parallel = new List<double>();
        for (var i = 0; i < options.Repeat; i++)
        {
            serial.Add(Export(model, state.Files, Path.Combine(work, "serial"), threads: 1));
            parallel.Add(Export(model, state.Files, Path.Combine(work, "parallel"), options.Threads));
            console.WriteLine($"export {i + 1}: one thread {serial[^1]:F2} s, {options.Threads} threads {parallel[^1]:F2} s");
        }

        var (files, bytes, identical) = Compare(Path.Combine(work, "serial"), Path.Combine(work, "parallel"));
        if (!identical)
        {
            throw new InvalidOperationException($"the exports in {work}/serial and {work}/parallel differ");
        }

        recorder.Record(
            "export",
            new
            {
                shape = JsonNode.Parse(options.Shape.ToConfigJson()),
                bits = options.Bits,
                groupSize = GroupSize,
                format = ExportFormat.CompressedTensors.Name(),
                modelBytes = synthetic.TensorBytes,
                quantizedLinears = state.Linears,
                unitFiles = state.Files.Count,
                threads = options.Threads,
                repeat = options.Repeat,
                workDir = work,
                moequant = SystemReport.InformationalVersion(typeof(ExportBenchmark).Assembly),
            },
            new
            {
                exportFiles = files,
                exportBytes = bytes,
                identicalBytes = identical,
                serialSeconds = serial,
                parallelSeconds = parallel,
                serialGigabytesPerSecond = bytes / serial.Min() / 1e9,
                parallelGigabytesPerSecond = bytes / parallel.Min() / 1e9,
                speedup = serial.Min() / parallel.Min(),
                statePackedBytes = state.PackedBytes,
                statePackedSeconds = state.PackedSeconds,
                stateInt8Bytes = state.Int8Bytes,
                stateInt8Seconds = state.Int8Seconds,
            });
    }

    private sealed record State(List<string> Files, int Linears, long PackedBytes, double PackedSeconds, long Int8Bytes, double Int8Seconds);

    private static State WriteState(string model, string layersDir, int bits)
    {
        var config = DeepseekV3Config.Load(Path.Combine(model, "config.json"));
        var files = new List<string>();
        var (linears, packedBytes, int8Bytes) = (0, 0L, 0L);
        var (packed, int8) = (TimeSpan.Zero, TimeSpan.Zero);
        manual_seed(0);
        for (var layer = 0; layer < config.NumHiddenLayers; layer++)
        {
            foreach (var unit in LinearUnit.ForLayer(config, layer).GroupBy(u => u.InputGroup))
            {
                var quantized = unit.Select(u => Random($"model.layers.{layer}.{u.Name}", u.OutFeatures, u.InFeatures, bits)).ToList();
                try
                {
                    var path = Path.Combine(layersDir, $"{layer:D3}", $"{unit.Key}.safetensors");
                    var clock = Stopwatch.StartNew();
                    UnitStateFile.Write(path, quantized);
                    packed += clock.Elapsed;
                    files.Add(path);
                    packedBytes += new FileInfo(path).Length;

                    var baseline = path + ".int8";
                    clock.Restart();
                    WriteInt8(baseline, quantized);
                    int8 += clock.Elapsed;
                    int8Bytes += new FileInfo(baseline).Length;
                    File.Delete(baseline);
                    linears += quantized.Count;
                }
                finally
                {
                    quantized.ForEach(q => q.Dispose());
                }
            }
        }

        return new State(files, linears, packedBytes, packed.TotalSeconds, int8Bytes, int8.TotalSeconds);
    }

    /// <summary>Codes uniform over the signed range, BF16 scales, symmetric, contiguous groups of 128.</summary>
    private static QuantizedLinear Random(string name, long rows, long columns, int bits)
    {
        var groups = (columns + GroupSize - 1) / GroupSize;
        return new QuantizedLinear(
            name,
            randint(-(1 << (bits - 1)), 1 << (bits - 1), [rows, columns], ScalarType.Int8),
            (rand([rows, groups]) + 0.01).to_type(ScalarType.BFloat16),
            zeros([rows, groups], ScalarType.Int8),
            arange(columns, ScalarType.Int32).div(GroupSize, RoundingMode.floor),
            bits,
            GroupSize,
            Symmetric: true,
            ContiguousGroups: true);
    }

    // The same tensors with one I8 byte per code, as moequant-unit/1 stored them: the state writes' baseline.
    private static void WriteInt8(string path, List<QuantizedLinear> linears) => SafetensorsWriter.WriteFile(path, [
        .. linears.SelectMany(q => new[]
        {
            SafetensorsEntry.FromTensor(q.Name + ".codes", q.Codes), SafetensorsEntry.FromTensor(q.Name + ".scales", q.Scales),
            SafetensorsEntry.FromTensor(q.Name + ".zero_points", q.ZeroPoints), SafetensorsEntry.FromTensor(q.Name + ".g_idx", q.GIdx),
        }),
    ]);

    private static double Export(string model, IReadOnlyList<string> state, string output, int threads)
    {
        var clock = Stopwatch.StartNew();
        CheckpointExporter.Export(new ExportRequest
        {
            ModelFolder = model,
            UnitStateFiles = state,
            OutputFolder = output,
            Overwrite = true,
            Threads = threads,
            Provenance = new ExportProvenance("bench", "", "", new Dictionary<string, string>()),
        });
        return clock.Elapsed.TotalSeconds;
    }

    private static (int Files, long Bytes, bool Identical) Compare(string expected, string actual)
    {
        var names = Directory.GetFiles(expected).Select(Path.GetFileName).Order(StringComparer.Ordinal).ToList();
        var identical = names.SequenceEqual(Directory.GetFiles(actual).Select(Path.GetFileName).Order(StringComparer.Ordinal))
            && names.All(n => SameBytes(Path.Combine(expected, n!), Path.Combine(actual, n!)));
        var bytes = names.Where(n => n!.EndsWith(".safetensors", StringComparison.Ordinal)).Sum(n => new FileInfo(Path.Combine(expected, n!)).Length);
        return (names.Count, bytes, identical);
    }

    private static bool SameBytes(string a, string b)
    {
        using var left = File.OpenRead(a);
        using var right = File.OpenRead(b);
        if (left.Length != right.Length)
        {
            return false;
        }

        var (x, y) = (new byte[1 << 20], new byte[1 << 20]);
        for (int read; (read = left.ReadAtLeast(x, x.Length, throwOnEndOfStream: false)) > 0;)
        {
            right.ReadExactly(y, 0, read);
            if (!x.AsSpan(0, read).SequenceEqual(y.AsSpan(0, read)))
            {
                return false;
            }
        }

        return true;
    }
}

using MoeQuant.Model.Tokenization;

namespace MoeQuant.Model.Calibration;

/// <summary>
/// Prepares calibration samples from local files as MoE-Quant's <c>prepare_calibration_dataset</c> does from the hub:
/// conversation datasets are shuffled with numpy's generator (the rows MoE-Quant picks for the same seed and files) and
/// the first rows taken; text datasets are read as a stream through a 1000-row shuffle buffer, as MoE-Quant streams
/// fineweb-edu (same algorithm; its draws depend on the hub's shard list, so the rows differ).
/// </summary>
public static class CalibrationData
{
    private const int StreamingBufferSize = 1000;

    /// <summary>Draws <see cref="CalibrationOptions.NumCalibrationSamples"/> samples, skipping (and counting) those under 2 tokens.</summary>
    /// <param name="options">Dataset, sample count, length cap and seed.</param>
    /// <param name="tokenizer">The model's tokenizer; null only for datasets of token-id arrays.</param>
    /// <param name="cancellation">Stops reading.</param>
    /// <exception cref="UserInputException">The dataset is missing, empty, malformed, or needs a tokenizer or chat template it lacks.</exception>
    public static async Task<CalibrationSet> PrepareAsync(CalibrationOptions options, HfTokenizer? tokenizer, CancellationToken cancellation = default)
    {
        ArgumentNullException.ThrowIfNull(options);
        if (options.NumCalibrationSamples < 1 || options.MaxSequenceLength < 2 || options.Seed < 0)
        {
            throw new UserInputException("--num-calibration-samples must be at least 1, --max-sequence-length at least 2 and --seed not negative");
        }

        var dataset = DatasetFiles.Resolve(options);
        var counts = new long[dataset.Files.Count];
        for (var i = 0; i < counts.Length; i++)
        {
            counts[i] = await RowReader.CountAsync(dataset.Files[i], cancellation);
        }

        var source = dataset.Files.Count == 1 ? dataset.Files[0] : $"{dataset.Files.Count} files in {Path.GetDirectoryName(dataset.Files[0])}";
        if (counts.Sum() == 0)
        {
            throw new UserInputException($"{source}: the dataset is empty");
        }

        var first = await FirstRowAsync(dataset.Files[Array.FindIndex(counts, c => c > 0)], cancellation);
        var kind = SampleBuilder.Detect(first);
        if (dataset.Known is { } known && kind != known.Kind)
        {
            throw new UserInputException($"{first.Location}: rows look like {kind}, but {known.Name} has {known.Kind} rows");
        }

        var builder = new SampleBuilder(kind, tokenizer, options.MaxSequenceLength);
        var rows = kind == RowKind.Text
            ? StreamShuffledAsync(dataset.Files, (ulong)options.Seed, cancellation)
            : PermutedAsync(dataset.Files, counts, (ulong)options.Seed, options.NumCalibrationSamples, cancellation);
        var samples = new List<int[]>();
        var tooShort = 0;
        await foreach (var row in rows)
        {
            var ids = builder.Build(row);
            if (ids.Length < 2)
            {
                tooShort++;
                continue;
            }

            samples.Add(ids);
            if (samples.Count == options.NumCalibrationSamples)
            {
                break;
            }
        }

        return samples.Count == 0
            ? throw new UserInputException($"{source}: no row gives 2 or more tokens ({tooShort} rows skipped)")
            : new CalibrationSet(samples, tooShort, Warnings(options, kind, samples.Count, tooShort), source);
    }

    private static List<string> Warnings(CalibrationOptions options, RowKind kind, int count, int tooShort)
    {
        var warnings = new List<string>();
        if (count < options.NumCalibrationSamples)
        {
            warnings.Add($"only {count} of the {options.NumCalibrationSamples} requested calibration samples are available; using all of them");
        }

        if (tooShort > 0)
        {
            warnings.Add($"skipped {tooShort} rows shorter than 2 tokens");
        }

        if (kind == RowKind.OpenThoughts)
        {
            warnings.Add("the DeepSeek chat template has no slot for reasoning_content, so the <|begin_of_thought|> text is dropped, "
                + "as in MoE-Quant");
        }

        return warnings;
    }

    private static async Task<Row> FirstRowAsync(string file, CancellationToken cancellation)
    {
        await foreach (var (_, row) in RowReader.ReadAsync(file, new HashSet<long> { 0 }, cancellation))
        {
            return row;
        }

        throw new UserInputException($"{file}: has no rows");
    }

    /// <summary>
    /// Rows in the order of <c>Dataset.shuffle(seed)</c> over all files. The first batch is the requested count, so without
    /// skipped rows each file is read once; later batches double, so skips cost few extra passes.
    /// </summary>
    private static async IAsyncEnumerable<Row> PermutedAsync(IReadOnlyList<string> files, long[] counts, ulong seed, int firstBatch,
        [System.Runtime.CompilerServices.EnumeratorCancellation] CancellationToken cancellation)
    {
        var total = counts.Sum();
        var permutation = new NumpyGenerator(seed).Permutation(total > int.MaxValue
            ? throw new UserInputException($"{files[0]}: more than {int.MaxValue} rows")
            : (int)total);
        var starts = new long[counts.Length];
        for (var i = 1; i < counts.Length; i++)
        {
            starts[i] = starts[i - 1] + counts[i - 1];
        }

        var batch = Math.Min(firstBatch, permutation.Length);
        for (var next = 0; next < permutation.Length; next += batch, batch = (int)Math.Min(2L * batch, permutation.Length - next))
        {
            var indices = permutation.AsSpan(next, batch).ToArray();
            var rows = new Dictionary<long, Row>();
            for (var f = 0; f < files.Count; f++)
            {
                var wanted = indices.Where(i => i >= starts[f] && i < starts[f] + counts[f]).Select(i => i - starts[f]).ToHashSet();
                if (wanted.Count == 0)
                {
                    continue;
                }

                await foreach (var (local, row) in RowReader.ReadAsync(files[f], wanted, cancellation))
                {
                    rows[starts[f] + local] = row;
                }
            }

            foreach (var index in indices)
            {
                yield return rows[index];
            }
        }
    }

    /// <summary>HF streaming <c>shuffle(seed, buffer_size=1000)</c>: files in shuffled order, then a reservoir-style buffer.</summary>
    private static async IAsyncEnumerable<Row> StreamShuffledAsync(IReadOnlyList<string> files, ulong seed,
        [System.Runtime.CompilerServices.EnumeratorCancellation] CancellationToken cancellation)
    {
        var random = new NumpyGenerator(seed);
        var buffer = new List<Row>(StreamingBufferSize);
        foreach (var file in random.Permutation(files.Count).Select(i => files[i]))
        {
            await foreach (var (_, row) in RowReader.ReadAsync(file, null, cancellation))
            {
                if (buffer.Count < StreamingBufferSize)
                {
                    buffer.Add(row);
                    continue;
                }

                var slot = random.Interval(StreamingBufferSize - 1);
                yield return buffer[slot];
                buffer[slot] = row;
            }
        }

        random.Shuffle(buffer);
        foreach (var row in buffer)
        {
            yield return row;
        }
    }
}

using MoeQuant.Model.Calibration;
using MoeQuant.Model.Tests.Tokenization;
using MoeQuant.Model.Tokenization;

namespace MoeQuant.Model.Tests.Calibration;

public sealed class CalibrationDataTests : IDisposable
{
    private static readonly HfTokenizer Tokenizer = DeepSeekTokenizer.Instance;
    private readonly DatasetFolder _data = new();

    public void Dispose() => _data.Dispose();

    [Fact]
    public async Task Should_build_open_platypus_from_a_named_local_folder_in_numpy_shuffle_order()
    {
        var lines = Enumerable.Range(0, 10).Select(i => $"{{\"instruction\": \"question {i}\", \"output\": \"answer {i}\"}}");
        _data.Write("open-platypus/data/train-00000-of-00001.jsonl", string.Join("\n", lines));
        _data.Write("open-platypus/README.md", "not data");

        var set = await Prepare("open-platypus", samples: 3);

        // numpy: default_rng(0).permutation(10) starts 4, 6, 2.
        var expected = new[] { 4, 6, 2 }.Select(i => Tokenizer.Encode(Tokenizer.GetChatTemplate().Render(
            [new("user", $"question {i}"), new("assistant", $"answer {i}")], addGenerationPrompt: false)));
        Assert.Equal(expected, set.Samples);
        Assert.Empty(set.Warnings);
    }

    [Fact]
    public async Task Should_build_open_thoughts_from_the_hf_cache_keeping_only_the_solution()
    {
        var row = new OpenThoughtsRow
        {
            system = "Think first.",
            conversations =
            [
                new() { from = "user", value = "2+2?" },
                new() { from = "assistant", value = "<|begin_of_thought|>\nadd\n<|end_of_thought|>\n<|begin_of_solution|>\n\u001c4 \n<|end_of_solution|>" },
            ],
        };
        _data.WriteParquet("datasets--open-thoughts--OpenThoughts-114k/snapshots/abc/data/train-00000-of-00001.parquet", [row]);
        _data.WriteParquet("datasets--open-thoughts--OpenThoughts-114k/snapshots/abc/metadata/train-00000-of-00001.parquet", [new { x = 1 }]);

        var set = await Prepare("open-thoughts", samples: 5);

        var text = "<｜begin▁of▁sentence｜>Think first.<｜User｜>2+2?<｜Assistant｜>4<｜end▁of▁sentence｜>";
        Assert.Equal([Tokenizer.Encode(text)], set.Samples);
        Assert.Contains(set.Warnings, w => w.StartsWith("only 1 of the 5 requested", StringComparison.Ordinal));
        Assert.Contains(set.Warnings, w => w.Contains("reasoning_content", StringComparison.Ordinal));
    }

    [Fact]
    public async Task Should_stream_fineweb_edu_through_the_shuffle_buffer_with_bos_first()
    {
        _data.Write("fineweb-edu/sample/10BT/000_00000.jsonl", string.Join("\n", Enumerable.Range(0, 5).Select(i => $"{{\"text\": \"doc {i}\"}}")));

        var set = await Prepare("fineweb-edu", samples: 3);

        // Fewer rows than the 1000-row buffer: the buffer is shuffled as numpy's permutation(5) with seed 0, 2 4 3 0 1.
        Assert.Equal(new[] { 2, 4, 3 }.Select(i => new[] { 0 }.Concat(Tokenizer.Encode($"doc {i}"))), set.Samples);
    }

    [Fact]
    public async Task Should_encode_text_with_bos_and_truncate_to_the_maximum_length()
    {
        var path = _data.Write("docs.txt", "First paragraph has\nmany words in it, more than five tokens.\n\n\nSecond one.\n");

        var set = await CalibrationData.PrepareAsync(new CalibrationOptions(path, 10, MaxSequenceLength: 5), Tokenizer);

        Assert.Equal(2, set.Samples.Count);
        Assert.All(set.Samples, s => Assert.Equal(0, s[0]));
        Assert.Contains([0, .. Tokenizer.Encode("First paragraph has\nmany words in it, more than five tokens.")[..4]], set.Samples);
        Assert.Contains([0, .. Tokenizer.Encode("Second one.")], set.Samples);
    }

    [Fact]
    public async Task Should_use_pre_tokenized_rows_without_a_tokenizer_skipping_and_counting_short_ones()
    {
        var path = _data.Write("ids.jsonl", "[1, 2, 3]\n[7]\n\n[4, 5]\n[]\n");

        var set = await CalibrationData.PrepareAsync(new CalibrationOptions(path, 10, MaxSequenceLength: 2), tokenizer: null);

        Assert.Equal(2, set.SkippedTooShort);
        Assert.Equal([[1, 2], [4, 5]], set.Samples.OrderBy(s => s[0]));
        Assert.Contains("skipped 2 rows shorter than 2 tokens", set.Warnings);
    }

    [Fact]
    public async Task Should_draw_further_rows_in_shuffle_order_to_replace_skipped_ones()
    {
        // Even rows have one token; numpy's permutation(10) with seed 0 is 4 6 2 7 3 5 9 0 8 1, so its first odd rows are 7 3 5 9.
        var path = _data.Write("ids.jsonl", string.Join("\n", Enumerable.Range(0, 10).Select(i => i % 2 == 0 ? $"[{i}]" : $"[{i}, {i}]")));

        var set = await CalibrationData.PrepareAsync(new CalibrationOptions(path, 4), tokenizer: null);

        Assert.Equal([7, 3, 5, 9], set.Samples.Select(s => s[0]));
        Assert.Equal(3, set.SkippedTooShort);
    }

    [Fact]
    public async Task Should_sample_reproducibly_by_seed()
    {
        var path = _data.Write("ids.jsonl", string.Join("\n", Enumerable.Range(0, 50).Select(i => $"[{i}, {i}]")));
        async Task<int[]> FirstIds(int seed) => [.. (await CalibrationData.PrepareAsync(new CalibrationOptions(path, 5, Seed: seed), null)).Samples.Select(s => s[0])];

        Assert.Equal(await FirstIds(3), await FirstIds(3));
        Assert.NotEqual(await FirstIds(3), await FirstIds(4));
    }

    [Theory]
    [InlineData("empty.jsonl", "\n\n", "the dataset is empty")]
    [InlineData("bad.jsonl", "{\"text\": \"a\"}\n\n{\"text\": \"b\"\n", "bad.jsonl:3: not valid JSON")]
    [InlineData("platypus.jsonl", "{\"instruction\": \"q\"}", "platypus.jsonl:1: missing text field 'output'")]
    [InlineData("other.jsonl", "{\"prompt\": \"q\"}", "other.jsonl:1: no 'text' field")]
    [InlineData("ids.jsonl", "[1, -2]", "ids.jsonl:1: -2 is not a token id (0 to 128814)")]
    [InlineData("broken.parquet", "PAR1 this is not parquet", "broken.parquet: not a readable parquet file")]
    [InlineData("data.csv", "a,b", "data.csv: calibration files must be .jsonl, .parquet or .txt")]
    public async Task Should_refuse_bad_files_naming_file_and_line(string name, string content, string message)
    {
        var path = _data.Write(name, content);
        var e = await Assert.ThrowsAsync<UserInputException>(() => CalibrationData.PrepareAsync(new CalibrationOptions(path, 10), Tokenizer));
        Assert.Contains(message, e.Message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Should_tell_what_to_download_for_a_named_dataset_without_local_copy()
    {
        var e = await Assert.ThrowsAsync<UserInputException>(() => Prepare("open-thoughts", samples: 1));
        Assert.Contains("huggingface-cli download --repo-type dataset open-thoughts/OpenThoughts-114k --include 'data/*'", e.Message, StringComparison.Ordinal);
        Assert.Contains(_data.Root, e.Message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Should_refuse_conversations_without_thought_markers_and_text_without_a_tokenizer()
    {
        _data.WriteParquet("open-thoughts/data/train.parquet",
            [new OpenThoughtsRow { system = "s", conversations = [new() { from = "assistant", value = "no markers" }] }]);
        var e = await Assert.ThrowsAsync<UserInputException>(() => Prepare("open-thoughts", samples: 1));
        Assert.Contains("train.parquet: row 1: an assistant turn lacks <|begin_of_thought|>", e.Message, StringComparison.Ordinal);

        var text = _data.Write("t.jsonl", "\"plain text\"");
        e = await Assert.ThrowsAsync<UserInputException>(() => CalibrationData.PrepareAsync(new CalibrationOptions(text, 1), tokenizer: null));
        Assert.Contains("Text rows need a tokenizer", e.Message, StringComparison.Ordinal);
    }

    private Task<CalibrationSet> Prepare(string name, int samples) =>
        CalibrationData.PrepareAsync(new CalibrationOptions(name, samples) { DatasetRoots = [_data.Root] }, Tokenizer);
}

using System.Text.Json;
using MoeQuant.Model.Tokenization;

namespace MoeQuant.Model.Tests.Tokenization;

public class HfTokenizerTests
{
    private static readonly HfTokenizer Tokenizer = DeepSeekTokenizer.Instance;

    [Fact]
    public void Should_read_vocabulary_special_tokens_and_bos_settings()
    {
        Assert.Equal(128815, Tokenizer.VocabularySize);
        Assert.Equal("<｜begin▁of▁sentence｜>", Tokenizer.BosToken);
        Assert.Equal(0, Tokenizer.BosId);
        Assert.Equal(1, Tokenizer.EosId);
        Assert.True(Tokenizer.AddBosToken);
        Assert.False(Tokenizer.AddEosToken);
        Assert.Equal(818, Tokenizer.AddedTokens.Count);
    }

    [Theory]
    [InlineData("Hello")]
    [InlineData("the")]
    [InlineData("123")]
    public void Should_encode_a_whole_vocabulary_word_as_its_single_id(string word)
    {
        var id = Tokenizer.TokenToId(word);
        Assert.NotNull(id);
        Assert.Equal([id.Value], Tokenizer.Encode(word));
    }

    [Fact]
    public void Should_look_non_ascii_words_up_in_their_byte_level_spelling()
    {
        // The vocabulary stores UTF-8 bytes in GPT-2's alphabet: 中文 is E4 B8 AD E6 96 87.
        Assert.Equal([Tokenizer.TokenToId("ä¸Ńæĸĩ")!.Value], Tokenizer.Encode("中文"));
    }

    [Fact]
    public void Should_encode_a_leading_space_as_part_of_the_word_in_byte_level_form()
    {
        // "Ġworld" is " world" in GPT-2's byte alphabet.
        Assert.Equal([Tokenizer.TokenToId("Hello")!.Value, Tokenizer.TokenToId("Ġworld")!.Value], Tokenizer.Encode("Hello world"));
    }

    [Fact]
    public void Should_split_digits_into_groups_of_three()
    {
        int[] expected = [Tokenizer.TokenToId("123")!.Value, Tokenizer.TokenToId("456")!.Value, Tokenizer.TokenToId("7")!.Value];
        Assert.Equal(expected, Tokenizer.Encode("1234567"));
    }

    [Fact]
    public void Should_map_special_token_text_to_its_id_and_add_bos_only_with_special_tokens()
    {
        var hi = Tokenizer.TokenToId("Hi")!.Value;
        Assert.Equal([0, hi, 128803, hi], Tokenizer.Encode("<｜begin▁of▁sentence｜>Hi<｜User｜>Hi"));
        Assert.Equal([0, hi], Tokenizer.Encode("Hi", addSpecialTokens: true));
        Assert.Equal([hi], Tokenizer.Encode("Hi"));
    }

    [Fact]
    public void Should_encode_lone_surrogates_as_the_replacement_character_as_utf8_does()
    {
        Assert.Equal(Tokenizer.Encode("a\uFFFDb\uFFFD"), Tokenizer.Encode("a\uD800b\uDC00"));
        Assert.Equal(Tokenizer.Encode("\uFFFD\uFFFD"), Tokenizer.Encode("\uDC00\uD800"));
    }

    [Theory]
    [InlineData("")]
    [InlineData("Hello, world!\n\n  def f(x):\n\treturn x ** 2  # square")]
    [InlineData("数据集 データ 데이터 данные 😀👍🏽 𠀀 e\u0301 ½ ٣٤٥")]
    [InlineData("\u0000\u0007\u001b[0m\u00a0\u3000\u2028 \r\n\r\n")]
    [InlineData("<｜User｜>hi<｜Assistant｜>ok<｜end▁of▁sentence｜>")]
    public void Should_round_trip_decode_of_encode(string text)
    {
        Assert.Equal(text, Tokenizer.Decode(Tokenizer.Encode(text)));
    }

    [Fact]
    public void Should_skip_special_tokens_when_asked_but_keep_non_special_added_tokens()
    {
        var ids = Tokenizer.Encode("<｜begin▁of▁sentence｜>a<｜tool▁sep｜>b<｜end▁of▁sentence｜>");
        Assert.Equal("a<｜tool▁sep｜>b", Tokenizer.Decode(ids, skipSpecialTokens: true));
    }

    [Fact]
    public void Should_decode_a_cut_multibyte_character_as_replacement_character()
    {
        var ids = Tokenizer.Encode("😀");
        Assert.True(ids.Length > 1, JsonSerializer.Serialize(ids));
        Assert.Equal("\uFFFD", Tokenizer.Decode(ids[..1]).Distinct().Single().ToString());
    }

    [Fact]
    public void Should_refuse_unknown_ids_in_decode()
    {
        Assert.Throws<ArgumentOutOfRangeException>(() => Tokenizer.Decode([Tokenizer.VocabularySize]));
    }
}

using System.Text;

namespace MoeQuant.Model.Tokenization;

/// <summary>
/// A HuggingFace fast tokenizer loaded from a model folder (<c>tokenizer.json</c> and <c>tokenizer_config.json</c>) that
/// produces the same ids as HF <c>tokenizers</c> and transformers' <c>LlamaTokenizerFast</c> for DeepSeek-V3/R1.
/// </summary>
/// <remarks>
/// The pipeline is HF's: added tokens matched in two passes, the <c>Split</c> regexes run on code points
/// (<see cref="SplitPreTokenizer"/>), then byte-level BPE (<see cref="BytePairEncoder"/>); lone surrogates are read as
/// UTF-8 reads them, bos/eos come from the config, and decoding is HF's ByteLevel decoder. Microsoft.ML.Tokenizers'
/// BpeTokenizer gives the same ids once fed these pieces, but its merge loop is quadratic in the piece length (100k CJK
/// chars: 17 s against HF's 0.4 s), so the merges are done here with HF's heap. Instances are safe to share between threads.
/// </remarks>
public sealed class HfTokenizer
{
    [ThreadStatic]
    private static EncodeScratch? _scratch;

    private readonly SplitPreTokenizer _preTokenizer;
    private readonly BytePairEncoder _bpe;
    private readonly AddedTokenMatcher _addedTokens;
    private readonly string?[] _idToToken;
    private readonly bool[] _isSpecial;
    private readonly Dictionary<string, int> _tokenToId;
    private readonly string? _chatTemplateText;
    private readonly string _configPath;

    private HfTokenizer(TokenizerJson json, string tokenizerPath, TokenizerConfigJson config, string configPath)
    {
        _configPath = configPath;
        _preTokenizer = new SplitPreTokenizer(json.SplitPatterns);
        _bpe = new BytePairEncoder(json.Vocabulary, json.Merges, tokenizerPath);
        _addedTokens = new AddedTokenMatcher(json.AddedTokens);
        _tokenToId = new Dictionary<string, int>(json.Vocabulary, StringComparer.Ordinal);
        foreach (var token in json.AddedTokens)
        {
            _tokenToId[token.Content] = token.Id;
        }

        VocabularySize = _tokenToId.Values.Max() + 1;
        _idToToken = new string?[VocabularySize];
        _isSpecial = new bool[VocabularySize];
        foreach (var (token, id) in json.Vocabulary)
        {
            _idToToken[id] = token;
        }

        // HF looks ids up in the added vocabulary first, so an added token wins over a model token with the same id.
        foreach (var token in json.AddedTokens)
        {
            _idToToken[token.Id] = token.Content;
            _isSpecial[token.Id] = token.Special;
        }

        AddedTokens = json.AddedTokens;
        BosToken = config.BosToken;
        EosToken = config.EosToken;
        BosId = LookUpConfigToken(config.BosToken, "bos_token");
        EosId = LookUpConfigToken(config.EosToken, "eos_token");
        AddBosToken = config.AddBosToken && BosId is not null;
        AddEosToken = config.AddEosToken && EosId is not null;
        _chatTemplateText = config.ChatTemplate;
    }

    /// <summary>One more than the largest id of the vocabulary and the added tokens.</summary>
    public int VocabularySize { get; }

    /// <summary>The added tokens (DeepSeek-V3: <c>&lt;｜begin▁of▁sentence｜&gt;</c>, <c>&lt;｜User｜&gt;</c>, …).</summary>
    public IReadOnlyList<AddedToken> AddedTokens { get; }

    /// <summary>The bos token text from <c>tokenizer_config.json</c>, or null.</summary>
    public string? BosToken { get; }

    /// <summary>The eos token text from <c>tokenizer_config.json</c>, or null.</summary>
    public string? EosToken { get; }

    /// <summary>The id of <see cref="BosToken"/>, or null.</summary>
    public int? BosId { get; }

    /// <summary>The id of <see cref="EosToken"/>, or null.</summary>
    public int? EosId { get; }

    /// <summary>Whether <see cref="Encode"/> with special tokens prepends <see cref="BosId"/> (<c>add_bos_token</c>).</summary>
    public bool AddBosToken { get; }

    /// <summary>Whether <see cref="Encode"/> with special tokens appends <see cref="EosId"/> (<c>add_eos_token</c>).</summary>
    public bool AddEosToken { get; }

    /// <summary>Loads <c>tokenizer.json</c> and, when present, <c>tokenizer_config.json</c> from <paramref name="directory"/>.</summary>
    /// <exception cref="UserInputException">A file is missing, malformed, or describes a tokenizer MoeQuant does not support.</exception>
    public static HfTokenizer Load(string directory)
    {
        var tokenizerPath = Path.Combine(directory, "tokenizer.json");
        if (!File.Exists(tokenizerPath))
        {
            throw new UserInputException($"{directory}: no tokenizer.json there; pass the model folder that holds tokenizer.json and tokenizer_config.json");
        }

        var configPath = Path.Combine(directory, "tokenizer_config.json");
        var config = File.Exists(configPath)
            ? TokenizerConfigJson.Load(configPath)
            : new TokenizerConfigJson(null, null, false, false, null);
        return new HfTokenizer(TokenizerJson.Load(tokenizerPath), tokenizerPath, config, configPath);
    }

    /// <summary>
    /// Encodes <paramref name="text"/> as HF does with <c>add_special_tokens=<paramref name="addSpecialTokens"/></c>.
    /// Added tokens in the text (such as the bos text a chat template writes) always become their ids.
    /// </summary>
    public int[] Encode(string text, bool addSpecialTokens = false)
    {
        ArgumentNullException.ThrowIfNull(text);
        text = ReplaceLoneSurrogates(text);

        // This thread's lists, reused from call to call: only the result array is allocated per document.
        var scratch = _scratch ??= new EncodeScratch();
        var (segments, pieces, ids) = (scratch.Segments, scratch.Pieces, scratch.Ids);
        segments.Clear();
        ids.Clear();
        _addedTokens.Split(text, segments);
        if (addSpecialTokens && AddBosToken)
        {
            ids.Add(BosId!.Value);
        }

        foreach (var (start, length, tokenId) in segments)
        {
            if (tokenId >= 0)
            {
                ids.Add(tokenId);
            }
            else
            {
                var segment = text.AsSpan(start, length);
                _preTokenizer.PreTokenize(segment, pieces);
                foreach (var (offset, pieceLength) in pieces)
                {
                    _bpe.Encode(segment.Slice(offset, pieceLength), ids);
                }
            }
        }

        if (addSpecialTokens && AddEosToken)
        {
            ids.Add(EosId!.Value);
        }

        var result = ids.ToArray();
        if (ids.Capacity > EncodeScratch.MaxCapacity || pieces.Capacity > EncodeScratch.MaxCapacity)
        {
            _scratch = null;
        }

        return result;
    }

    /// <summary>
    /// Decodes ids as HF's <c>ByteLevel</c> decoder does: each token's bytes, or its UTF-8 text when it has a char outside
    /// the byte alphabet (added tokens such as <c>&lt;｜User｜&gt;</c>), then UTF-8 with U+FFFD for invalid bytes.
    /// </summary>
    /// <exception cref="ArgumentOutOfRangeException">An id is not in the vocabulary.</exception>
    public string Decode(IEnumerable<int> ids, bool skipSpecialTokens = false)
    {
        ArgumentNullException.ThrowIfNull(ids);
        var bytes = new List<byte>();
        foreach (var id in ids)
        {
            var token = IdToToken(id) ?? throw new ArgumentOutOfRangeException(nameof(ids), id, "the id is not in the vocabulary");
            if (!(skipSpecialTokens && _isSpecial[id]))
            {
                ByteLevel.AppendTokenBytes(token, bytes);
            }
        }

        return Encoding.UTF8.GetString([.. bytes]);
    }

    /// <summary>The id of a vocabulary or added token, or null.</summary>
    public int? TokenToId(string token) => _tokenToId.TryGetValue(token, out var id) ? id : null;

    /// <summary>The vocabulary or added token with this id (byte-level form, e.g. <c>Ġthe</c>), or null.</summary>
    public string? IdToToken(int id) => id >= 0 && id < _idToToken.Length ? _idToToken[id] : null;

    /// <summary>The chat template of <c>tokenizer_config.json</c>, if it is one MoeQuant knows.</summary>
    /// <exception cref="UserInputException">There is no chat template, or it is not a known DeepSeek-V3/R1 template.</exception>
    public ChatTemplate GetChatTemplate() => _chatTemplateText is null
        ? throw new UserInputException($"{_configPath}: no chat_template (and no chat_template.jinja beside it)")
        : ChatTemplate.Recognize(_chatTemplateText, _configPath, BosToken ?? "");

    private int? LookUpConfigToken(string? token, string key) => token is null
        ? null
        : TokenToId(token) ?? throw new UserInputException($"{_configPath}: {key} '{token}' is not in tokenizer.json's vocabulary or added tokens");

    /// <summary>C# strings may hold unpaired surrogates; UTF-8 encoding (and so any HF caller) sees U+FFFD there.</summary>
    private static string ReplaceLoneSurrogates(string text)
    {
        var first = text.AsSpan().IndexOfAnyInRange('\uD800', '\uDFFF');
        if (first < 0)
        {
            return text;
        }

        var chars = text.ToCharArray();
        for (var i = first; i < chars.Length; i++)
        {
            if (char.IsHighSurrogate(chars[i]) && i + 1 < chars.Length && char.IsLowSurrogate(chars[i + 1]))
            {
                i++;
            }
            else if (char.IsSurrogate(chars[i]))
            {
                chars[i] = '\uFFFD';
            }
        }

        return new string(chars);
    }

    private sealed class EncodeScratch
    {
        // A huge document's lists are dropped after it rather than kept for the thread's lifetime.
        public const int MaxCapacity = 1 << 20;

        public List<(int Start, int Length, int TokenId)> Segments { get; } = [];

        public List<(int Offset, int Length)> Pieces { get; } = [];

        public List<int> Ids { get; } = [];
    }
}

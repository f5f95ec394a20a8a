using System.Text;

namespace MoeQuant.Model.Tokenization;

/// <summary>
/// The DeepSeek-V3/R1 chat templates, rendered in C# for system/user/assistant conversations exactly as transformers'
/// Jinja renders them. No Jinja engine is served here, so a template is accepted only when its text is one of the known
/// ones; anything else is refused rather than rendered differently.
/// </summary>
/// <remarks>
/// The known texts are DeepSeek-V3's (embedded, from tokenizer_config.json) and its R1 variants, which differ in three
/// places: how several system messages combine (joined by a blank line, or the last one wins), whether an assistant turn
/// keeps only what follows its last <c>&lt;/think&gt;</c>, and whether the generation prompt opens a <c>&lt;think&gt;</c>
/// block. Every combination of the three is accepted.
/// </remarks>
public sealed class ChatTemplate
{
    private const string User = "<｜User｜>";
    private const string Assistant = "<｜Assistant｜>";
    private const string EndOfSentence = "<｜end▁of▁sentence｜>";
    private const string EndOfThink = "</think>";

    private const string JoinSystems = "system_prompt='', is_first_sp=true) %}{%- for message in messages %}{%- if message['role'] == 'system' %}"
        + "{%- if ns.is_first_sp %}{% set ns.system_prompt = ns.system_prompt + message['content'] %}{% set ns.is_first_sp = false %}"
        + "{%- else %}{% set ns.system_prompt = ns.system_prompt + '\n\n' + message['content'] %}{%- endif %}{%- endif %}";
    private const string LastSystem = "system_prompt='') %}{%- for message in messages %}{%- if message['role'] == 'system' %}"
        + "{% set ns.system_prompt = message['content'] %}{%- endif %}";
    private const string KeepAssistant = "{%- else %}{{'<｜Assistant｜>' + message['content'] + '<｜end▁of▁sentence｜>'}}";
    private const string StripAssistant = "{%- else %}{% set content = message['content'] %}{% if '</think>' in content %}"
        + "{% set content = content.split('</think>')[-1] %}{% endif %}{{'<｜Assistant｜>' + content + '<｜end▁of▁sentence｜>'}}";
    private const string PlainPrompt = "{{'<｜Assistant｜>'}}{% endif %}";
    private const string ThinkPrompt = "{{'<｜Assistant｜><think>\n'}}{% endif %}";

    private static readonly Lazy<Dictionary<string, (bool JoinSystems, bool StripThinking, string Prompt, string Name)>> Known = new(BuildKnown);
    private readonly bool _joinSystems;
    private readonly bool _stripThinking;
    private readonly string _bosToken;

    private ChatTemplate(string name, bool joinSystems, bool stripThinking, string generationPrompt, string bosToken)
    {
        Name = name;
        _joinSystems = joinSystems;
        _stripThinking = stripThinking;
        GenerationPrompt = generationPrompt;
        _bosToken = bosToken;
    }

    /// <summary>Which known template this is, e.g. <c>deepseek-v3</c> or <c>deepseek-r1 (think prompt)</c>.</summary>
    public string Name { get; }

    /// <summary>What <c>add_generation_prompt</c> appends: <c>&lt;｜Assistant｜&gt;</c>, plus <c>&lt;think&gt;\n</c> for newer R1.</summary>
    public string GenerationPrompt { get; }

    /// <summary>Recognizes <paramref name="template"/> as a known DeepSeek template.</summary>
    /// <param name="template">The <c>chat_template</c> text.</param>
    /// <param name="source">The file it came from, for the error message.</param>
    /// <param name="bosToken">What the template's <c>bos_token</c> renders as.</param>
    /// <exception cref="UserInputException">The template is not a known one.</exception>
    public static ChatTemplate Recognize(string template, string source, string bosToken)
    {
        ArgumentNullException.ThrowIfNull(template);
        if (!Known.Value.TryGetValue(Canonical(template), out var known))
        {
            throw new UserInputException($"{source}: chat_template is not one MoeQuant knows (it implements DeepSeek-V3's and R1's in C#, "
                + "as no Jinja engine is available); use a tokenizer_config.json from DeepSeek-V3/R1, or pre-tokenize the data "
                + "and pass a .jsonl of token-id arrays as the dataset");
        }

        return new ChatTemplate(known.Name, known.JoinSystems, known.StripThinking, known.Prompt, bosToken);
    }

    /// <summary>Renders a conversation as <c>apply_chat_template(messages, tokenize=False, add_generation_prompt=...)</c> does.</summary>
    /// <exception cref="UserInputException">A message has a role other than system, user or assistant.</exception>
    public string Render(IReadOnlyList<ChatMessage> messages, bool addGenerationPrompt)
    {
        ArgumentNullException.ThrowIfNull(messages);
        var text = new StringBuilder(_bosToken);

        // 1) System messages go first, whatever their position: all of them joined by a blank line, or only the last.
        var firstSystem = true;
        foreach (var message in messages.Where(m => m.Role == "system"))
        {
            if (!_joinSystems)
            {
                text.Length = _bosToken.Length;
            }
            else if (!firstSystem)
            {
                text.Append("\n\n");
            }

            text.Append(message.Content);
            firstSystem = false;
        }

        // 2) Then the turns, each assistant turn closed by end-of-sentence.
        foreach (var message in messages)
        {
            switch (message.Role)
            {
                case "system":
                    break;
                case "user":
                    text.Append(User).Append(message.Content);
                    break;
                case "assistant":
                    text.Append(Assistant).Append(_stripThinking ? AfterLastThink(message.Content) : message.Content).Append(EndOfSentence);
                    break;
                default:
                    throw new UserInputException($"chat message role '{message.Role}' is not supported (only system, user and assistant)");
            }
        }

        return addGenerationPrompt ? text.Append(GenerationPrompt).ToString() : text.ToString();
    }

    private static string AfterLastThink(string content)
    {
        var at = content.LastIndexOf(EndOfThink, StringComparison.Ordinal);
        return at < 0 ? content : content[(at + EndOfThink.Length)..];
    }

    /// <summary>A Jinja <c>'\n'</c> escape and a raw newline render alike, and Jinja drops one trailing newline.</summary>
    private static string Canonical(string template)
    {
        var text = template.Replace("\\n", "\n", StringComparison.Ordinal);
        return text.EndsWith('\n') ? text[..^1] : text;
    }

    private static Dictionary<string, (bool, bool, string, string)> BuildKnown()
    {
        using var stream = typeof(ChatTemplate).Assembly.GetManifestResourceStream("deepseek-v3.jinja")!;
        var v3 = Canonical(new StreamReader(stream).ReadToEnd());
        var known = new Dictionary<string, (bool, bool, string, string)>(StringComparer.Ordinal);
        foreach (var join in new[] { true, false })
        {
            foreach (var strip in new[] { false, true })
            {
                foreach (var think in new[] { false, true })
                {
                    var text = Replace(Replace(Replace(v3, JoinSystems, join ? JoinSystems : LastSystem),
                        KeepAssistant, strip ? StripAssistant : KeepAssistant), PlainPrompt, think ? ThinkPrompt : PlainPrompt);
                    var name = (strip ? "deepseek-r1" : "deepseek-v3") + (join ? "" : " (last system wins)") + (think ? " (think prompt)" : "");
                    known[text] = (join, strip, think ? Assistant + "<think>\n" : Assistant, name);
                }
            }
        }

        return known;
    }

    private static string Replace(string text, string fragment, string replacement)
    {
        // The fragments are copied from the embedded template; a miss would silently drop a variant, so fail loudly.
        if (!text.Contains(fragment, StringComparison.Ordinal))
        {
            throw new InvalidOperationException($"embedded chat template lacks the fragment {fragment}");
        }

        return text.Replace(fragment, replacement, StringComparison.Ordinal);
    }
}

using MoeQuant.Model.Tokenization;

namespace MoeQuant.Model.Tests.Tokenization;

/// <summary>Expected strings were rendered from the same templates by jinja2 3.1.6 with transformers' settings.</summary>
public class ChatTemplateTests
{
    private const string Bos = "<｜begin▁of▁sentence｜>";
    private static readonly ChatTemplate V3 = DeepSeekTokenizer.Instance.GetChatTemplate();

    private static readonly ChatMessage[] Conversation =
    [
        new("system", "A"), new("user", "q1"), new("system", "B"),
        new("assistant", "<think>x</think>ans</think>final"), new("user", "q2"),
    ];

    [Fact]
    public void Should_recognize_the_deepseek_v3_template_of_the_fixture()
    {
        Assert.Equal("deepseek-v3", V3.Name);
        Assert.Equal("<｜Assistant｜>", V3.GenerationPrompt);
    }

    [Fact]
    public void Should_render_systems_first_joined_by_a_blank_line_then_turns()
    {
        Assert.Equal(Bos + "A\n\nB<｜User｜>q1<｜Assistant｜><think>x</think>ans</think>final<｜end▁of▁sentence｜><｜User｜>q2",
            V3.Render(Conversation, addGenerationPrompt: false));
        Assert.Equal(Bos + "Be brief.<｜User｜>Hi<｜Assistant｜>Hello!<｜end▁of▁sentence｜><｜Assistant｜>",
            V3.Render([new("system", "Be brief."), new("user", "Hi"), new("assistant", "Hello!")], addGenerationPrompt: true));
        Assert.Equal(Bos, V3.Render([], addGenerationPrompt: false));
    }

    [Fact]
    public void Should_render_r1_variants_keeping_the_last_system_and_the_text_after_the_last_think()
    {
        var r1 = ChatTemplate.Recognize(R1Template(), "r1", Bos);
        Assert.Equal("deepseek-r1 (last system wins) (think prompt)", r1.Name);
        Assert.Equal(Bos + "B<｜User｜>q1<｜Assistant｜>final<｜end▁of▁sentence｜><｜User｜>q2<｜Assistant｜><think>\n",
            r1.Render(Conversation, addGenerationPrompt: true));
    }

    [Fact]
    public void Should_accept_the_template_with_json_style_newline_escapes()
    {
        Assert.Equal("deepseek-v3", ChatTemplate.Recognize(V3Text().Replace("\n", "\\n", StringComparison.Ordinal), "v3", Bos).Name);
    }

    [Fact]
    public void Should_refuse_an_unknown_template_naming_the_file()
    {
        var e = Assert.Throws<UserInputException>(() => ChatTemplate.Recognize("{{ messages[0]['content'] }}", "/m/tokenizer_config.json", Bos));
        Assert.StartsWith("/m/tokenizer_config.json: chat_template is not one MoeQuant knows", e.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void Should_refuse_tool_messages()
    {
        var e = Assert.Throws<UserInputException>(() => V3.Render([new("tool", "{}")], addGenerationPrompt: false));
        Assert.Contains("'tool'", e.Message, StringComparison.Ordinal);
    }

    private static string V3Text()
    {
        using var json = System.Text.Json.JsonDocument.Parse(File.ReadAllBytes(Path.Combine(DeepSeekTokenizer.Directory, "tokenizer_config.json")));
        return json.RootElement.GetProperty("chat_template").GetString()!;
    }

    /// <summary>DeepSeek-R1's later template: last system wins, think stripped, generation prompt opens a think block.</summary>
    private static string R1Template() => V3Text()
        .Replace("system_prompt='', is_first_sp=true) %}{%- for message in messages %}{%- if message['role'] == 'system' %}{%- if ns.is_first_sp %}"
            + "{% set ns.system_prompt = ns.system_prompt + message['content'] %}{% set ns.is_first_sp = false %}{%- else %}"
            + "{% set ns.system_prompt = ns.system_prompt + '\n\n' + message['content'] %}{%- endif %}{%- endif %}",
            "system_prompt='') %}{%- for message in messages %}{%- if message['role'] == 'system' %}{% set ns.system_prompt = message['content'] %}{%- endif %}",
            StringComparison.Ordinal)
        .Replace("{%- else %}{{'<｜Assistant｜>' + message['content'] + '<｜end▁of▁sentence｜>'}}",
            "{%- else %}{% set content = message['content'] %}{% if '</think>' in content %}{% set content = content.split('</think>')[-1] %}"
            + "{% endif %}{{'<｜Assistant｜>' + content + '<｜end▁of▁sentence｜>'}}", StringComparison.Ordinal)
        .Replace("{{'<｜Assistant｜>'}}{% endif %}", "{{'<｜Assistant｜><think>\\n'}}{% endif %}", StringComparison.Ordinal);
}

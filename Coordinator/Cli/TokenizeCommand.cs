using System.CommandLine;
using MoeQuant.Model;
using MoeQuant.Model.Tokenization;

namespace MoeQuant.Coordinator.Cli;

/// <summary><c>moequant tokenize</c>: JSON Lines on stdin to token ids on stdout, for checking what calibration data becomes.</summary>
public static class TokenizeCommand
{
    /// <summary>Builds the command; its action reads the process's stdin and writes stdout, errors to stderr with exit code 2.</summary>
    public static Command Create()
    {
        var model = new Option<string>("--model-name-or-path", "--model_name_or_path")
        {
            Description = "Folder holding tokenizer.json and tokenizer_config.json",
            Required = true,
        };
        var special = new Option<bool>("--add-special-tokens", "--add_special_tokens")
        {
            Description = "Add the tokenizer's special tokens (DeepSeek: bos), as transformers' add_special_tokens=True",
        };
        var chat = new Option<bool>("--chat") { Description = "Each input line is a JSON array of {role, content} messages; output {text, ids}" };
        var generationPrompt = new Option<bool>("--add-generation-prompt", "--add_generation_prompt")
        {
            Description = "With --chat, end with the assistant prompt, as transformers' add_generation_prompt",
        };
        var command = new Command("tokenize", "Tokenize JSON Lines from stdin (each line a JSON string) into JSON arrays of ids on stdout")
        {
            model, special, chat, generationPrompt,
        };
        command.SetAction(parse => Run(parse.GetValue(model)!, parse.GetValue(special), parse.GetValue(chat), parse.GetValue(generationPrompt),
            Console.In, parse.InvocationConfiguration.Output));
        return command;
    }

    /// <summary>Runs the command on the given streams; user errors surface as <see cref="UserInputException"/>, which the CLI reports.</summary>
    public static int Run(string modelDirectory, bool addSpecialTokens, bool chat, bool addGenerationPrompt, TextReader input, TextWriter output)
    {
        if (addGenerationPrompt && !chat)
        {
            throw new UserInputException("--add-generation-prompt applies only with --chat");
        }

        var tokenizer = HfTokenizer.Load(modelDirectory);
        JsonLinesTokenization.Run(tokenizer, input, output, "stdin", addSpecialTokens, chat, addGenerationPrompt);
        return 0;
    }
}

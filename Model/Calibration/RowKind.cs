namespace MoeQuant.Model.Calibration;

/// <summary>The shape of a dataset's rows, which decides how a row becomes token ids.</summary>
internal enum RowKind
{
    /// <summary><c>{"system", "conversations": [{"from", "value"}]}</c>: OpenThoughts, rendered with the chat template.</summary>
    OpenThoughts,

    /// <summary><c>{"instruction", "output"}</c>: Open-Platypus, one user and one assistant turn.</summary>
    Platypus,

    /// <summary><c>{"messages": [{"role", "content"}]}</c>: any conversation, rendered with the chat template.</summary>
    Messages,

    /// <summary><c>{"text"}</c>, a JSON string line, or a .txt paragraph: raw text encoded with special tokens (fineweb-edu).</summary>
    Text,

    /// <summary>A JSON array of token ids, used as is.</summary>
    TokenIds,
}

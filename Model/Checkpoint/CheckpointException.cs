namespace MoeQuant.Model.Checkpoint;

/// <summary>
/// A malformed or inconsistent checkpoint. The message starts with the file (and the tensor, where there is one),
/// so the CLI's one-line report is enough to find the problem.
/// </summary>
public sealed class CheckpointException : UserInputException
{
    public CheckpointException(CheckpointErrorKind kind, string file, string? tensor, string detail)
        : base(Compose(file, tensor, detail))
    {
        Kind = kind;
        File = file;
        Tensor = tensor;
    }

    public CheckpointException(CheckpointErrorKind kind, string file, string? tensor, string detail, Exception inner)
        : base(Compose(file, tensor, detail), inner)
    {
        Kind = kind;
        File = file;
        Tensor = tensor;
    }

    /// <summary>What went wrong.</summary>
    public CheckpointErrorKind Kind { get; }

    /// <summary>Full path of the file (or folder) at fault.</summary>
    public string File { get; }

    /// <summary>The tensor at fault, if the problem concerns one.</summary>
    public string? Tensor { get; }

    private static string Compose(string file, string? tensor, string detail) =>
        tensor is null ? $"{file}: {detail}" : $"{file}: tensor '{tensor}': {detail}";
}

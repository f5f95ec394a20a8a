namespace MoeQuant.Model;

/// <summary>
/// A mistake in what the user gave MoeQuant (a file, a folder, a flag). The CLI prints <see cref="Exception.Message"/>
/// on one line and exits with code 2, without a stack trace; so the message must name the file, tensor or flag.
/// </summary>
public class UserInputException : Exception
{
    public UserInputException(string message)
        : base(message)
    {
    }

    public UserInputException(string message, Exception inner)
        : base(message, inner)
    {
    }
}

namespace MoeQuant.Coordinator.Tests.Pipeline;

/// <summary>Tests that set MoeQuant__ environment variables, and tests whose child processes inherit the environment,
/// run one after another: a variable set by one must not reach the other's run.</summary>
[CollectionDefinition(Collection)]
public sealed class ProcessEnvironment
{
    public const string Collection = "process environment";
}

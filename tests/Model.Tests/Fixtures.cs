namespace MoeQuant.Model.Tests;

/// <summary>Files under tests/Model.Tests/Fixtures, copied beside the test assembly.</summary>
internal static class Fixtures
{
    public static string PathOf(string name) => Path.Combine(AppContext.BaseDirectory, "Fixtures", name);
}

namespace MoeQuant.Benchmarks.Reporting;

/// <summary>
/// Conditions a reader of the results must know (cache state, what "bytes" counts); <see cref="JsonLinesExporter"/>
/// copies it into every line of the benchmark class.
/// </summary>
[AttributeUsage(AttributeTargets.Class)]
public sealed class BenchmarkNoteAttribute(string note) : Attribute
{
    public string Note { get; } = note;
}

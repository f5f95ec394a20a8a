namespace MoeQuant.Kernels.Gptq;

/// <summary>Issue counts over many units, with the units named (MoE-Quant prints only the counts, and only rank 0's).</summary>
/// <param name="Units">Units summarized.</param>
/// <param name="UnitsByIssue">For each single issue flag that occurred, the units that had it, in input order.</param>
public sealed record GptqIssueSummary(int Units, IReadOnlyDictionary<GptqIssues, IReadOnlyList<string>> UnitsByIssue)
{
    /// <summary>Summarizes results.</summary>
    public static GptqIssueSummary From(IEnumerable<QuantResult> results)
    {
        ArgumentNullException.ThrowIfNull(results);
        var list = results.ToList();
        var byIssue = Enum.GetValues<GptqIssues>()
            .Where(flag => flag != GptqIssues.None)
            .Select(flag => (flag, units: list.Where(r => r.Issues.HasFlag(flag)).Select(r => r.Unit).ToList()))
            .Where(x => x.units.Count > 0)
            .ToDictionary(x => x.flag, x => (IReadOnlyList<string>)x.units);
        return new GptqIssueSummary(list.Count, byIssue);
    }

    /// <summary>Units that had <paramref name="issue"/>.</summary>
    public int Count(GptqIssues issue) => UnitsByIssue.TryGetValue(issue, out var units) ? units.Count : 0;

    /// <summary>One log line: <c>units=N ZeroSamples=2 [a, b] …</c>.</summary>
    public override string ToString() =>
        string.Join(' ', UnitsByIssue.Select(kv => $"{kv.Key}={kv.Value.Count} [{string.Join(", ", kv.Value)}]").Prepend($"units={Units}"));
}

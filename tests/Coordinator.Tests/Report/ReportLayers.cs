using MoeQuant.Coordinator.Journal;
using MoeQuant.GpuNode.Durability;
using MoeQuant.Messages;

namespace MoeQuant.Coordinator.Tests.Report;

/// <summary>A save_dir with two committed layers of hand-chosen unit reports, written the way a run writes them.</summary>
internal sealed class ReportLayers : IDisposable
{
    public const string KernelError = "CUDA_ERROR_ILLEGAL_ADDRESS | in gptq_block\nsecond line";

    public ReportLayers() => Layout = new RunLayout(Directory.CreateTempSubdirectory("moequant-report-").FullName);

    public RunLayout Layout { get; }

    /// <summary>Layer 0 is dense; layer 1 has routed experts, one of them with no tokens and one left unquantized.</summary>
    public static IReadOnlyList<UnitReport>[] Units =>
    [
        [
            Unit(0, "self_attn.q_a_proj", 1000, 0.01, 0.04),
            Unit(0, "self_attn.kv_b_proj", 1000, 0.02, 0.05),
            Unit(0, "mlp.gate_proj", 1000, 0.003, 0.006),
        ],
        [
            Unit(1, "mlp.experts.0.gate_proj", 300, 0.1, 0.3),
            Unit(1, "mlp.experts.1.gate_proj", 500, 0.3, 0.5) with { Damping = 0.1, Retries = 1, Fallback = QuantFallback.MoreDamping },
            Unit(1, "mlp.experts.2.gate_proj", 0, double.NaN, double.NaN) with { Issues = QuantIssues.ZeroSamples },
            Unit(1, "mlp.experts.10.down_proj", 300, 0.4, 0.8),
            Unit(1, "mlp.experts.2.down_proj", 200, double.NaN, double.NaN) with
            {
                Damping = 1.0, Retries = 3, Fallback = QuantFallback.Unquantized, Issues = QuantIssues.NonInvertible, Sha256 = "", Error = KernelError,
            },
            Unit(1, "mlp.shared_experts.down_proj", 800, 0.05, 0.1) with { Issues = QuantIssues.NanHessian },
        ],
    ];

    /// <summary>Commits layers 0 to <paramref name="layers"/> − 1 through the journal.</summary>
    public async Task CommitAsync(int layers = 2)
    {
        var journal = new RunJournal(Layout);
        for (var layer = 0; layer < layers; layer++)
        {
            await journal.RecordLayerAsync(layer, Units[layer], new Dictionary<int, string> { [0] = $"shard-{layer}" });
        }
    }

    public string ReportFile(string name) => Path.Combine(Layout.ReportDir, name);

    public void Dispose() => Directory.Delete(Layout.SaveDir, recursive: true);

    private static UnitReport Unit(int layer, string module, long tokens, double loss, double rtnLoss) =>
        new(new UnitId(layer, module), tokens, loss, rtnLoss, 0.01, 0, QuantFallback.None, QuantIssues.None, $"sha-{layer}-{module}", "");
}

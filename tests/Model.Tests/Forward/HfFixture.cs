using MoeQuant.Model.Checkpoint;
using MoeQuant.Model.Config;
using MoeQuant.Model.Forward;
using static TorchSharp.torch;

namespace MoeQuant.Model.Tests.Forward;

/// <summary>
/// One model of Fixtures/hf (made by tools/fixtures/make_hf_reference.py with transformers 5.17): its config, its
/// weights read by the checkpoint reader (FP8 dequantized), and transformers' reference outputs.
/// </summary>
internal sealed class HfFixture : IWeightSource
{
    private static readonly Dictionary<string, HfFixture> Cache = [];
    private readonly CheckpointWeightSource _weights;
    private readonly Dictionary<string, Tensor> _reference;

    private HfFixture(string name)
    {
        var folder = Path.Combine(AppContext.BaseDirectory, "Fixtures", "hf", name);
        Name = name;
        Config = DeepseekV3Config.Load(Path.Combine(folder, "config.json"));
        _weights = new CheckpointWeightSource(ShardedCheckpoint.Open(folder));
        using var reference = SafetensorsFile.Open(Path.Combine(folder, "reference.safetensors"));
        _reference = reference.Tensors.ToDictionary(t => t.Name, t => reference.ReadTensorCopy(t.Name).DetachFromDisposeScope());
    }

    public string Name { get; }

    public DeepseekV3Config Config { get; }

    /// <summary>Layers whose MLP is MoE (2 and 3 in every fixture).</summary>
    public IEnumerable<int> MoeLayers => Enumerable.Range(0, Config.NumHiddenLayers).Where(Config.IsMoeLayer);

    /// <summary>Loads a fixture once per test run; fixtures are read-only, so tests share them (and their open files).</summary>
    public static HfFixture Get(string name)
    {
        lock (Cache)
        {
            if (!Cache.TryGetValue(name, out var fixture))
            {
                fixture = new HfFixture(name);
                Cache[name] = fixture;
            }

            return fixture;
        }
    }

    /// <summary>A reference tensor (see the maker script's docstring), on the CPU; owned by the fixture.</summary>
    public Tensor Reference(string name) => _reference[name];

    public Tensor Read(string name, ScalarType dtype, Device device) => _weights.Read(name, dtype, device);

    /// <summary>transformers' choice of experts for every token of MoE layer <paramref name="layer"/>.</summary>
    public string[] ReferenceExperts(int layer) => ExpertSets(Reference($"topk_idx.{layer}"));

    /// <summary>Each token's experts as sorted text ("1,4,9,12"), for comparing choices regardless of top-k order.</summary>
    public static string[] ExpertSets(Tensor indices)
    {
        var sorted = indices.sort(-1).Values.to_type(ScalarType.Int64).cpu();
        var k = (int)sorted.shape[1];
        return [.. sorted.data<long>().ToArray().Chunk(k).Select(row => string.Join(",", row))];
    }

    public static double MaxAbsDiff(Tensor a, Tensor b) =>
        (a.to_type(ScalarType.Float64).cpu() - b.to_type(ScalarType.Float64).cpu()).abs().max().item<double>();
}

using MoeQuant.Model.Synthetic;

namespace MoeQuant.Model.Tests.Synthetic;

/// <summary>Small synthetic shapes that keep every structural feature of DeepSeek-V3 (grouped routing, shared expert,
/// low-rank queries, partial 128×128 edge blocks) and run in moments on the CPU.</summary>
internal static class SyntheticModels
{
    /// <summary>1 dense + 2 MoE layers, 16 experts in 4 groups (top-4 of the best 2 groups); hidden 192 and
    /// intermediate 320 leave partial FP8 blocks at the edges.</summary>
    public static SyntheticModelShape Small { get; } = new()
    {
        VocabSize = 512,
        HiddenSize = 192,
        IntermediateSize = 320,
        MoeIntermediateSize = 64,
        NumHiddenLayers = 3,
        FirstKDenseReplace = 1,
        NumAttentionHeads = 4,
        QLoraRank = 96,
        KvLoraRank = 64,
        QkNopeHeadDim = 32,
        QkRopeHeadDim = 16,
        VHeadDim = 32,
        NRoutedExperts = 16,
        NumExpertsPerTok = 4,
        NGroup = 4,
        TopkGroup = 2,
    };

    /// <summary>DeepSeek-V3's routing (64 experts in 8 groups, top-8 of the best 4 groups) at hidden 256, 3 dense + 2 MoE.</summary>
    public static SyntheticModelShape Routing { get; } = Small with
    {
        HiddenSize = 256,
        NumHiddenLayers = 5,
        FirstKDenseReplace = 3,
        NRoutedExperts = 64,
        NumExpertsPerTok = 8,
        NGroup = 8,
        TopkGroup = 4,
    };
}

using System.Text.Json.Nodes;
using MoeQuant.Coordinator.Bench;
using MoeQuant.Kernels.Gptq;
using TorchSharp;

namespace MoeQuant.Coordinator.Tests.Bench;

public class GptqBatchBenchmarkTests
{
    [Fact]
    public void Should_record_batched_and_single_timings_with_identical_codes_when_run_on_the_cpu()
    {
        var path = Path.GetTempFileName();
        try
        {
            GptqBatchBenchmark.Run(new BenchRecorder(path, TextWriter.Null), torch.CPU, batch: 3, new GptqBatchBenchmark.ExpertShape(Hidden: 256, Intermediate: 128, Tokens: 512));
            var lines = File.ReadAllLines(path).Select(l => JsonNode.Parse(l)!).ToList();

            // The MSE search check, the factor accuracy of both Hessians, then two configurations, each: gate alone, gate+up
            // tied, down, the per-expert summary.
            Assert.Equal(11, lines.Count);
            Assert.Equal(0.0, (double)lines[0]["results"]!["scalesDifferingFraction"]!);
            var accuracy = lines.Where(l => (string?)l["benchmark"] == "gptq-factor-accuracy").ToList();
            Assert.Equal(2, accuracy.Count);
            Assert.All(accuracy, l => Assert.InRange((double)l["results"]!["inPlaceFrobeniusRelative"]!, 1e-9, 1e-4));
            var measured = lines.Where(l => (string?)l["benchmark"] == "gptq-batch").ToList();
            Assert.Equal(6, measured.Count);
            foreach (var line in measured)
            {
                var results = line["results"]!;
                Assert.Equal(0.0, (double)results["codesDifferingFraction"]!);
                Assert.Equal(0.0, (double)results["maxProxyLossRelativeDifference"]!);
                Assert.True((bool)results["sameIssues"]! && (bool)results["sameMethods"]!);
                Assert.True((double)results["batchMsPerMatrix"]! > 0 && (double)results["singleMsPerMatrix"]! > 0);
                Assert.Equal(3 * (int)line["inputs"]!["matricesPerItem"]!, (int)results["gptqMatrices"]!);
            }

            Assert.All(lines.Where(l => (string?)l["benchmark"] == "gptq-batch-expert"), l => Assert.True((double)l["results"]!["batchMsPerExpert"]! > 0));
        }
        finally
        {
            File.Delete(path);
        }
    }

    [Fact]
    public void Should_record_every_stage_of_each_batched_call_with_shares_summing_to_one_when_stages_are_on()
    {
        var path = Path.GetTempFileName();
        try
        {
            GptqBatchBenchmark.Run(new BenchRecorder(path, TextWriter.Null), torch.CPU, batch: 2, Shape, stages: true, config: "activation+mse");
            var lines = File.ReadAllLines(path).Select(l => JsonNode.Parse(l)!).ToList();

            // The MSE search check, the factor accuracy of both Hessians, then one configuration: three measured calls, each
            // with its stages, the expert and its stages.
            Assert.Equal(11, lines.Count);
            var staged = lines.Where(l => (string?)l["benchmark"] == "gptq-batch-stages").ToList();
            Assert.Equal(3, staged.Count);
            foreach (var line in staged)
            {
                var stages = line["results"]!["stages"]!.AsArray();
                var names = stages.Select(x => (string)x!["stage"]!).ToList();
                Assert.Equal("Validation", names[0]);
                Assert.Contains("FactorLeaf", names);
                Assert.Contains("ColumnLoop", names);
                Assert.Contains("ProxyLoss", names);
                Assert.InRange(stages.Sum(x => (double)x!["share"]!), 0.95, 1.0 + 1e-9);
                Assert.Equal(2, (int)line["inputs"]!["chunkItems"]!);
            }

            var expert = lines.Single(l => (string?)l["benchmark"] == "gptq-batch-expert-stages")["results"]!;
            Assert.True((double)expert["stagedMsPerExpert"]! > 0);
            Assert.Contains(expert["stages"]!.AsArray(), x => (string)x!["stage"]! == "ScaleSearch" && (double)x["downMsPerExpert"]! >= 0);
        }
        finally
        {
            File.Delete(path);
        }
    }

    [Fact]
    public void Should_profile_the_first_two_and_every_eighth_entry_of_each_stage_when_sampled()
    {
        var path = Path.GetTempFileName();
        try
        {
            GptqBatchProfile.Run(new BenchRecorder(path, TextWriter.Null), torch.CPU, batch: 2, Shape, "default+absmax", sampled: true);
            var line = JsonNode.Parse(File.ReadAllLines(path).Single())!;

            Assert.Equal("gptq-batch-profile-range", (string?)line["benchmark"]);
            var entries = line["results"]!["stageEntries"]!.AsObject();
            var profiled = line["results"]!["profiledEntries"]!.AsObject();
            // Two calls (gate+up tied, down): two validations, both profiled.
            Assert.Equal(2, (int)entries["Validation"]!);
            Assert.Equal(2, (int)profiled["Validation"]!);
            foreach (var (stage, count) in entries)
            {
                var expected = Enumerable.Range(0, (int)count!).Count(GptqBatchProfile.SampleEntry);
                Assert.Equal(expected, (int)profiled[stage]!);
            }
        }
        finally
        {
            File.Delete(path);
        }
    }

    [Fact]
    public void Should_open_the_range_only_when_sampling_changes_when_stages_repeat()
    {
        var toggles = new List<bool>();
        var sampler = new GptqBatchProfile.Sampler(GptqBatchProfile.SampleEntry, toggles.Add);

        foreach (var stage in Enumerable.Repeat(GptqStage.ColumnLoop, 10))
        {
            sampler.Enter(stage);
        }

        sampler.Close();

        // Entries 0 and 1 profiled (one open), 2..7 not (one close), 8 profiled, 9 not, then the final close is no change.
        Assert.Equal([true, false, true, false], toggles);
        Assert.Equal(3, sampler.Profiled[GptqStage.ColumnLoop]);
    }

    private static GptqBatchBenchmark.ExpertShape Shape => new(Hidden: 256, Intermediate: 128, Tokens: 512);
}

using System.Text.Json.Nodes;
using MoeQuant.Coordinator.Bench;
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

            // The MSE search check, then two configurations, each: gate alone, gate+up tied, down, the per-expert summary.
            Assert.Equal(9, lines.Count);
            Assert.Equal(0.0, (double)lines[0]["results"]!["scalesDifferingFraction"]!);
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
}

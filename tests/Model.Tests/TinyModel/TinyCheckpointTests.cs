using MoeQuant.Model.Checkpoint;
using MoeQuant.Model.Inspection;
using MoeQuant.Model.Tests.Checkpoint;
using MoeQuant.Model.TinyModel;

namespace MoeQuant.Model.Tests.TinyModel;

public class TinyCheckpointTests
{
    [Fact]
    public void Should_write_the_same_bytes_on_every_machine_when_generated_twice()
    {
        using var first = new TempFolder();
        using var second = new TempFolder();

        TinyCheckpoint.EnsureWritten(first.Path);
        TinyCheckpoint.EnsureWritten(second.Path);

        foreach (var file in new[] { "config.json", ShardedCheckpoint.SingleFileName })
        {
            Assert.Equal(File.ReadAllBytes(System.IO.Path.Combine(first.Path, file)), File.ReadAllBytes(System.IO.Path.Combine(second.Path, file)));
        }
    }

    [Fact]
    public void Should_hold_exactly_the_tensors_its_config_expects_with_finite_fp8_weights()
    {
        using var folder = new TempFolder();
        TinyCheckpoint.EnsureWritten(folder.Path);

        using var checkpoint = ShardedCheckpoint.Open(folder.Path);
        var summary = CheckpointSummary.Create(TinyModelConfig.Load(), checkpoint.Tensors);

        Assert.Empty(summary.Check.Missing);
        Assert.Empty(summary.Check.Unexpected);
        Assert.Empty(summary.Check.Mismatched);
        Assert.True(summary.IsFp8);
        // 0x7F and 0xFF are E4M3's NaN codes: a generated weight must never use them.
        var fp8 = checkpoint.Tensors.Where(t => t.Dtype == SafetensorsDtype.F8_E4M3).ToList();
        Assert.NotEmpty(fp8);
        Assert.All(fp8, t => Assert.DoesNotContain(checkpoint.GetBytes(t.Name).ToArray(), b => (b & 0x7F) == 0x7F));
    }

    [Fact]
    public void Should_keep_an_existing_checkpoint_untouched_when_asked_again()
    {
        using var folder = new TempFolder();
        TinyCheckpoint.EnsureWritten(folder.Path);
        var weights = System.IO.Path.Combine(folder.Path, ShardedCheckpoint.SingleFileName);
        var written = File.GetLastWriteTimeUtc(weights);

        TinyCheckpoint.EnsureWritten(folder.Path);

        Assert.Equal(written, File.GetLastWriteTimeUtc(weights));
    }
}

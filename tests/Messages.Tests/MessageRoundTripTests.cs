using Akka.Serialization;
using MoeQuant.Messages;

namespace MoeQuant.Messages.Tests;

/// <summary>Every <see cref="IMoeQuantMessage"/> survives the "moequant" serializer, with every field set.</summary>
public sealed class MessageRoundTripTests : Akka.TestKit.Xunit2.TestKit
{
    private static readonly DeviceId Cpu0 = new("akka.tcp://moequant@127.0.0.1:40211", "cpu:0");
    private static readonly DeviceId Cuda1 = new("akka.tcp://moequant@127.0.0.1:40212", "cuda:1");
    private static readonly UnitId Expert = new(3, "mlp.experts.5.gate_up_proj");
    private static readonly UnitId Attention = new(3, "self_attn.o_proj");
    private static readonly PlanId Plan = new(3, 1);
    private static readonly LayerPlan SamplePlan = new(
        Plan,
        [Cpu0, Cuda1],
        [new ShardAssignment(0, Cpu0), new ShardAssignment(1, Cuda1)],
        [new UnitAssignment(Expert, Cuda1, 0), new UnitAssignment(Attention, Cpu0, 1)]);

    private static readonly UnitReport Report = new(Expert, 812, 1.25e-3, 2.5e-3, 0.1, 2, QuantFallback.MoreDamping, QuantIssues.ZeroSamples | QuantIssues.NanHessian, "ab12", "");

    private static readonly IMoeQuantMessage[] All =
    [
        SamplePlan,
        new LayerWorkLost(Plan, Cuda1, "unit-3 failed: disk full"),
        new DeviceOutOfMemory(Plan, Cuda1, WorkPhase.Calibrate, 2, "shard 3", 83_617_000_000, 85_100_000_000, "CUDA out of memory. Tried to allocate 2.00 GiB"),
        new DeviceOutOfMemory(Plan, Cpu0, WorkPhase.Commit, null, "shard 1", null, null, "CUDA error: out of memory"),
        new ReleaseLayer(Plan, Committed: true),
        new RegisterDevice(Cpu0, "4f1c"),
        new DeviceRegistered(Cpu0),
        new LoadLayer(SamplePlan),
        new LayerLoaded(Plan, Cuda1),
        new CalibrateShards(Plan, 1, [0, 2, 4]),
        new ShardCalibrated(Plan, 1, 2, 4096, [new PartialHessian(Expert, 2, new BulkRef("L3A1/cpu:0/7"), 17), new PartialHessian(Attention, 2, null, 0)]),
        new ReducePartials(Plan, [new PartialHessian(Expert, 2, new BulkRef("L3A1/cpu:0/7"), 17)]),
        new UnitReduced(Plan, Expert, 812),
        new QuantizeUnits(Plan, 1),
        new UnitQuantized(Plan, Report, new BulkRef("L3A1/cuda:1/9")),
        new UnitQuantized(Plan, Report with { Loss = double.NaN, RtnLoss = double.NaN, Fallback = QuantFallback.Unquantized, Error = "launch failed" }, null),
        new CommitShards(Plan, [1, 3], [new QuantizedRef(Expert, new BulkRef("L3A1/cuda:1/9"))]),
        new ShardCommitted(Plan, 3, "9f00"),
    ];

    public static TheoryData<IMoeQuantMessage> Samples => new(All);

    [Theory]
    [MemberData(nameof(Samples))]
    public void Should_round_trip_every_message(IMoeQuantMessage message)
    {
        var serializer = Sys.Serialization.FindSerializerFor(message);
        Assert.IsType<MoeQuantSerializer>(serializer);
        var manifest = Serialization.ManifestFor(serializer, message);
        var bytes = serializer.ToBinary(message);

        var back = Sys.Serialization.Deserialize(bytes, serializer.Identifier, manifest);

        // Records holding ImmutableArray compare arrays by reference, so equality is checked on the wire form.
        Assert.IsType(message.GetType(), back);
        Assert.Equal(bytes, serializer.ToBinary(back));
    }

    [Fact]
    public void Should_have_a_round_trip_sample_for_every_message_type()
    {
        var covered = All.Select(m => m.GetType()).ToHashSet();

        Assert.Empty(MoeQuantSerializer.MessageTypes.Where(t => !covered.Contains(t)).Select(t => t.Name));
    }

    [Fact]
    public void Should_keep_nan_losses_of_unquantized_units()
    {
        var message = new UnitQuantized(Plan, Report with { Loss = double.NaN }, null);
        var serializer = Sys.Serialization.FindSerializerFor(message);

        var back = (UnitQuantized)Sys.Serialization.Deserialize(serializer.ToBinary(message), serializer.Identifier, Serialization.ManifestFor(serializer, message));

        Assert.True(double.IsNaN(back.Report.Loss));
    }

    public MessageRoundTripTests()
        : base(Akka.Configuration.ConfigurationFactory.ParseString("""
            akka.actor {
              serializers.moequant = "MoeQuant.Messages.MoeQuantSerializer, MoeQuant.Messages"
              serialization-bindings { "MoeQuant.Messages.IMoeQuantMessage, MoeQuant.Messages" = moequant }
            }
            """))
    {
    }
}

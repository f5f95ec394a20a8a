using Akka.Configuration;

namespace MoeQuant.GpuNode.Tests.Fakes;

/// <summary>The actor system of actor tests: a cluster provider on a free loopback port, the "moequant" serializer, and
/// serialize-messages on, so that a message that would not survive the wire fails the test. (Akka.Hosting.TestKit is
/// built on xunit v3, which cannot sit beside the solution's xunit 2, so tests configure Akka with HOCON.)</summary>
public static class TestAkka
{
    public static Config Config { get; } = ConfigurationFactory.ParseString("""
        akka {
          loglevel = INFO
          actor {
            provider = cluster
            serialize-messages = on
            serializers.moequant = "MoeQuant.Messages.MoeQuantSerializer, MoeQuant.Messages"
            serialization-bindings { "MoeQuant.Messages.IMoeQuantMessage, MoeQuant.Messages" = moequant }
          }
          remote.dot-netty.tcp { hostname = 127.0.0.1, port = 0 }
          cluster.roles = [coordinator, gpu-node]
        }
        """);
}

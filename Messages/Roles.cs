namespace MoeQuant.Messages;

/// <summary>Akka.Cluster role names.</summary>
public static class Roles
{
    /// <summary>The member that hosts the coordinator singleton.</summary>
    public const string Coordinator = "coordinator";

    /// <summary>A member that owns GPU (or CPU) devices.</summary>
    public const string GpuNode = "gpu-node";
}

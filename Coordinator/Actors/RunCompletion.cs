namespace MoeQuant.Coordinator.Actors;

/// <summary>How a run ended.</summary>
/// <param name="Succeeded">Every layer is committed.</param>
/// <param name="Message">What to tell the user.</param>
public sealed record RunOutcome(bool Succeeded, string Message);

/// <summary>Where the coordinator reports the end of the run to the process that hosts it.</summary>
public sealed class RunCompletion
{
    private readonly TaskCompletionSource<RunOutcome> _outcome = new(TaskCreationOptions.RunContinuationsAsynchronously);

    public Task<RunOutcome> Outcome => _outcome.Task;

    public void Complete(RunOutcome outcome) => _outcome.TrySetResult(outcome);
}

/// <summary>What the coordinator needs to know of the run.</summary>
/// <param name="Shape">Layers, shards and units.</param>
/// <param name="StartLayer">The first layer not committed yet.</param>
/// <param name="ExpectedDevices">Devices to wait for before the first plan.</param>
/// <param name="MaxLayerAttempts">Tries of one layer before the run stops.</param>
/// <param name="WaveBytes">Hessian bytes one calibration wave may hold (<see cref="Planning.LayerPlanner"/>).</param>
public sealed record CoordinatorSettings(GpuNode.Workload.RunShape Shape, int StartLayer, int ExpectedDevices, int MaxLayerAttempts, long WaveBytes);

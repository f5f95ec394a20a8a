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
/// <param name="MaxLayerAttempts">Failed tries of one layer before the run stops (re-plans in smaller waves after the device
/// ran out of memory do not count).</param>
/// <param name="WaveBytes">Hessian bytes one calibration wave may hold at the start (<see cref="Planning.LayerPlanner"/>):
/// <paramref name="ConfiguredWaveBytes"/>, or less where this save_dir already ran out of memory with it
/// (<see cref="Journal.RunJournal.WaveBytes"/>).</param>
/// <param name="ConfiguredWaveBytes">--hessian-memory-gb in bytes, which the journal keys its budget cuts by.</param>
public sealed record CoordinatorSettings(GpuNode.Workload.RunShape Shape, int StartLayer, int ExpectedDevices, int MaxLayerAttempts, long WaveBytes, long ConfiguredWaveBytes);

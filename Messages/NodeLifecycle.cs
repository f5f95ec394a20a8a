namespace MoeQuant.Messages;

/// <summary>A GpuNodeActor announces its device to the coordinator singleton (and repeats until acknowledged).</summary>
/// <param name="Device">The device it owns.</param>
/// <param name="Incarnation">Fresh for every start of the node actor: a known device registering with a new incarnation
/// has restarted and lost its in-memory work, while a repeated registration of the same incarnation changes nothing.</param>
public sealed record RegisterDevice(DeviceId Device, string Incarnation) : IMoeQuantMessage;

/// <summary>The coordinator's acknowledgement of <see cref="RegisterDevice"/>.</summary>
/// <param name="Device">The device that is now part of the plan.</param>
public sealed record DeviceRegistered(DeviceId Device) : IMoeQuantMessage;

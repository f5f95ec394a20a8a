namespace MoeQuant.Messages;

/// <summary>A GpuNodeActor announces its device to the coordinator singleton (and repeats until acknowledged).</summary>
/// <param name="Device">The device it owns.</param>
public sealed record RegisterDevice(DeviceId Device) : IMoeQuantMessage;

/// <summary>The coordinator's acknowledgement of <see cref="RegisterDevice"/>.</summary>
/// <param name="Device">The device that is now part of the plan.</param>
public sealed record DeviceRegistered(DeviceId Device) : IMoeQuantMessage;

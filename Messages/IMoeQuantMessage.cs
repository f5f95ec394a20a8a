namespace MoeQuant.Messages;

/// <summary>Marker for every message that may cross a process boundary; the "moequant" serializer binds it.</summary>
public interface IMoeQuantMessage;

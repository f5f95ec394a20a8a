using System.Collections.Frozen;
using System.Runtime.Serialization;
using System.Text.Json;
using System.Text.Json.Serialization;
using Akka.Actor;
using Akka.Serialization;

namespace MoeQuant.Messages;

/// <summary>
/// Serializes every <see cref="IMoeQuantMessage"/> as UTF-8 JSON, with the type's short name as manifest. Messages are
/// small records of ids, paths and scalars (no tensors), so JSON keeps them readable in logs and dead letters and
/// lets each message evolve by adding optional fields.
/// </summary>
public sealed class MoeQuantSerializer : SerializerWithStringManifest
{
    /// <summary>The serializer id bound in hocon/moequant.conf (Akka reserves 0-40 for its own).</summary>
    public const int SerializerId = 4711;

    private static readonly FrozenDictionary<string, Type> TypesByManifest = typeof(IMoeQuantMessage).Assembly.GetTypes()
        .Where(t => t is { IsClass: true, IsAbstract: false } && typeof(IMoeQuantMessage).IsAssignableFrom(t))
        .ToFrozenDictionary(t => t.Name, StringComparer.Ordinal);

    private static readonly JsonSerializerOptions Options = new()
    {
        // Losses are NaN for units that stayed unquantized.
        NumberHandling = JsonNumberHandling.AllowNamedFloatingPointLiterals,
        Converters = { new JsonStringEnumConverter() },
    };

    /// <param name="system">The actor system (Akka's serializer contract).</param>
    public MoeQuantSerializer(ExtendedActorSystem system)
        : base(system)
    {
    }

    /// <summary>Every message type this serializer handles, by manifest.</summary>
    public static IReadOnlyCollection<Type> MessageTypes => TypesByManifest.Values;

    /// <inheritdoc />
    public override int Identifier => SerializerId;

    /// <inheritdoc />
    public override byte[] ToBinary(object obj) => JsonSerializer.SerializeToUtf8Bytes(obj, obj.GetType(), Options);

    /// <inheritdoc />
    public override object FromBinary(byte[] bytes, string manifest) =>
        TypesByManifest.TryGetValue(manifest, out var type)
            ? JsonSerializer.Deserialize(bytes, type, Options) ?? throw new SerializationException($"{manifest}: message is null")
            : throw new SerializationException($"unknown MoeQuant message manifest '{manifest}'");

    /// <inheritdoc />
    public override string Manifest(object o) => o.GetType().Name;
}

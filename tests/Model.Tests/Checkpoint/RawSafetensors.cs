using System.Buffers.Binary;
using System.Text;

namespace MoeQuant.Model.Tests.Checkpoint;

/// <summary>Writes .safetensors bytes by hand, so that malformed files do not depend on the writer under test.</summary>
internal static class RawSafetensors
{
    /// <summary>8-byte length of <paramref name="header"/> (or <paramref name="declaredLength"/>), the header, then the data.</summary>
    public static string Write(string path, string header, byte[] data, ulong? declaredLength = null)
    {
        var json = Encoding.UTF8.GetBytes(header);
        return Write(path, json, data, declaredLength);
    }

    public static string Write(string path, byte[] header, byte[] data, ulong? declaredLength = null)
    {
        var bytes = new byte[8 + header.Length + data.Length];
        BinaryPrimitives.WriteUInt64LittleEndian(bytes, declaredLength ?? (ulong)header.Length);
        header.CopyTo(bytes, 8);
        data.CopyTo(bytes, 8 + header.Length);
        File.WriteAllBytes(path, bytes);
        return path;
    }

    /// <summary>A one-tensor file: "a" of F32 [2] over 8 data bytes, unless the caller changes the entry.</summary>
    public static string WriteSingle(string path, string entry = """{"dtype":"F32","shape":[2],"data_offsets":[0,8]}""", int dataBytes = 8) =>
        Write(path, $$"""{"a":{{entry}}}""", new byte[dataBytes]);
}

namespace MoeQuant.Model.Tokenization;

/// <summary>GPT-2's byte-to-char alphabet (HF <c>bytes_char</c>): vocabulary tokens spell bytes with these chars.</summary>
internal static class ByteLevel
{
    /// <summary>The char that stands for each byte.</summary>
    public static readonly char[] ByteToChar = BuildByteToChar();

    private static readonly Dictionary<char, byte> CharToByte = Enumerable.Range(0, 256).ToDictionary(b => ByteToChar[b], b => (byte)b);

    /// <summary>Appends the bytes of one token: mapped char by char, or the token's UTF-8 if any char is not in the alphabet.</summary>
    public static void AppendTokenBytes(string token, List<byte> bytes)
    {
        var mark = bytes.Count;
        foreach (var c in token)
        {
            if (!CharToByte.TryGetValue(c, out var b))
            {
                bytes.RemoveRange(mark, bytes.Count - mark);
                bytes.AddRange(System.Text.Encoding.UTF8.GetBytes(token));
                return;
            }

            bytes.Add(b);
        }
    }

    private static char[] BuildByteToChar()
    {
        // Printable bytes map to themselves; the rest (control, space, 0x7F-0xA0, 0xAD) to U+0100 upwards, in byte order.
        var chars = new char[256];
        var next = 256;
        for (var b = 0; b < 256; b++)
        {
            var printable = (b >= '!' && b <= '~') || (b >= 0xA1 && b <= 0xAC) || (b >= 0xAE && b <= 0xFF);
            chars[b] = (char)(printable ? b : next++);
        }

        return chars;
    }
}

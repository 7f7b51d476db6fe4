using System.Text;

namespace Attune.Torch.Tokenizers;

/// <summary>
/// GPT-2's reversible map between bytes and printable characters: printable Latin-1 bytes map to
/// themselves, the other 68 bytes to U+0100 onwards, so every byte string has a visible spelling.
/// </summary>
public static class ByteLevel
{
    private static readonly char[] ByteToCharTable = BuildByteToChar();
    private static readonly short[] CharToByteTable = BuildCharToByte();

    /// <summary>The character that stands for byte <paramref name="b"/>.</summary>
    public static char ByteToChar(byte b) => ByteToCharTable[b];

    /// <summary>The byte that <paramref name="c"/> stands for, or -1 when <paramref name="c"/> is not in the map.</summary>
    public static int CharToByte(char c) => c < CharToByteTable.Length ? CharToByteTable[c] : -1;

    /// <summary>The byte-level spelling of the UTF-8 bytes of <paramref name="text"/>.</summary>
    public static string Encode(string text)
    {
        ArgumentNullException.ThrowIfNull(text);
        var bytes = Encoding.UTF8.GetBytes(text);
        var chars = new char[bytes.Length];
        for (var i = 0; i < bytes.Length; i++)
        {
            chars[i] = ByteToCharTable[bytes[i]];
        }

        return new string(chars);
    }

    /// <summary>
    /// Appends the bytes that <paramref name="token"/> spells to <paramref name="bytes"/>; a token
    /// with a character outside the map (an added token, say) contributes its own UTF-8 bytes, as
    /// Hugging Face's ByteLevel decoder does.
    /// </summary>
    internal static void AppendTokenBytes(string token, List<byte> bytes)
    {
        foreach (var c in token)
        {
            if (CharToByte(c) < 0)
            {
                bytes.AddRange(Encoding.UTF8.GetBytes(token));
                return;
            }
        }

        foreach (var c in token)
        {
            bytes.Add((byte)CharToByte(c));
        }
    }

    private static char[] BuildByteToChar()
    {
        var table = new char[256];
        var n = 0;
        for (var b = 0; b < 256; b++)
        {
            var printable = (b >= '!' && b <= '~') || (b >= 0xA1 && b <= 0xAC) || (b >= 0xAE && b <= 0xFF);
            table[b] = printable ? (char)b : (char)(256 + n++);
        }

        return table;
    }

    private static short[] BuildCharToByte()
    {
        var table = new short[256 + 68];
        Array.Fill(table, (short)-1);
        for (var b = 0; b < 256; b++)
        {
            table[ByteToCharTable[b]] = (short)b;
        }

        return table;
    }
}

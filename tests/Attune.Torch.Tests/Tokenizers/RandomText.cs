using System.Text;

namespace Attune.Torch.Tests.Tokenizers;

/// <summary>Seeded random strings mixing scripts, emoji, combining marks, CJK and white space.</summary>
internal static class RandomText
{
    private static readonly string[] Pools =
    [
        "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ",
        "0123456789",
        "!\"#$%&'()*+,-./:;<=>?@[\\]^_`{|}~",
        " ", "  ", "\t", "\n", "\r\n", "\u00a0", "\u3000",
        "éüñçÅøßÆ", "\u0301\u0323\u0308\u030a\u0327", // precomposed letters and combining marks
        "привет мир", "مرحبا", "שלום", "नमस्ते",
        "漢字仮名交じり文中文字符", "한국어", "ｱｲｳ", "\ufb01\u212b\u2460",
        "😀🙂🎉👍🏽🇫🇷👩‍💻", "𠀀𠜎𝐀𝟘", // emoji (with ZWJ and modifiers), astral letters and digits
        "'s't're'S'LL",
    ];

    /// <summary>A string of up to <paramref name="maxParts"/> runs drawn from the pools (always valid UTF-16).</summary>
    public static string Next(Random random, int maxParts)
    {
        var builder = new StringBuilder();
        var parts = random.Next(1, maxParts + 1);
        for (var i = 0; i < parts; i++)
        {
            var pool = Pools[random.Next(Pools.Length)];
            var runes = pool.EnumerateRunes().ToArray();
            var count = random.Next(1, 5);
            for (var k = 0; k < count; k++)
            {
                builder.Append(runes[random.Next(runes.Length)].ToString());
            }
        }

        return builder.ToString();
    }
}

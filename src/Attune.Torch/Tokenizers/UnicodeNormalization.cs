using System.Text;

namespace Attune.Torch.Tokenizers;

/// <summary>
/// Unicode normalization (NFC, NFD, NFKC, NFKD) from Attune's own tables
/// (<see cref="UnicodeTables"/>), because .NET's <see cref="string.Normalize()"/> leaves non-ASCII
/// text untouched when globalization is invariant, as Attune builds. The algorithm is the
/// standard one: full decomposition, canonical ordering, then canonical composition.
/// </summary>
internal static class UnicodeNormalization
{
    private const int SBase = 0xAC00, LBase = 0x1100, VBase = 0x1161, TBase = 0x11A7;
    private const int LCount = 19, VCount = 21, TCount = 28, NCount = VCount * TCount, SCount = LCount * NCount;

    private static readonly Dictionary<int, byte> Ccc = BuildCcc();
    private static readonly Dictionary<int, (int Start, int Length, bool Compat)> Decomp = BuildDecomp();
    private static readonly Dictionary<long, int> Compose = BuildCompose();

    public static string Normalize(string text, NormalizationForm form)
    {
        ArgumentNullException.ThrowIfNull(text);
        var compat = form is NormalizationForm.FormKC or NormalizationForm.FormKD;
        var composeAfter = form is NormalizationForm.FormC or NormalizationForm.FormKC;

        // Below U+0300 nothing combines and, for NFC, nothing is excluded from recomposition; for
        // the other forms only ASCII is certainly unchanged.
        var limit = form == NormalizationForm.FormC ? 0x300 : 0x80;
        if (!text.AsSpan().ContainsAnyExceptInRange('\0', (char)(limit - 1)))
        {
            return text;
        }

        var points = new List<int>(text.Length + 8);
        foreach (var rune in text.EnumerateRunes())
        {
            Decompose(rune.Value, compat, points);
        }

        ReorderCanonically(points);
        if (composeAfter)
        {
            ComposeCanonically(points);
        }

        var builder = new StringBuilder(points.Count + 4);
        foreach (var cp in points)
        {
            builder.Append(new Rune(cp).ToString());
        }

        return builder.ToString();
    }

    private static int CombiningClass(int cp) => Ccc.TryGetValue(cp, out var c) ? c : 0;

    private static void Decompose(int cp, bool compat, List<int> output)
    {
        if (cp >= SBase && cp < SBase + SCount)
        {
            var s = cp - SBase;
            output.Add(LBase + s / NCount);
            output.Add(VBase + s % NCount / TCount);
            if (s % TCount != 0)
            {
                output.Add(TBase + s % TCount);
            }

            return;
        }

        if (Decomp.TryGetValue(cp, out var d) && (compat || !d.Compat))
        {
            for (var i = 0; i < d.Length; i++)
            {
                Decompose(UnicodeTables.Decompositions[d.Start + i], compat, output);
            }

            return;
        }

        output.Add(cp);
    }

    private static void ReorderCanonically(List<int> points)
    {
        // A stable sort by combining class of each run of non-starters (insertion sort: runs are short).
        for (var i = 1; i < points.Count; i++)
        {
            var c = CombiningClass(points[i]);
            if (c == 0)
            {
                continue;
            }

            var j = i;
            var cp = points[i];
            while (j > 0 && CombiningClass(points[j - 1]) > c)
            {
                points[j] = points[j - 1];
                j--;
            }

            points[j] = cp;
        }
    }

    private static void ComposeCanonically(List<int> points)
    {
        if (points.Count == 0)
        {
            return;
        }

        var starterPos = 0;
        var starter = points[0];
        var lastClass = CombiningClass(starter) == 0 ? 0 : 256;
        var write = 1;
        for (var read = 1; read < points.Count; read++)
        {
            var ch = points[read];
            var chClass = CombiningClass(ch);
            if ((lastClass < chClass || lastClass == 0) && TryCompose(starter, ch, out var composite))
            {
                points[starterPos] = composite;
                starter = composite;
                continue;
            }

            if (chClass == 0)
            {
                starterPos = write;
                starter = ch;
            }

            lastClass = chClass;
            points[write++] = ch;
        }

        points.RemoveRange(write, points.Count - write);
    }

    private static bool TryCompose(int first, int second, out int composite)
    {
        // Hangul: L + V → LV, LV + T → LVT.
        if (first >= LBase && first < LBase + LCount && second >= VBase && second < VBase + VCount)
        {
            composite = SBase + ((first - LBase) * VCount + (second - VBase)) * TCount;
            return true;
        }

        if (first >= SBase && first < SBase + SCount && (first - SBase) % TCount == 0 && second > TBase && second < TBase + TCount)
        {
            composite = first + (second - TBase);
            return true;
        }

        return Compose.TryGetValue(((long)first << 21) | (uint)second, out composite);
    }

    private static Dictionary<int, byte> BuildCcc()
    {
        var data = UnicodeTables.CombiningClasses;
        var table = new Dictionary<int, byte>(data.Length / 2);
        for (var i = 0; i < data.Length; i += 2)
        {
            table[data[i]] = (byte)data[i + 1];
        }

        return table;
    }

    private static Dictionary<int, (int, int, bool)> BuildDecomp()
    {
        var data = UnicodeTables.Decompositions;
        var table = new Dictionary<int, (int, int, bool)>();
        var i = 0;
        while (i < data.Length)
        {
            var length = data[i + 1] >> 1;
            table[data[i]] = (i + 2, length, (data[i + 1] & 1) == 1);
            i += 2 + length;
        }

        return table;
    }

    private static Dictionary<long, int> BuildCompose()
    {
        var data = UnicodeTables.Compositions;
        var table = new Dictionary<long, int>(data.Length / 3);
        for (var i = 0; i < data.Length; i += 3)
        {
            table[((long)data[i] << 21) | (uint)data[i + 1]] = data[i + 2];
        }

        return table;
    }
}

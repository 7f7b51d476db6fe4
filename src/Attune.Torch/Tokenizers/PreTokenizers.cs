using System.Collections.Concurrent;
using System.Globalization;
using System.Text;
using System.Text.RegularExpressions;

namespace Attune.Torch.Tokenizers;

/// <summary>A slice of a string: one piece of text on its way to the model.</summary>
internal readonly record struct Piece(string Text, int Start, int Length)
{
    public ReadOnlySpan<char> Span => Text.AsSpan(Start, Length);
}

/// <summary>How a split keeps the parts its pattern matched (Hugging Face's SplitDelimiterBehavior).</summary>
internal enum SplitBehavior
{
    Removed,
    Isolated,
    MergedWithPrevious,
    MergedWithNext,
    Contiguous,
}

/// <summary>One pre-tokenization step: cuts each piece into smaller pieces.</summary>
internal abstract class PreTokenizer
{
    public abstract void Split(Piece piece, List<Piece> output);
}

/// <summary>Runs its steps one after another.</summary>
internal sealed class SequencePreTokenizer(IReadOnlyList<PreTokenizer> steps) : PreTokenizer
{
    public override void Split(Piece piece, List<Piece> output)
    {
        var current = new List<Piece> { piece };
        var next = new List<Piece>();
        foreach (var step in steps)
        {
            next.Clear();
            foreach (var p in current)
            {
                step.Split(p, next);
            }

            (current, next) = (next, current);
        }

        output.AddRange(current);
    }
}

/// <summary>
/// Hugging Face's ByteLevel pre-tokenizer: optionally prefixes a space, optionally splits with
/// GPT-2's pattern. The byte-to-character mapping itself is done by the model step.
/// </summary>
internal sealed class ByteLevelPreTokenizer(bool addPrefixSpace, bool useRegex) : PreTokenizer
{
    public const string Gpt2Pattern = @"'s|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+";

    private readonly SplitPreTokenizer? _split = useRegex ? new SplitPreTokenizer(RegexPatterns.Get(Gpt2Pattern), SplitBehavior.Isolated, invert: false) : null;

    public override void Split(Piece piece, List<Piece> output)
    {
        if (addPrefixSpace && piece.Length > 0 && piece.Span[0] != ' ')
        {
            var text = " " + piece.Span.ToString();
            piece = new Piece(text, 0, text.Length);
        }

        if (_split is null)
        {
            if (piece.Length > 0)
            {
                output.Add(piece);
            }
        }
        else
        {
            _split.Split(piece, output);
        }
    }
}

/// <summary>Hugging Face's Split pre-tokenizer (and the base of Digits, Whitespace, WhitespaceSplit).</summary>
internal sealed class SplitPreTokenizer(Regex regex, SplitBehavior behavior, bool invert) : PreTokenizer
{
    public override void Split(Piece piece, List<Piece> output)
    {
        if (piece.Length == 0)
        {
            return;
        }

        // Matches as (start, end) pairs relative to the piece, in order, non-empty.
        var matches = RegexPatterns.FindMatches(regex, piece.Span);

        // Every position of the piece is either in a match or between matches.
        var parts = new List<(int Start, int End, bool IsMatch)>(matches.Count * 2 + 1);
        var previous = 0;
        foreach (var (start, end) in matches)
        {
            if (start > previous)
            {
                parts.Add((previous, start, invert));
            }

            parts.Add((start, end, !invert));
            previous = end;
        }

        if (previous < piece.Length)
        {
            parts.Add((previous, piece.Length, invert));
        }

        var kept = new List<(int Start, int End)>(parts.Count);
        switch (behavior)
        {
            case SplitBehavior.Isolated:
                foreach (var p in parts)
                {
                    kept.Add((p.Start, p.End));
                }

                break;
            case SplitBehavior.Removed:
                foreach (var p in parts)
                {
                    if (!p.IsMatch)
                    {
                        kept.Add((p.Start, p.End));
                    }
                }

                break;
            case SplitBehavior.MergedWithPrevious:
            {
                var previousMatch = false;
                foreach (var p in parts)
                {
                    if (p.IsMatch && !previousMatch && kept.Count > 0)
                    {
                        kept[^1] = (kept[^1].Start, p.End);
                    }
                    else
                    {
                        kept.Add((p.Start, p.End));
                    }

                    previousMatch = p.IsMatch;
                }

                break;
            }

            case SplitBehavior.MergedWithNext:
            {
                var previousMatch = false;
                for (var i = parts.Count - 1; i >= 0; i--)
                {
                    var p = parts[i];
                    if (p.IsMatch && !previousMatch && kept.Count > 0)
                    {
                        kept[^1] = (p.Start, kept[^1].End);
                    }
                    else
                    {
                        kept.Add((p.Start, p.End));
                    }

                    previousMatch = p.IsMatch;
                }

                kept.Reverse();
                break;
            }

            case SplitBehavior.Contiguous:
            {
                var previousMatch = false;
                foreach (var p in parts)
                {
                    // As Hugging Face: runs of the same kind merge (with invert, that includes
                    // adjacent matches of the pattern, which are then non-matches).
                    if (p.IsMatch == previousMatch && kept.Count > 0)
                    {
                        kept[^1] = (kept[^1].Start, p.End);
                    }
                    else
                    {
                        kept.Add((p.Start, p.End));
                    }

                    previousMatch = p.IsMatch;
                }

                break;
            }
        }

        foreach (var (start, end) in kept)
        {
            if (end > start)
            {
                output.Add(new Piece(piece.Text, piece.Start + start, end - start));
            }
        }
    }
}

/// <summary>
/// Regular expressions as Hugging Face writes them (Oniguruma syntax), run by .NET: possessive
/// quantifiers become atomic groups, and characters outside the Basic Multilingual Plane are
/// matched as one character of their Unicode category (as Oniguruma sees them), not as two
/// surrogates.
/// </summary>
internal static class RegexPatterns
{
    private static readonly ConcurrentDictionary<string, Regex> Cache = new(StringComparer.Ordinal);
    private static readonly char[] CategoryStandIns = BuildStandIns();

    /// <summary>The compiled .NET regex for an Oniguruma pattern (throws <see cref="ArgumentException"/> when it is not valid).</summary>
    public static Regex Get(string pattern) =>
        Cache.GetOrAdd(pattern, p => new Regex(Translate(p), RegexOptions.Compiled | RegexOptions.CultureInvariant));

    /// <summary>Non-empty matches of <paramref name="regex"/> in <paramref name="text"/> as (start, end) offsets.</summary>
    public static List<(int Start, int End)> FindMatches(Regex regex, ReadOnlySpan<char> text)
    {
        var result = new List<(int, int)>();
        var hasSurrogate = text.IndexOfAnyInRange('\uD800', '\uDFFF') >= 0;
        if (!hasSurrogate)
        {
            foreach (var m in regex.EnumerateMatches(text))
            {
                if (m.Length > 0)
                {
                    result.Add((m.Index, m.Index + m.Length));
                }
            }

            return result;
        }

        // Replace each surrogate pair by one stand-in character of the same category, remembering
        // where each stand-in character came from.
        var proxy = new char[text.Length];
        var origin = new int[text.Length + 1];
        var n = 0;
        for (var i = 0; i < text.Length; i++)
        {
            origin[n] = i;
            if (char.IsHighSurrogate(text[i]) && i + 1 < text.Length && char.IsLowSurrogate(text[i + 1]))
            {
                var category = CharUnicodeInfo.GetUnicodeCategory(char.ConvertToUtf32(text[i], text[i + 1]));
                proxy[n++] = CategoryStandIns[(int)category];
                i++;
            }
            else
            {
                proxy[n++] = text[i];
            }
        }

        origin[n] = text.Length;
        foreach (var m in regex.EnumerateMatches(proxy.AsSpan(0, n)))
        {
            if (m.Length > 0)
            {
                result.Add((origin[m.Index], origin[m.Index + m.Length]));
            }
        }

        return result;
    }

    /// <summary>
    /// Translates Oniguruma-only syntax to .NET: possessive quantifiers (<c>X*+</c>, <c>X++</c>,
    /// <c>X?+</c>, <c>X{n,m}+</c>) become atomic groups (<c>(?&gt;X*)</c>); the rest is shared syntax.
    /// </summary>
    internal static string Translate(string pattern)
    {
        var output = new StringBuilder(pattern.Length + 16);
        var groupStarts = new Stack<int>();
        var atomStart = -1;
        var i = 0;
        while (i < pattern.Length)
        {
            var c = pattern[i];
            if (c == '\\')
            {
                atomStart = output.Length;
                var end = EscapeEnd(pattern, i);
                output.Append(pattern, i, end - i);
                i = end;
            }
            else if (c == '[')
            {
                atomStart = output.Length;
                var end = ClassEnd(pattern, i);
                output.Append(pattern, i, end - i);
                i = end;
            }
            else if (c == '(')
            {
                groupStarts.Push(output.Length);
                output.Append(c);
                i++;
                atomStart = -1;
            }
            else if (c == ')')
            {
                atomStart = groupStarts.Count > 0 ? groupStarts.Pop() : -1;
                output.Append(c);
                i++;
            }
            else if (c is '*' or '+' or '?' || (c == '{' && QuantifierEnd(pattern, i) > 0))
            {
                var end = c == '{' ? QuantifierEnd(pattern, i) : i + 1;
                output.Append(pattern, i, end - i);
                i = end;
                if (i < pattern.Length && pattern[i] == '+' && atomStart >= 0)
                {
                    output.Insert(atomStart, "(?>");
                    output.Append(')');
                    i++;
                }
                else if (i < pattern.Length && pattern[i] == '?')
                {
                    output.Append('?');
                    i++;
                }

                atomStart = -1;
            }
            else
            {
                atomStart = output.Length;
                output.Append(c);
                i++;
            }
        }

        return output.ToString();
    }

    private static int EscapeEnd(string p, int i)
    {
        if (i + 1 >= p.Length)
        {
            return p.Length;
        }

        var k = p[i + 1];
        if ((k is 'p' or 'P' or 'x' or 'k') && i + 2 < p.Length && (p[i + 2] == '{' || p[i + 2] == '<'))
        {
            var close = p.IndexOfAny(['}', '>'], i + 2);
            return close < 0 ? p.Length : close + 1;
        }

        if (k == 'x')
        {
            return Math.Min(p.Length, i + 4);
        }

        if (k == 'u')
        {
            return Math.Min(p.Length, i + 6);
        }

        return i + 2;
    }

    private static int ClassEnd(string p, int i)
    {
        var j = i + 1;
        if (j < p.Length && p[j] == '^')
        {
            j++;
        }

        if (j < p.Length && p[j] == ']')
        {
            j++;
        }

        var depth = 1;
        while (j < p.Length)
        {
            if (p[j] == '\\')
            {
                j = EscapeEnd(p, j);
                continue;
            }

            if (p[j] == '[')
            {
                depth++;
            }
            else if (p[j] == ']' && --depth == 0)
            {
                return j + 1;
            }

            j++;
        }

        return p.Length;
    }

    /// <summary>The end of a <c>{n}</c>, <c>{n,}</c> or <c>{n,m}</c> quantifier starting at <paramref name="i"/>, or 0 when it is a literal brace.</summary>
    private static int QuantifierEnd(string p, int i)
    {
        var j = i + 1;
        var digits = 0;
        while (j < p.Length && char.IsAsciiDigit(p[j]))
        {
            j++;
            digits++;
        }

        if (j < p.Length && p[j] == ',')
        {
            j++;
            while (j < p.Length && char.IsAsciiDigit(p[j]))
            {
                j++;
                digits++;
            }
        }

        return digits > 0 && j < p.Length && p[j] == '}' ? j + 1 : 0;
    }

    private static char[] BuildStandIns()
    {
        // For each category, a BMP character of that category that is not white space and whose
        // case forms are not ASCII (so it can never take part in a pattern's ASCII literals).
        var categories = Enum.GetValues<UnicodeCategory>();
        var table = new char[categories.Max(c => (int)c) + 1];
        Array.Fill(table, '\uFFFD');
        var found = new bool[table.Length];
        for (var c = 0xA0; c <= 0xFFFD; c++)
        {
            var ch = (char)c;
            if (char.IsSurrogate(ch) || char.IsWhiteSpace(ch) || char.ToLowerInvariant(ch) < 0x80 || char.ToUpperInvariant(ch) < 0x80)
            {
                continue;
            }

            var category = (int)char.GetUnicodeCategory(ch);
            if (!found[category])
            {
                found[category] = true;
                table[category] = ch;
            }
        }

        return table;
    }
}

using System.Globalization;

namespace Attune.Torch.Tokenizers;

/// <summary>A token that is split out of the text before pre-tokenization (Hugging Face's <c>added_tokens</c>).</summary>
public sealed record AddedToken(int Id, string Content, bool Special, bool SingleWord = false, bool LStrip = false, bool RStrip = false, bool Normalized = false);

/// <summary>A run of text, or one added token, in the order they appear.</summary>
internal readonly record struct Segment(string Text, int Start, int Length, AddedToken? Token);

/// <summary>Finds added tokens in text, leftmost first and longest first, honouring their flags.</summary>
internal sealed class AddedTokenMatcher
{
    private readonly Dictionary<char, (string Pattern, AddedToken Token)[]> _byFirstChar;

    /// <summary>Matches each token by <paramref name="tokens"/>' pattern (its content, normalized where the token is).</summary>
    public AddedTokenMatcher(IEnumerable<(string Pattern, AddedToken Token)> tokens)
    {
        _byFirstChar = tokens
            .Where(t => t.Pattern.Length > 0)
            .GroupBy(t => t.Pattern[0])
            .ToDictionary(g => g.Key, g => g.OrderByDescending(t => t.Pattern.Length).ToArray());
    }

    public bool IsEmpty => _byFirstChar.Count == 0;

    /// <summary>Cuts <paramref name="segment"/> (a text segment) into text and added-token segments.</summary>
    public void Split(Segment segment, List<Segment> output)
    {
        if (IsEmpty || segment.Token is not null)
        {
            output.Add(segment);
            return;
        }

        var text = segment.Text.AsSpan(segment.Start, segment.Length);
        var emitted = 0; // text before this offset has been emitted
        var i = 0;
        while (i < text.Length)
        {
            if (!_byFirstChar.TryGetValue(text[i], out var candidates))
            {
                i++;
                continue;
            }

            AddedToken? match = null;
            var stop = i;
            foreach (var candidate in candidates)
            {
                if (text[i..].StartsWith(candidate.Pattern, StringComparison.Ordinal))
                {
                    match = candidate.Token;
                    stop = i + candidate.Pattern.Length;
                    break;
                }
            }

            if (match is null)
            {
                i++;
                continue;
            }

            var start = i;
            if (match.SingleWord)
            {
                var wordBefore = start > 0 && IsWordChar(text, start - 1, before: true);
                var wordAfter = stop < text.Length && IsWordChar(text, stop, before: false);
                if (wordBefore || wordAfter)
                {
                    // As Hugging Face's non-overlapping search: resume after the rejected match.
                    i = stop;
                    continue;
                }
            }

            if (match.LStrip)
            {
                while (start > emitted && char.IsWhiteSpace(text[start - 1]))
                {
                    start--;
                }
            }

            if (match.RStrip)
            {
                while (stop < text.Length && char.IsWhiteSpace(text[stop]))
                {
                    stop++;
                }
            }

            if (start > emitted)
            {
                output.Add(new Segment(segment.Text, segment.Start + emitted, start - emitted, null));
            }

            output.Add(new Segment(segment.Text, segment.Start + start, stop - start, match));
            emitted = stop;
            i = stop;
        }

        if (emitted < text.Length)
        {
            output.Add(new Segment(segment.Text, segment.Start + emitted, text.Length - emitted, null));
        }
    }

    /// <summary>Whether the character (code point) ending before, or starting at, <paramref name="index"/> is a word character (regex <c>\w</c>).</summary>
    private static bool IsWordChar(ReadOnlySpan<char> text, int index, bool before)
    {
        int codePoint;
        if (before && index > 0 && char.IsLowSurrogate(text[index]) && char.IsHighSurrogate(text[index - 1]))
        {
            codePoint = char.ConvertToUtf32(text[index - 1], text[index]);
        }
        else if (!before && index + 1 < text.Length && char.IsHighSurrogate(text[index]) && char.IsLowSurrogate(text[index + 1]))
        {
            codePoint = char.ConvertToUtf32(text[index], text[index + 1]);
        }
        else
        {
            codePoint = text[index];
        }

        if (codePoint == '_')
        {
            return true;
        }

        return CharUnicodeInfo.GetUnicodeCategory(codePoint) switch
        {
            UnicodeCategory.UppercaseLetter or UnicodeCategory.LowercaseLetter or UnicodeCategory.TitlecaseLetter
                or UnicodeCategory.ModifierLetter or UnicodeCategory.OtherLetter
                or UnicodeCategory.DecimalDigitNumber or UnicodeCategory.LetterNumber or UnicodeCategory.OtherNumber
                or UnicodeCategory.NonSpacingMark or UnicodeCategory.SpacingCombiningMark or UnicodeCategory.EnclosingMark
                or UnicodeCategory.ConnectorPunctuation => true,
            _ => false,
        };
    }
}

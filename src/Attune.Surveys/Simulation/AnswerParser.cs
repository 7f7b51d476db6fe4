using System.Text.RegularExpressions;

namespace Attune.Surveys.Simulation;

/// <summary>
/// Reads which option a reply chose. Accepted: a lone letter ("B", "B.", "(B)", "B) Somewhat",
/// "**B**"), "Answer: B" / "The answer is B", or the exact text of exactly one option. A reply that
/// names two different letters, or none, is unparseable (null).
/// </summary>
public static partial class AnswerParser
{
    [GeneratedRegex(@"^\W*([A-Z])(?:$|[\W_])", RegexOptions.CultureInvariant)]
    private static partial Regex Leading();

    [GeneratedRegex(@"(?:answer|option|choice)\s*(?:is|:)?\s*\W{0,2}([A-Z])\b", RegexOptions.CultureInvariant | RegexOptions.IgnoreCase)]
    private static partial Regex Stated();

    [GeneratedRegex(@"(?<![A-Za-z])([A-Z])(?![A-Za-z])", RegexOptions.CultureInvariant)]
    private static partial Regex Standalone();

    /// <summary>The 0-based option index, or null when the reply cannot be read.</summary>
    public static int? Parse(string? reply, IReadOnlyList<string> options)
    {
        ArgumentNullException.ThrowIfNull(options);
        if (string.IsNullOrWhiteSpace(reply)) return null;
        var text = reply.Trim();
        int k = options.Count;

        var m = Leading().Match(text);
        if (m.Success && Valid(m.Groups[1].Value[0], k, out int lead))
        {
            // "A" alone, or "A. …"; but not the article "A " starting a sentence ("A lot of …").
            // "B", "B.", "C) Not much", "**D**"; but "A or B" names two letters and is left to the checks below.
            int after = m.Groups[1].Index + 1;
            bool delimited = after >= text.Length || text[after] is '.' or ')' or ':' or '*' or ',' or '\n';
            if (!IsArticle(text, m.Groups[1].Index) && (delimited || OtherLetters(text, lead, k) == 0)) return lead;
        }

        m = Stated().Match(text);
        if (m.Success && Valid(char.ToUpperInvariant(m.Groups[1].Value[0]), k, out int stated)) return stated;

        // Standalone capitals, leaving out the pronoun "I" and the article "A" ("A lot of …").
        var letters = Standalone().Matches(text)
            .Where(x => !IsArticle(text, x.Index))
            .Select(x => x.Groups[1].Value[0]).Where(c => c - 'A' < k && c != 'I').Distinct().ToList();
        if (letters.Count == 1)
            return letters[0] - 'A';

        var byText = Enumerable.Range(0, k).Where(i => string.Equals(text.TrimEnd('.'), options[i], StringComparison.OrdinalIgnoreCase)).ToList();
        if (byText.Count == 1) return byText[0];
        var contained = Enumerable.Range(0, k).Where(i => text.Contains(options[i], StringComparison.OrdinalIgnoreCase)).ToList();
        return contained.Count == 1 ? contained[0] : null;
    }

    private static int OtherLetters(string text, int except, int options) =>
        Standalone().Matches(text).Where(x => !IsArticle(text, x.Index)).Select(x => x.Groups[1].Value[0] - 'A')
            .Where(i => i >= 0 && i < options && i != except && i != 'I' - 'A').Distinct().Count();

    private static readonly HashSet<string> NotNouns = new(["or", "and", "is", "because", "as", "since", "but", "would", "seems", "fits", "best"], StringComparer.Ordinal);

    /// <summary>Whether the "A" at <paramref name="index"/> is the article ("A lot of …") rather than the option ("A or B", "A because …").</summary>
    private static bool IsArticle(string text, int index)
    {
        if (text[index] != 'A' || index + 2 >= text.Length || text[index + 1] != ' ' || !char.IsLower(text[index + 2])) return false;
        int end = index + 2;
        while (end < text.Length && char.IsLetter(text[end])) end++;
        return !NotNouns.Contains(text[(index + 2)..end]);
    }

    private static bool Valid(char c, int options, out int index)
    {
        index = c - 'A';
        return index >= 0 && index < options;
    }
}

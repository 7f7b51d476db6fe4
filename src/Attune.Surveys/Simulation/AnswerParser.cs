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
            bool article = m.Groups[1].Value == "A" && text.Length > 2 && text[1] == ' ' && char.IsLower(text[2]);
            if (!article) return lead;
        }

        m = Stated().Match(text);
        if (m.Success && Valid(char.ToUpperInvariant(m.Groups[1].Value[0]), k, out int stated)) return stated;

        var letters = Standalone().Matches(text).Select(x => x.Groups[1].Value[0]).Where(c => c - 'A' < k && c != 'I').Distinct().ToList();
        if (letters.Count == 1 && !(letters[0] == 'A' && Regex.IsMatch(text, @"(?:^|[.!?]\s+)A\s+[a-z]", RegexOptions.CultureInvariant)))
            return letters[0] - 'A';

        var byText = Enumerable.Range(0, k).Where(i => string.Equals(text.TrimEnd('.'), options[i], StringComparison.OrdinalIgnoreCase)).ToList();
        if (byText.Count == 1) return byText[0];
        var contained = Enumerable.Range(0, k).Where(i => text.Contains(options[i], StringComparison.OrdinalIgnoreCase)).ToList();
        return contained.Count == 1 ? contained[0] : null;
    }

    private static bool Valid(char c, int options, out int index)
    {
        index = c - 'A';
        return index >= 0 && index < options;
    }
}

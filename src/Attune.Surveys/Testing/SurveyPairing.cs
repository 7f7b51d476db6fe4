using Attune.Core.Errors;
using Attune.Surveys.Data;

namespace Attune.Surveys.Testing;

/// <summary>One question × group: the human and the LLM counts over the same options (refusals already dropped when asked).</summary>
public sealed record PairedTable
{
    public required string Question { get; init; }

    public required string Group { get; init; }

    /// <summary>The options tested (refusals dropped unless kept).</summary>
    public required IReadOnlyList<string> Options { get; init; }

    public required int[] Human { get; init; }

    public required int[] Llm { get; init; }

    public int HumanTotal => Human.Sum();

    public int LlmTotal => Llm.Sum();
}

/// <summary>
/// Lines up human and LLM answers by question and group. Several lines for one question × group
/// (several personas, or answers split over files) are summed. The LLM file may only name groups
/// and questions that the human file has, with the same options in the same order.
/// </summary>
public static class SurveyPairing
{
    /// <summary>The paired tables, in the order the human file lists them; <paramref name="unmatched"/> counts human tables with no LLM answers.</summary>
    public static IReadOnlyList<PairedTable> Pair(
        IReadOnlyList<SurveyAnswers> human, IReadOnlyList<SurveyAnswers> llm, bool keepRefusals, out int unmatched)
    {
        ArgumentNullException.ThrowIfNull(human);
        ArgumentNullException.ThrowIfNull(llm);
        var humans = Merge(human, "human");
        var llms = Merge(llm, "LLM", humans);
        var tables = new List<PairedTable>();
        unmatched = 0;
        foreach (var (key, h) in humans)
        {
            if (!llms.TryGetValue(key, out var l))
            {
                unmatched++;
                continue;
            }

            var refusals = new HashSet<string>(h.Refusals, StringComparer.Ordinal);
            refusals.UnionWith(l.Refusals);
            var keep = Enumerable.Range(0, h.Options.Count).Where(k => keepRefusals || !refusals.Contains(h.Options[k])).ToArray();
            if (keep.Length < 2)
                throw SurveyReader.Error($"question '{key.Question}' has {keep.Length} option(s) left after dropping refusals; at least 2 are needed", h.Source, "options");
            var table = new PairedTable
            {
                Question = key.Question,
                Group = key.Group,
                Options = [.. keep.Select(k => h.Options[k])],
                Human = [.. keep.Select(k => h.Counts[k])],
                Llm = [.. keep.Select(k => l.Counts[k])],
            };
            if (table.HumanTotal == 0)
                throw SurveyReader.Error($"no human answers for question '{key.Question}', group '{key.Group}'{(keepRefusals ? "" : " after dropping refusals")}", h.Source, "counts");
            if (table.LlmTotal == 0)
                throw SurveyReader.Error($"no LLM answers for question '{key.Question}', group '{key.Group}'{(keepRefusals ? "" : " after dropping refusals")}", l.Source, "counts");
            tables.Add(table);
        }

        return tables;
    }

    private static Dictionary<(string Question, string Group), SurveyAnswers> Merge(
        IReadOnlyList<SurveyAnswers> records, string who, Dictionary<(string Question, string Group), SurveyAnswers>? reference = null)
    {
        var merged = new Dictionary<(string, string), SurveyAnswers>();
        var groups = reference?.Keys.Select(k => k.Group).ToHashSet(StringComparer.Ordinal);
        foreach (var r in records)
        {
            var key = (r.Question, r.Group);
            if (reference is not null)
            {
                if (!groups!.Contains(r.Group))
                    throw SurveyReader.Error($"unknown group '{r.Group}': the human answers have no such group (they have {Describe(groups)})", r.Source, "group");
                if (!reference.TryGetValue(key, out var h))
                    throw SurveyReader.Error($"unknown question '{r.Question}' for group '{r.Group}': the human answers have no such question in that group", r.Source, "question");
                CheckOptions(r, h, "the human answers");
            }

            if (merged.TryGetValue(key, out var existing))
            {
                CheckOptions(r, existing, $"the earlier {who} answers");
                merged[key] = existing with
                {
                    Counts = [.. existing.Counts.Zip(r.Counts, (a, b) => a + b)],
                    Refusals = [.. existing.Refusals.Union(r.Refusals, StringComparer.Ordinal)],
                };
            }
            else
            {
                merged[key] = r;
            }
        }

        return merged;
    }

    private static void CheckOptions(SurveyAnswers r, SurveyAnswers other, string what)
    {
        if (r.Options.Count != other.Options.Count)
            throw SurveyReader.Error($"{r.Options.Count} options, but {what} to question '{r.Question}' ({other.Source}) have {other.Options.Count}", r.Source, "options");
        for (int k = 0; k < r.Options.Count; k++)
        {
            if (!string.Equals(r.Options[k], other.Options[k], StringComparison.Ordinal))
                throw SurveyReader.Error($"option {k + 1} is '{r.Options[k]}', but in {what} to question '{r.Question}' ({other.Source}) it is '{other.Options[k]}'", r.Source, "options");
        }
    }

    private static string Describe(HashSet<string> groups)
    {
        var sorted = groups.Order(StringComparer.Ordinal).ToList();
        return sorted.Count <= 6 ? string.Join(", ", sorted.Select(g => $"'{g}'")) : $"{sorted.Count} groups, e.g. '{sorted[0]}'";
    }
}

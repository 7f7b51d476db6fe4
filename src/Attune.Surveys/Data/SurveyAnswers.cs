namespace Attune.Surveys.Data;

/// <summary>Where a record came from: a file and a 1-based line (0 when not line-based).</summary>
public readonly record struct SourceLocation(string File, long Line)
{
    public override string ToString() => Line > 0 ? $"{File}:{Line}" : File;
}

/// <summary>
/// The answers of one group (a human sub-population, or the LLM simulating it) to one question:
/// the ordered options, which of them are refusals, and the count of each option. Counts are
/// whole numbers: weighted answers and probability vectors are turned into counts when read
/// (<see cref="CountRounding"/>).
/// </summary>
public sealed record SurveyAnswers
{
    public required string Question { get; init; }

    public required string Group { get; init; }

    /// <summary>The options in their order (ordinal questions: low to high).</summary>
    public required IReadOnlyList<string> Options { get; init; }

    /// <summary>Options that are refusals ("Refused", "Don't know"); dropped before testing by default.</summary>
    public IReadOnlyList<string> Refusals { get; init; } = [];

    /// <summary>Count of each option, in the order of <see cref="Options"/>.</summary>
    public required int[] Counts { get; init; }

    /// <summary>For LLM answers: the persona prompt style or name that produced them, when known.</summary>
    public string? Persona { get; init; }

    public SourceLocation Source { get; init; }

    public int Total => Counts.Sum();
}

/// <summary>Turns weights (weighted counts, probabilities) into whole counts with a given total.</summary>
public static class CountRounding
{
    /// <summary>
    /// Largest-remainder rounding of <paramref name="weights"/> × total / Σweights: the counts sum
    /// exactly to <paramref name="total"/>, and each is within 1 of its exact share.
    /// Ties in the remainders go to the earlier option.
    /// </summary>
    public static int[] LargestRemainder(ReadOnlySpan<double> weights, int total)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(total);
        double sum = 0;
        foreach (double w in weights)
        {
            if (!double.IsFinite(w) || w < 0)
                throw new ArgumentException($"weight {w} is not a finite non-negative number", nameof(weights));
            sum += w;
        }
        var counts = new int[weights.Length];
        if (sum <= 0 || total == 0) return counts;
        var remainders = new double[weights.Length];
        int assigned = 0;
        for (int k = 0; k < weights.Length; k++)
        {
            double exact = weights[k] * total / sum;
            counts[k] = (int)Math.Floor(exact);
            remainders[k] = exact - counts[k];
            assigned += counts[k];
        }
        var order = Enumerable.Range(0, weights.Length).OrderByDescending(k => remainders[k]).ThenBy(k => k).ToArray();
        for (int i = 0; assigned < total; i++, assigned++)
            counts[order[i % order.Length]]++;
        return counts;
    }
}

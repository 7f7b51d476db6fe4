namespace Attune.Core.Statistics;

/// <summary>
/// Statistics of a 2×K table given as two count vectors (first group, second group). Each is a
/// <see cref="CountStatistic"/>, so it can drive <see cref="PermutationTest.Categorical"/>.
/// Categories are taken as ordered (0 &lt; 1 &lt; … &lt; K-1) with unit spacing where order matters
/// (Kolmogorov–Smirnov, Wasserstein). None of them allocates.
/// </summary>
public static class CountStatistics
{
    /// <summary>
    /// Pearson's chi-square statistic X² = Σ (O − E)² / E of the 2×K table, with E = row total ×
    /// column total / N. Columns that are zero in both rows contribute nothing (they are dropped).
    /// Computed as N·(Σ_j (a_j²/(R_a C_j) + b_j²/(R_b C_j)) − 1), which equals the textbook form.
    /// </summary>
    public static double ChiSquare(ReadOnlySpan<int> countsA, ReadOnlySpan<int> countsB)
    {
        SameLength(countsA, countsB);
        long ra = 0, rb = 0;
        for (int k = 0; k < countsA.Length; k++) { ra += countsA[k]; rb += countsB[k]; }
        if (ra == 0 || rb == 0) return 0;
        double ia = 1.0 / ra, ib = 1.0 / rb, sum = 0;
        for (int k = 0; k < countsA.Length; k++)
        {
            int c = countsA[k] + countsB[k];
            if (c == 0) continue;
            double a = countsA[k], b = countsB[k];
            sum += (a * a * ia + b * b * ib) / c;
        }
        double x2 = (ra + rb) * (sum - 1.0);
        return x2 < 0 ? 0 : x2; // rounding can leave −1e-16 for identical rows
    }

    /// <summary>
    /// Two-sample Kolmogorov–Smirnov statistic over ordered categories: max_k |F_a(k) − F_b(k)|,
    /// with F the empirical CDFs (cumulative proportions).
    /// </summary>
    public static double KolmogorovSmirnov(ReadOnlySpan<int> countsA, ReadOnlySpan<int> countsB)
    {
        SameLength(countsA, countsB);
        Totals(countsA, countsB, out double na, out double nb);
        if (na == 0 || nb == 0) return 0;
        long ca = 0, cb = 0;
        double max = 0, ia = 1 / na, ib = 1 / nb;
        for (int k = 0; k < countsA.Length - 1; k++) // the last cumulative difference is 0
        {
            ca += countsA[k];
            cb += countsB[k];
            double d = Math.Abs(ca * ia - cb * ib);
            if (d > max) max = d;
        }
        return max;
    }

    /// <summary>Total-variation distance ½ Σ_k |p_a(k) − p_b(k)| between the two groups' category proportions.</summary>
    public static double TotalVariation(ReadOnlySpan<int> countsA, ReadOnlySpan<int> countsB)
    {
        SameLength(countsA, countsB);
        Totals(countsA, countsB, out double na, out double nb);
        if (na == 0 || nb == 0) return 0;
        double sum = 0, ia = 1 / na, ib = 1 / nb;
        for (int k = 0; k < countsA.Length; k++)
            sum += Math.Abs(countsA[k] * ia - countsB[k] * ib);
        return 0.5 * sum;
    }

    /// <summary>
    /// 1-Wasserstein (earth mover's) distance between the two groups' category proportions on the
    /// ordinal scale 0, 1, …, K−1 (unit spacing): Σ_k |F_a(k) − F_b(k)|.
    /// </summary>
    public static double Wasserstein1(ReadOnlySpan<int> countsA, ReadOnlySpan<int> countsB)
    {
        SameLength(countsA, countsB);
        Totals(countsA, countsB, out double na, out double nb);
        if (na == 0 || nb == 0) return 0;
        long ca = 0, cb = 0;
        double sum = 0, ia = 1 / na, ib = 1 / nb;
        for (int k = 0; k < countsA.Length - 1; k++)
        {
            ca += countsA[k];
            cb += countsB[k];
            sum += Math.Abs(ca * ia - cb * ib);
        }
        return sum;
    }

    /// <summary>Counts of each category 0..<paramref name="categories"/>−1 among <paramref name="answers"/>.</summary>
    public static int[] Count(ReadOnlySpan<int> answers, int categories)
    {
        Validate.Categories(categories);
        Validate.CategoryIndices(answers, categories, nameof(answers));
        var counts = new int[categories];
        foreach (int a in answers) counts[a]++;
        return counts;
    }

    private static void SameLength(ReadOnlySpan<int> countsA, ReadOnlySpan<int> countsB)
    {
        if (countsA.Length != countsB.Length)
            throw new ArgumentException($"the two count vectors have different lengths ({countsA.Length} and {countsB.Length}).", nameof(countsB));
    }

    private static void Totals(ReadOnlySpan<int> countsA, ReadOnlySpan<int> countsB, out double na, out double nb)
    {
        long ta = 0, tb = 0;
        for (int k = 0; k < countsA.Length; k++) { ta += countsA[k]; tb += countsB[k]; }
        na = ta;
        nb = tb;
    }
}

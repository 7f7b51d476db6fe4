using MathNet.Numerics.Distributions;

namespace Attune.Core.Statistics;

/// <summary>Spearman rank correlation result: rho, two-sided p-value, sample size and whether the p-value is exact.</summary>
public readonly record struct SpearmanResult(double Rho, double PValue, int N, bool Exact);

/// <summary>
/// Spearman's rank correlation: the Pearson correlation of the average ranks (ties get the mean of
/// the ranks they span, as R's <c>cor(method = "spearman")</c>). The default p-value is the
/// t approximation t = ρ √((n−2)/(1−ρ²)) with n−2 degrees of freedom, two-sided (R's
/// <c>cor.test(method = "spearman", exact = FALSE)</c>). With <c>exact: true</c> and n ≤ 10 the
/// p-value is P(|ρ*| ≥ |ρ|) over all n! pairings of the ranks (valid with ties too; for untied
/// data it equals R's exact two-sided p).
/// </summary>
public static class Spearman
{
    /// <summary>Largest n for which the exact p-value (n! permutations) is computed.</summary>
    public const int MaxExactN = 10;

    public static SpearmanResult Test(ReadOnlySpan<double> x, ReadOnlySpan<double> y, bool exact = false)
    {
        if (x.Length != y.Length)
            throw new ArgumentException($"x and y have different lengths ({x.Length} and {y.Length}).", nameof(y));
        int n = x.Length;
        if (n < 3)
            throw new ArgumentException($"x and y have {n} value(s): Spearman's test needs at least 3 pairs.", nameof(x));
        if (exact && n > MaxExactN)
            throw new ArgumentException($"exact p-values enumerate n! pairings and are offered for n ≤ {MaxExactN}; n is {n}.", nameof(exact));
        var rx = Ranks.Average(x);
        var ry = Ranks.Average(y);
        double rho = Correlation(rx, ry, out double denominator);
        if (denominator == 0)
            throw new ArgumentException($"{(Variance(rx) == 0 ? "x" : "y")} is constant: the rank correlation is undefined.", Variance(rx) == 0 ? nameof(x) : nameof(y));

        double p;
        if (exact)
        {
            p = ExactPValue(rx, ry, rho, denominator);
        }
        else if (Math.Abs(rho) >= 1)
        {
            p = 0;
        }
        else
        {
            double t = rho * Math.Sqrt((n - 2) / (1 - rho * rho));
            p = 2 * StudentT.CDF(0, 1, n - 2, -Math.Abs(t));
        }
        return new SpearmanResult(rho, Math.Min(1, p), n, exact);
    }

    private static double Correlation(double[] a, double[] b, out double denominator)
    {
        double ma = a.Average(), mb = b.Average(), sab = 0, saa = 0, sbb = 0;
        for (int i = 0; i < a.Length; i++)
        {
            double da = a[i] - ma, db = b[i] - mb;
            sab += da * db;
            saa += da * da;
            sbb += db * db;
        }
        denominator = Math.Sqrt(saa * sbb);
        return denominator == 0 ? double.NaN : sab / denominator;
    }

    private static double Variance(double[] a)
    {
        double m = a.Average(), s = 0;
        foreach (double v in a) s += (v - m) * (v - m);
        return s;
    }

    /// <summary>Enumerates all n! orderings of ry (Heap's algorithm) and counts |ρ*| ≥ |ρ| (relative tolerance 1e-9).</summary>
    private static double ExactPValue(double[] rx, double[] ry, double rho, double denominator)
    {
        int n = rx.Length;
        double mx = rx.Average(), my = ry.Average();
        var dx = rx.Select(v => v - mx).ToArray();
        var perm = ry.Select(v => v - my).ToArray();
        double threshold = Math.Abs(rho) * denominator * (1 - 1e-9);
        long hits = 0, total = 0;
        var c = new int[n];
        void Visit()
        {
            double s = 0;
            for (int i = 0; i < n; i++) s += dx[i] * perm[i];
            total++;
            if (Math.Abs(s) >= threshold) hits++;
        }
        Visit();
        int k = 1;
        while (k < n)
        {
            if (c[k] < k)
            {
                int swap = k % 2 == 0 ? 0 : c[k];
                (perm[swap], perm[k]) = (perm[k], perm[swap]);
                Visit();
                c[k]++;
                k = 1;
            }
            else
            {
                c[k] = 0;
                k++;
            }
        }
        return (double)hits / total;
    }
}

using MathNet.Numerics;

namespace Attune.Core.Statistics;

/// <summary>Pearson's chi-square test result: statistic X², degrees of freedom and asymptotic p-value P(χ²_df ≥ X²).</summary>
public readonly record struct ChiSquareResult(double Statistic, int DegreesOfFreedom, double PValue);

/// <summary>Pearson's chi-square test of homogeneity on a 2×K contingency table.</summary>
public static class ChiSquareTest
{
    /// <summary>
    /// Tests whether the two rows (category counts of two groups) come from the same categorical
    /// distribution. Columns that are zero in both rows are dropped; with K' non-empty columns the
    /// degrees of freedom are K'−1 and the p-value is the upper tail of χ²(K'−1) (regularised upper
    /// incomplete gamma, so small p-values keep their precision). With fewer than two non-empty
    /// columns there is nothing to test: statistic 0, 0 degrees of freedom, p-value 1.
    /// Same as R's <c>chisq.test(rbind(a, b), correct = FALSE)</c>.
    /// </summary>
    public static ChiSquareResult TwoByK(ReadOnlySpan<int> countsA, ReadOnlySpan<int> countsB)
    {
        Validate.Counts(countsA, countsB);
        int nonEmpty = 0;
        for (int k = 0; k < countsA.Length; k++)
            if (countsA[k] + countsB[k] > 0) nonEmpty++;
        if (nonEmpty < 2) return new ChiSquareResult(0, 0, 1);
        double x2 = CountStatistics.ChiSquare(countsA, countsB);
        int df = nonEmpty - 1;
        return new ChiSquareResult(x2, df, UpperTail(x2, df));
    }

    /// <summary>P(χ²_df ≥ x).</summary>
    public static double UpperTail(double x, int degreesOfFreedom)
    {
        if (degreesOfFreedom < 1)
            throw new ArgumentException($"degrees of freedom is {degreesOfFreedom}: it must be at least 1.", nameof(degreesOfFreedom));
        if (double.IsNaN(x))
            throw new ArgumentException("x is NaN.", nameof(x));
        if (x <= 0) return 1;
        return SpecialFunctions.GammaUpperRegularized(degreesOfFreedom / 2.0, x / 2.0);
    }
}

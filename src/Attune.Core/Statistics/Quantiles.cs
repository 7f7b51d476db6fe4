namespace Attune.Core.Statistics;

/// <summary>Quantiles of sorted samples, by the two definitions Attune uses.</summary>
public static class Quantiles
{
    /// <summary>
    /// R's type 7 (the default of R and NumPy): <c>x[h]</c> interpolated at <c>h = (n − 1)·p</c> (0-based), p clamped to
    /// [0, 1]; NaN for a NaN p. For bootstrap intervals and summaries.
    /// </summary>
    public static double Type7(double[] sorted, double p)
    {
        ArgumentNullException.ThrowIfNull(sorted);
        if (sorted.Length == 0)
        {
            throw new ArgumentException("a quantile needs at least one value", nameof(sorted));
        }

        if (double.IsNaN(p))
        {
            return double.NaN;
        }

        var h = (sorted.Length - 1) * Math.Clamp(p, 0, 1);
        var lo = (int)Math.Floor(h);
        var hi = Math.Min(lo + 1, sorted.Length - 1);
        return sorted[lo] + ((h - lo) * (sorted[hi] - sorted[lo]));
    }

    /// <summary>
    /// The nearest-rank quantile (R's type 1): the smallest value with at least a share <paramref name="q"/> of the
    /// sample at or below it — always an observed value, as latency percentiles are reported.
    /// </summary>
    public static double NearestRank(double[] sorted, double q)
    {
        ArgumentNullException.ThrowIfNull(sorted);
        if (sorted.Length == 0)
        {
            throw new ArgumentException("a quantile needs at least one value", nameof(sorted));
        }

        return sorted[Math.Clamp((int)Math.Ceiling(q * sorted.Length) - 1, 0, sorted.Length - 1)];
    }
}

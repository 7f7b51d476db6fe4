namespace Attune.Core.Statistics;

/// <summary>How to control error over a family of tests.</summary>
public enum PAdjustMethod
{
    /// <summary>Family-wise error: min(1, m·p).</summary>
    Bonferroni,

    /// <summary>Family-wise error, step-down (Holm 1979): cummax over ascending p of (m−i+1)·p_(i), capped at 1.</summary>
    Holm,

    /// <summary>False discovery rate under independence or positive dependence (Benjamini &amp; Hochberg 1995).</summary>
    BenjaminiHochberg,

    /// <summary>False discovery rate under any dependence (Benjamini &amp; Yekutieli 2001): BH times Σ_{i≤m} 1/i.</summary>
    BenjaminiYekutieli,
}

/// <summary>
/// Multiple-testing corrections returning adjusted p-values, defined as in R's <c>p.adjust</c>
/// (stats package): a hypothesis is rejected at level α when its adjusted p-value is ≤ α.
/// </summary>
public static class MultipleTesting
{
    /// <summary>Adjusted p-values, in the order of <paramref name="pValues"/>.</summary>
    public static double[] Adjust(ReadOnlySpan<double> pValues, PAdjustMethod method)
    {
        int m = pValues.Length;
        for (int i = 0; i < m; i++)
        {
            double p = pValues[i];
            if (double.IsNaN(p) || p < 0 || p > 1)
                throw new ArgumentException($"pValues[{i}] is {p}: p-values must lie in [0, 1].", nameof(pValues));
        }
        var adjusted = new double[m];
        if (m == 0) return adjusted;

        if (method == PAdjustMethod.Bonferroni)
        {
            for (int i = 0; i < m; i++) adjusted[i] = Math.Min(1.0, m * pValues[i]);
            return adjusted;
        }

        // Indices in ascending order of p (stable, like R's order()).
        var order = new int[m];
        for (int i = 0; i < m; i++) order[i] = i;
        var keys = pValues.ToArray();
        Array.Sort(order, (x, y) => keys[x] != keys[y] ? keys[x].CompareTo(keys[y]) : x.CompareTo(y));

        switch (method)
        {
            case PAdjustMethod.Holm:
            {
                // pmin(1, cummax((m − i + 1) · p_(i))), i = 1..m ascending.
                double running = 0;
                for (int r = 0; r < m; r++)
                {
                    running = Math.Max(running, (m - r) * keys[order[r]]);
                    adjusted[order[r]] = Math.Min(1.0, running);
                }
                return adjusted;
            }
            case PAdjustMethod.BenjaminiHochberg:
            case PAdjustMethod.BenjaminiYekutieli:
            {
                double q = 1;
                if (method == PAdjustMethod.BenjaminiYekutieli)
                {
                    q = 0;
                    for (int i = 1; i <= m; i++) q += 1.0 / i;
                }
                // pmin(1, cummin(q · m / i · p_(i))) over i = m..1 (descending p).
                double running = double.PositiveInfinity;
                for (int r = m - 1; r >= 0; r--)
                {
                    running = Math.Min(running, q * m / (r + 1) * keys[order[r]]);
                    adjusted[order[r]] = Math.Min(1.0, running);
                }
                return adjusted;
            }
            default:
                throw new ArgumentException($"unknown p-value adjustment method {method}.", nameof(method));
        }
    }

    /// <summary>Which hypotheses are rejected at level <paramref name="alpha"/>: adjusted p ≤ α.</summary>
    public static bool[] Reject(ReadOnlySpan<double> pValues, double alpha, PAdjustMethod method)
    {
        Validate.Probability(alpha, nameof(alpha));
        var adjusted = Adjust(pValues, method);
        var reject = new bool[adjusted.Length];
        for (int i = 0; i < adjusted.Length; i++) reject[i] = adjusted[i] <= alpha;
        return reject;
    }
}

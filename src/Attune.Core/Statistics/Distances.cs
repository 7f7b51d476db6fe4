namespace Attune.Core.Statistics;

/// <summary>
/// Distances between two categorical distributions over the same K ordered categories, given as
/// non-negative weights (probabilities or counts; each vector is normalised by its own sum).
/// </summary>
public static class Distances
{
    /// <summary>Total variation ½ Σ_k |p(k) − q(k)|, in [0, 1].</summary>
    public static double TotalVariation(ReadOnlySpan<double> p, ReadOnlySpan<double> q)
    {
        Check(p, q, out double sp, out double sq);
        double sum = 0;
        for (int k = 0; k < p.Length; k++) sum += Math.Abs(p[k] / sp - q[k] / sq);
        return 0.5 * sum;
    }

    /// <summary>1-Wasserstein distance on the ordinal scale 0..K−1 with unit spacing: Σ_k |P(k) − Q(k)| over the CDFs.</summary>
    public static double Wasserstein1(ReadOnlySpan<double> p, ReadOnlySpan<double> q)
    {
        Check(p, q, out double sp, out double sq);
        double cp = 0, cq = 0, sum = 0;
        for (int k = 0; k < p.Length - 1; k++)
        {
            cp += p[k] / sp;
            cq += q[k] / sq;
            sum += Math.Abs(cp - cq);
        }
        return sum;
    }

    /// <summary>Kolmogorov–Smirnov distance max_k |P(k) − Q(k)| between the CDFs over ordered categories.</summary>
    public static double KolmogorovSmirnov(ReadOnlySpan<double> p, ReadOnlySpan<double> q)
    {
        Check(p, q, out double sp, out double sq);
        double cp = 0, cq = 0, max = 0;
        for (int k = 0; k < p.Length - 1; k++)
        {
            cp += p[k] / sp;
            cq += q[k] / sq;
            max = Math.Max(max, Math.Abs(cp - cq));
        }
        return max;
    }

    private static void Check(ReadOnlySpan<double> p, ReadOnlySpan<double> q, out double sp, out double sq)
    {
        if (p.Length != q.Length)
            throw new ArgumentException($"the two distributions have different numbers of categories ({p.Length} and {q.Length}).", nameof(q));
        Validate.Categories(p.Length, "number of categories");
        sp = Sum(p, nameof(p));
        sq = Sum(q, nameof(q));
    }

    private static double Sum(ReadOnlySpan<double> w, string name)
    {
        double s = 0;
        for (int k = 0; k < w.Length; k++)
        {
            if (!double.IsFinite(w[k]) || w[k] < 0)
                throw new ArgumentException($"{name}[{k}] is {w[k]}: weights must be finite and non-negative.", name);
            s += w[k];
        }
        if (s <= 0)
            throw new ArgumentException($"{name} sums to 0: a distribution needs positive total weight.", name);
        return s;
    }
}

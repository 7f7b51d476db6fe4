using MathNet.Numerics.Distributions;

namespace Attune.Core.Statistics;

/// <summary>Mann–Kendall trend test result: S, Var(S) with tie correction, Z, two-sided p-value and Kendall's tau (S / (n(n−1)/2)).</summary>
public readonly record struct MannKendallResult(double S, double Variance, double Z, double PValue, double Tau);

/// <summary>
/// Mann–Kendall test for a monotonic trend in a series observed in time order (Mann 1945;
/// Kendall 1975; as in Hipel &amp; McLeod 1994 and Python's pymannkendall.original_test):
/// S = Σ_{i&lt;j} sign(x_j − x_i); Var(S) = [n(n−1)(2n+5) − Σ_g t_g(t_g−1)(2t_g+5)] / 18 over groups
/// of t_g tied values; Z = (S − 1)/√Var if S &gt; 0, (S + 1)/√Var if S &lt; 0, 0 otherwise;
/// p = 2(1 − Φ(|Z|)); tau = S / (n(n−1)/2).
/// </summary>
public static class MannKendall
{
    public static MannKendallResult Test(ReadOnlySpan<double> series)
    {
        Validate.Finite(series, nameof(series));
        int n = series.Length;
        if (n < 3)
            throw new ArgumentException($"series has {n} value(s): the Mann–Kendall test needs at least 3.", nameof(series));
        long s = 0;
        for (int i = 0; i < n - 1; i++)
        {
            double xi = series[i];
            for (int j = i + 1; j < n; j++)
                s += Math.Sign(series[j] - xi);
        }
        double variance = (double)n * (n - 1) * (2 * n + 5);
        foreach (int t in Ranks.TieGroups(series))
            variance -= (double)t * (t - 1) * (2 * t + 5);
        variance /= 18;
        double z = variance <= 0 ? 0 : s > 0 ? (s - 1) / Math.Sqrt(variance) : s < 0 ? (s + 1) / Math.Sqrt(variance) : 0;
        double p = 2 * Normal.CDF(0, 1, -Math.Abs(z));
        double tau = s / (n * (n - 1) / 2.0);
        return new MannKendallResult(s, variance, z, p, tau);
    }
}

namespace Attune.Core.Statistics;

/// <summary>One-sample Kolmogorov–Smirnov test result: D = sup |F_n − F|, its p-value and the sample size.</summary>
public readonly record struct KolmogorovSmirnovResult(double Statistic, double PValue, int N);

/// <summary>
/// One-sample Kolmogorov–Smirnov test against Uniform(0, 1), used to check that p-values are
/// calibrated. The p-value uses the exact finite-n distribution of D_n by the method of
/// Marsaglia, Tsang and Wang, "Evaluating Kolmogorov's distribution", J. Stat. Software 8(18),
/// 2003 (matrix power of a (2k−1)×(2k−1) matrix), with their own approximation in the far tail
/// (n·d² &gt; 7.24, or &gt; 3.76 when n &gt; 99), where the p-value is below ~1e-6, and Stephens'
/// corrected limit where n·d &gt; 100 (very large samples), where the exact method is too slow.
/// </summary>
public static class KolmogorovSmirnov
{
    /// <summary>Tests whether <paramref name="sample"/> (values in [0, 1]) is a sample from Uniform(0, 1).</summary>
    public static KolmogorovSmirnovResult UniformTest(ReadOnlySpan<double> sample)
    {
        Validate.NotEmpty(sample, nameof(sample));
        Validate.Finite(sample, nameof(sample));
        var sorted = sample.ToArray();
        Array.Sort(sorted);
        if (sorted[0] < 0 || sorted[^1] > 1)
            throw new ArgumentException("sample has values outside [0, 1]: a test against Uniform(0, 1) needs values in [0, 1].", nameof(sample));
        int n = sorted.Length;
        double d = 0;
        for (int i = 0; i < n; i++)
        {
            double x = sorted[i];
            d = Math.Max(d, Math.Max((i + 1.0) / n - x, x - (double)i / n));
        }
        return new KolmogorovSmirnovResult(d, PValue(n, d), n);
    }

    /// <summary>P(D_n ≥ d) for a sample of n from a continuous distribution.</summary>
    public static double PValue(int n, double d)
    {
        if (n < 1) throw new ArgumentException($"n is {n}: it must be at least 1.", nameof(n));
        if (double.IsNaN(d)) throw new ArgumentException("d is NaN.", nameof(d));
        return Math.Clamp(1.0 - Cdf(n, d), 0.0, 1.0);
    }

    /// <summary>P(D_n &lt; d), Marsaglia–Tsang–Wang (2003).</summary>
    public static double Cdf(int n, double d)
    {
        if (n < 1) throw new ArgumentException($"n is {n}: it must be at least 1.", nameof(n));
        if (d <= 0.5 / n) return 0; // D_n ≥ 1/(2n) always
        if (d >= 1) return 1;
        double s = d * d * n;
        if (s > 7.24 || (s > 3.76 && n > 99))
            return 1 - 2 * Math.Exp(-(2.000071 + 0.331 / Math.Sqrt(n) + 1.409 / n) * s);

        int k = (int)(n * d) + 1;
        if (k > MaxExactK)
            return 1 - KolmogorovUpperTail((Math.Sqrt(n) + 0.12 + 0.11 / Math.Sqrt(n)) * d);
        int m = 2 * k - 1;
        double h = k - n * d;
        var H = new double[m * m];
        for (int i = 0; i < m; i++)
            for (int j = 0; j < m; j++)
                H[i * m + j] = i - j + 1 < 0 ? 0 : 1;
        for (int i = 0; i < m; i++)
        {
            H[i * m] -= Math.Pow(h, i + 1);
            H[(m - 1) * m + i] -= Math.Pow(h, m - i);
        }
        H[(m - 1) * m] += 2 * h - 1 > 0 ? Math.Pow(2 * h - 1, m) : 0;
        for (int i = 0; i < m; i++)
            for (int j = 0; j < m; j++)
                if (i - j + 1 > 0)
                    for (int g = 1; g <= i - j + 1; g++)
                        H[i * m + j] /= g;

        var (q, eQ) = MatrixPower(H, m, n);
        s = q[(k - 1) * m + k - 1];
        for (int i = 1; i <= n; i++)
        {
            s = s * i / n;
            if (s < 1e-140)
            {
                s *= 1e140;
                eQ -= 140;
            }
        }
        return s * Math.Pow(10.0, eQ);
    }

    /// <summary>
    /// Above this k = ⌊n·d⌋ + 1 the (2k−1)² matrix power gets slow (O(k³ log n)); there the p-value
    /// uses Stephens' (1970) finite-n correction of Kolmogorov's limit, Q((√n + 0.12 + 0.11/√n)·d),
    /// which is accurate to about 1e-3 for such large n·d.
    /// </summary>
    internal const int MaxExactK = 100;

    /// <summary>Kolmogorov's limiting upper tail Q(λ) = 2 Σ_{j≥1} (−1)^{j−1} exp(−2 j² λ²).</summary>
    internal static double KolmogorovUpperTail(double lambda)
    {
        if (lambda <= 0.2) return 1;
        double sum = 0;
        for (int j = 1; j <= 100; j++)
        {
            double term = Math.Exp(-2.0 * j * j * lambda * lambda);
            sum += (j % 2 == 1 ? 2 : -2) * term;
            if (term < 1e-17) break;
        }
        return Math.Clamp(sum, 0, 1);
    }

    /// <summary>A^n with a decimal exponent kept aside to avoid overflow: returns (M, e) with A^n = M·10^e.</summary>
    private static (double[] Matrix, int Exponent) MatrixPower(double[] a, int m, int n)
    {
        if (n == 1) return ((double[])a.Clone(), 0);
        var (v, eV) = MatrixPower(a, m, n / 2);
        var b = Multiply(v, v, m);
        int eB = 2 * eV;
        if (n % 2 == 1)
            b = Multiply(a, b, m);
        if (b[(m / 2) * m + m / 2] > 1e140)
        {
            for (int i = 0; i < m * m; i++) b[i] *= 1e-140;
            eB += 140;
        }
        return (b, eB);
    }

    private static double[] Multiply(double[] x, double[] y, int m)
    {
        var z = new double[m * m];
        for (int i = 0; i < m; i++)
            for (int k = 0; k < m; k++)
            {
                double xik = x[i * m + k];
                if (xik == 0) continue;
                for (int j = 0; j < m; j++)
                    z[i * m + j] += xik * y[k * m + j];
            }
        return z;
    }
}

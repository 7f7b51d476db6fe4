using Attune.Core.Randomness;
using MathNet.Numerics.Distributions;

namespace Attune.Core.Statistics;

/// <summary>A two-sided confidence interval around a point estimate, at confidence <see cref="Level"/> (e.g. 0.95).</summary>
public readonly record struct ConfidenceInterval(double Estimate, double Lower, double Upper, double Level);

/// <summary>
/// Nonparametric bootstrap confidence intervals for any statistic of one sample (Efron &amp;
/// Tibshirani, An Introduction to the Bootstrap, 1993, ch. 13 and 14). Resamples are drawn in
/// fixed chunks of 1,000, chunk c from <c>Seeds.Create(seed, c)</c>, so the interval depends on
/// the seed only, not on the number of threads.
/// </summary>
public static class Bootstrap
{
    private const int ChunkSize = 1000;

    /// <summary>
    /// The <paramref name="resamples"/> bootstrap replicates θ*_b of <paramref name="statistic"/>
    /// (each on a resample of the same size drawn with replacement), in draw order.
    /// </summary>
    public static double[] Replicates<T>(
        ReadOnlySpan<T> sample, Func<ReadOnlySpan<T>, double> statistic, int resamples, int seed, int maxDegreeOfParallelism = -1)
    {
        Validate.NotEmpty(sample, nameof(sample));
        ArgumentNullException.ThrowIfNull(statistic);
        if (resamples < 1)
            throw new ArgumentException($"resamples is {resamples}: at least 1 resample is needed.", nameof(resamples));
        var data = sample.ToArray();
        var replicates = new double[resamples];
        int chunks = (resamples + ChunkSize - 1) / ChunkSize;
        Parallel.For(0, chunks, new ParallelOptions { MaxDegreeOfParallelism = maxDegreeOfParallelism }, c =>
        {
            var rng = Seeds.Create(seed, c);
            var buffer = new T[data.Length];
            int end = Math.Min(resamples, (c + 1) * ChunkSize);
            for (int b = c * ChunkSize; b < end; b++)
            {
                for (int i = 0; i < buffer.Length; i++) buffer[i] = data[rng.Next(data.Length)];
                replicates[b] = statistic(buffer);
            }
        });
        return replicates;
    }

    /// <summary>
    /// Percentile interval: the (1−level)/2 and (1+level)/2 quantiles of the bootstrap replicates
    /// (linear interpolation between order statistics, R's quantile type 7).
    /// </summary>
    public static ConfidenceInterval Percentile<T>(
        ReadOnlySpan<T> sample, Func<ReadOnlySpan<T>, double> statistic, int resamples, double level, int seed, int maxDegreeOfParallelism = -1)
    {
        Validate.Probability(level, nameof(level));
        var replicates = Replicates(sample, statistic, resamples, seed, maxDegreeOfParallelism);
        double estimate = Estimate(sample, statistic);
        Array.Sort(replicates);
        double alpha = (1 - level) / 2;
        return new ConfidenceInterval(estimate, Quantiles.Type7(replicates, alpha), Quantiles.Type7(replicates, 1 - alpha), level);
    }

    /// <summary>
    /// Bias-corrected and accelerated (BCa) interval (Efron 1987; Efron &amp; Tibshirani 1993, §14.3):
    /// the replicates' quantiles at α₁ = Φ(z₀ + (z₀+z_{α/2})/(1 − a(z₀+z_{α/2}))) and α₂ likewise with
    /// z_{1−α/2}, where z₀ = Φ⁻¹(share of replicates below θ̂, ties counted half) and the acceleration
    /// a = Σ(θ̄−θ₍ᵢ₎)³ / (6 [Σ(θ̄−θ₍ᵢ₎)²]^{3/2}) from the jackknife (leave-one-out) values θ₍ᵢ₎.
    /// The share is kept within [1/(2B), 1 − 1/(2B)] so z₀ stays finite.
    /// </summary>
    public static ConfidenceInterval Bca<T>(
        ReadOnlySpan<T> sample, Func<ReadOnlySpan<T>, double> statistic, int resamples, double level, int seed, int maxDegreeOfParallelism = -1)
    {
        Validate.Probability(level, nameof(level));
        var replicates = Replicates(sample, statistic, resamples, seed, maxDegreeOfParallelism);
        double estimate = Estimate(sample, statistic);
        Array.Sort(replicates);
        double below = 0;
        foreach (double r in replicates)
            below += r < estimate ? 1 : r == estimate ? 0.5 : 0;
        double share = Math.Clamp(below / resamples, 0.5 / resamples, 1 - 0.5 / resamples);
        double z0 = Normal.InvCDF(0, 1, share);
        double a = sample.Length >= 2 ? JackknifeAcceleration(sample, statistic) : 0;
        double alpha = (1 - level) / 2;
        double lower = Quantiles.Type7(replicates, Adjusted(z0, a, Normal.InvCDF(0, 1, alpha)));
        double upper = Quantiles.Type7(replicates, Adjusted(z0, a, Normal.InvCDF(0, 1, 1 - alpha)));
        return new ConfidenceInterval(estimate, lower, upper, level);
    }

    /// <summary>The BCa acceleration a = Σ(θ̄−θ₍ᵢ₎)³ / (6 [Σ(θ̄−θ₍ᵢ₎)²]^{3/2}); 0 when all jackknife values are equal.</summary>
    public static double JackknifeAcceleration<T>(ReadOnlySpan<T> sample, Func<ReadOnlySpan<T>, double> statistic)
    {
        int n = sample.Length;
        if (n < 2)
            throw new ArgumentException($"sample has {n} value(s): the jackknife needs at least 2.", nameof(sample));
        ArgumentNullException.ThrowIfNull(statistic);
        var leaveOneOut = new double[n];
        var buffer = new T[n - 1];
        for (int i = 0; i < n; i++)
        {
            sample[..i].CopyTo(buffer);
            sample[(i + 1)..].CopyTo(buffer.AsSpan(i));
            leaveOneOut[i] = statistic(buffer);
        }
        double mean = leaveOneOut.Average();
        double s2 = 0, s3 = 0;
        foreach (double t in leaveOneOut)
        {
            double d = mean - t;
            s2 += d * d;
            s3 += d * d * d;
        }
        return s2 == 0 ? 0 : s3 / (6 * Math.Pow(s2, 1.5));
    }

    private static double Adjusted(double z0, double a, double z)
    {
        double w = z0 + z;
        return Normal.CDF(0, 1, z0 + w / (1 - a * w));
    }

    private static double Estimate<T>(ReadOnlySpan<T> sample, Func<ReadOnlySpan<T>, double> statistic)
    {
        double estimate = statistic(sample);
        if (double.IsNaN(estimate))
            throw new ArgumentException("the statistic of the sample is NaN.", nameof(statistic));
        return estimate;
    }
}

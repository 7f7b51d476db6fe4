using MathNet.Numerics.Distributions;

namespace Attune.Core.Statistics;

/// <summary>A binomial proportion with its Wilson score interval.</summary>
public sealed record Proportion(int Successes, int Trials, double Low, double High)
{
    public double Value => Trials == 0 ? 0 : (double)Successes / Trials;
}

/// <summary>Binomial proportions: Wilson score intervals and the two-proportion z-test.</summary>
public static class Proportions
{
    /// <summary>The standard normal quantile of 0.975 (a two-sided 95% interval).</summary>
    public const double Z95 = 1.959963984540054;

    /// <summary>
    /// The Wilson score interval of <paramref name="successes"/> in <paramref name="trials"/>:
    /// (p̂ + z²/2n ± z·√(p̂(1−p̂)/n + z²/4n²)) / (1 + z²/n), clipped to [0, 1]; (0, 1) for no trials.
    /// </summary>
    public static (double Low, double High) Wilson(int successes, int trials, double z = Z95)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(trials);
        if (successes < 0 || successes > trials)
        {
            throw new ArgumentOutOfRangeException(nameof(successes), $"{successes} successes in {trials} trials");
        }

        if (trials == 0)
        {
            return (0, 1);
        }

        double n = trials, phat = successes / n, z2 = z * z;
        var centre = (phat + (z2 / (2 * n))) / (1 + (z2 / n));
        var half = z * Math.Sqrt((phat * (1 - phat) / n) + (z2 / (4 * n * n))) / (1 + (z2 / n));
        return (Math.Max(0, centre - half), Math.Min(1, centre + half));
    }

    /// <summary>The proportion with its 95% Wilson interval.</summary>
    public static Proportion Of(int successes, int trials)
    {
        var (low, high) = Wilson(successes, trials);
        return new Proportion(successes, trials, low, high);
    }

    /// <summary>
    /// The pooled two-proportion z-test of H0: p₁ = p₂ against p₁ &gt; p₂: z = (p̂₁ − p̂₂) / √(p̂(1−p̂)(1/n₁ + 1/n₂)),
    /// p̂ the pooled proportion; the one-sided p-value is 1 − Φ(z). Equal proportions of 0 or 1 give z = 0, p = 0.5.
    /// </summary>
    public static (double Z, double OneSidedP) TwoProportionZ(int successes1, int trials1, int successes2, int trials2)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(trials1, 1);
        ArgumentOutOfRangeException.ThrowIfLessThan(trials2, 1);
        double p1 = (double)successes1 / trials1, p2 = (double)successes2 / trials2;
        var pooled = (double)(successes1 + successes2) / (trials1 + trials2);
        var se = Math.Sqrt(pooled * (1 - pooled) * ((1.0 / trials1) + (1.0 / trials2)));
        if (se == 0)
        {
            return (0, 0.5);
        }

        var z = (p1 - p2) / se;
        return (z, 1 - Normal.CDF(0, 1, z));
    }
}

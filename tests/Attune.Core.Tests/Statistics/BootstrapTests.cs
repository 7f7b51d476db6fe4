using Attune.Core.Randomness;
using Attune.Core.Statistics;

namespace Attune.Core.Tests.Statistics;

public class BootstrapTests
{
    private static double Mean(ReadOnlySpan<double> x)
    {
        double s = 0;
        foreach (double v in x) s += v;
        return s / x.Length;
    }

    [Fact]
    public void Jackknife_acceleration_matches_a_hand_computation()
    {
        // Sample 1, 2, 3, 10, statistic = mean. Leave-one-out means 5, 14/3, 13/3, 2; their mean 4;
        // deviations θ̄ − θ₍ᵢ₎ = −1, −2/3, −1/3, 2: Σd³ = 20/3, Σd² = 50/9,
        // a = (20/3) / (6 (50/9)^{3/2}) = 0.0848528137423857 (Efron & Tibshirani 1993, eq. 14.15).
        Assert.Equal(0.0848528137423857, Bootstrap.JackknifeAcceleration<double>([1, 2, 3, 10], Mean), 12);
        // A symmetric sample has a = 0.
        Assert.Equal(0, Bootstrap.JackknifeAcceleration<double>([1, 2, 3, 4, 5], Mean), 12);
    }

    [Fact]
    public void Two_point_sample_has_known_bootstrap_distribution()
    {
        // Resampling {0, 1} twice: the mean is 0, ½, 1 with probabilities ¼, ½, ¼ (exact
        // enumeration). So the 5% and 95% quantiles of many replicates are 0 and 1.
        var percentile = Bootstrap.Percentile<double>([0, 1], Mean, 4000, 0.90, seed: 1);
        Assert.Equal(new ConfidenceInterval(0.5, 0, 1, 0.90), percentile);
        var replicates = Bootstrap.Replicates<double>([0, 1], Mean, 40_000, seed: 2);
        Assert.InRange(replicates.Count(r => r == 0.5) / 40_000.0, 0.49, 0.51);
        var bca = Bootstrap.Bca<double>([0, 1], Mean, 4000, 0.90, seed: 1);
        Assert.Equal(0, bca.Lower);
        Assert.Equal(1, bca.Upper);
    }

    [Fact]
    public void Mean_interval_matches_normal_theory_for_a_large_sample()
    {
        // For n = 400 the bootstrap distribution of the mean is close to N(x̄, s²/n), so both
        // intervals should be x̄ ± 1.96 s/√n (textbook normal approximation) within 10% of the half-width.
        var rng = Seeds.Create(100);
        var x = Enumerable.Range(0, 400).Select(_ => 3 + 2 * PermutationTestTests.Normal(rng)).ToArray();
        double m = x.Average(), s = Math.Sqrt(x.Sum(v => (v - m) * (v - m)) / (x.Length - 1)), half = 1.959964 * s / Math.Sqrt(x.Length);
        foreach (var ci in new[] { Bootstrap.Percentile<double>(x, Mean, 4000, 0.95, 3), Bootstrap.Bca<double>(x, Mean, 4000, 0.95, 3) })
        {
            Assert.Equal(m, ci.Estimate, 12);
            Assert.InRange(ci.Lower, m - half * 1.1, m - half * 0.9);
            Assert.InRange(ci.Upper, m + half * 0.9, m + half * 1.1);
        }
    }

    [Fact]
    public void Bca_covers_the_mean_of_a_skewed_distribution_about_as_often_as_claimed()
    {
        // 200 samples of 30 from Exp(1) (true mean 1): a 90% BCa interval should cover about
        // 87–90% of the time (BCa is second-order accurate; Efron & Tibshirani ch. 14). Allow
        // [0.80, 0.97]; the binomial SD at 200 replications is about 0.021. It should also lean
        // right (upper − estimate > estimate − lower) more often than not for right-skewed data.
        int covered = 0, rightLeaning = 0;
        for (int rep = 0; rep < 200; rep++)
        {
            var rng = Seeds.Create(555, rep);
            var x = Enumerable.Range(0, 30).Select(_ => -Math.Log(1 - rng.NextDouble())).ToArray();
            var ci = Bootstrap.Bca<double>(x, Mean, 1000, 0.90, seed: rep);
            if (ci.Lower <= 1 && 1 <= ci.Upper) covered++;
            if (ci.Upper - ci.Estimate > ci.Estimate - ci.Lower) rightLeaning++;
        }
        Assert.InRange(covered / 200.0, 0.80, 0.97);
        Assert.True(rightLeaning > 120, $"right-leaning {rightLeaning}/200");
    }

    [Fact]
    public void Bootstrap_is_deterministic_for_a_seed_and_thread_count()
    {
        var rng = Seeds.Create(4);
        var x = Enumerable.Range(0, 50).Select(_ => rng.NextDouble()).ToArray();
        var a = Bootstrap.Bca<double>(x, Mean, 2500, 0.95, seed: 8, maxDegreeOfParallelism: 1);
        var b = Bootstrap.Bca<double>(x, Mean, 2500, 0.95, seed: 8, maxDegreeOfParallelism: 2);
        var c = Bootstrap.Bca<double>(x, Mean, 2500, 0.95, seed: 8);
        Assert.Equal(a, b);
        Assert.Equal(a, c);
        Assert.NotEqual(a, Bootstrap.Bca<double>(x, Mean, 2500, 0.95, seed: 9));
    }

    [Fact]
    public void Bad_input_is_rejected()
    {
        Assert.ThrowsAny<ArgumentException>(() => Bootstrap.Percentile<double>([], Mean, 100, 0.95, 1));
        Assert.ThrowsAny<ArgumentException>(() => Bootstrap.Percentile<double>([1, 2], Mean, 0, 0.95, 1));
        Assert.ThrowsAny<ArgumentException>(() => Bootstrap.Bca<double>([1, 2], Mean, 100, 1.0, 1));
        Assert.ThrowsAny<ArgumentException>(() => Bootstrap.Bca<double>([1, 2], _ => double.NaN, 100, 0.9, 1));
        Assert.ThrowsAny<ArgumentException>(() => Bootstrap.JackknifeAcceleration<double>([1], Mean));
    }
}

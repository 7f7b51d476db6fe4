using Attune.Core.Statistics;
using Attune.Surveys.Planning;
using Attune.Surveys.Testing;

namespace Attune.Surveys.Tests;

public class PowerTests
{
    [Fact]
    public void Shift_reaches_the_requested_total_variation()
    {
        double[] p = [0.1, 0.2, 0.3, 0.25, 0.15];
        foreach (double tv in new[] { 0.0, 0.05, 0.2, 0.85 })
        {
            var q = PowerAnalysis.Shift(p, tv);
            Assert.Equal(1.0, q.Sum(), 12);
            Assert.Equal(tv, Distances.TotalVariation(p, q), 12);
        }
        Assert.Throws<ArgumentOutOfRangeException>(() => PowerAnalysis.Shift(p, 0.9));
    }

    [Fact]
    public void Power_starts_near_alpha_and_grows_with_the_llm_sample()
    {
        var none = PowerAnalysis.Simulate(new PowerOptions { TvDistance = 0, LlmSamples = [200], Replicates = 400, Seed = 2 });
        Assert.InRange(none.Points[0].Power, 0.02, 0.09);

        var curve = PowerAnalysis.Simulate(new PowerOptions { TvDistance = 0.1, HumanSamples = 500, LlmSamples = [25, 100, 400, 1600], Replicates = 300, Seed = 2 });
        var power = curve.Points.Select(p => p.Power).ToArray();
        Assert.True(power[0] < 0.4, $"power at 25 samples: {power[0]}");
        Assert.True(power[^1] > 0.9, $"power at 1600 samples: {power[^1]}");
        for (int i = 1; i < power.Length; i++) Assert.True(power[i] >= power[i - 1] - 0.05);
        Assert.NotNull(curve.RequiredNLlm);
        Assert.True(curve.Points.Single(p => p.NLlm == curve.RequiredNLlm).Power >= 0.8);
        Assert.All(curve.Points, p => Assert.InRange(p.Power, p.PowerInterval[0], p.PowerInterval[1]));

        // The asymptotic test gives nearly the same curve.
        var asym = PowerAnalysis.Simulate(new PowerOptions { TvDistance = 0.1, HumanSamples = 500, LlmSamples = [100], Replicates = 300, Seed = 2, Asymptotic = true });
        Assert.InRange(asym.Points[0].Power, curve.Points[1].Power - 0.1, curve.Points[1].Power + 0.1);
    }

    [Fact]
    public void Wilson_interval_matches_the_textbook_value()
    {
        // 8 of 10: Wilson 95% interval [0.4902, 0.9433] (Agresti & Coull 1998).
        var (lo, hi) = PowerAnalysis.Wilson(8, 10);
        Assert.Equal(0.4902, lo, 4);
        Assert.Equal(0.9433, hi, 4);
    }

    [Fact]
    public void Ks_statistic_is_supported()
    {
        var curve = PowerAnalysis.Simulate(new PowerOptions { TvDistance = 0.15, LlmSamples = [300], Replicates = 100, Statistic = SurveyStatistic.KolmogorovSmirnov, Seed = 1 });
        Assert.True(curve.Points[0].Power > 0.8);
    }
}

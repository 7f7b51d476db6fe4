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
        // Each point's interval is the Wilson interval of its own hits over the 300 replicates (the
        // formula is checked against the textbook value below), not an interval around any number.
        Assert.All(curve.Points, p =>
        {
            var hits = (int)Math.Round(p.Power * 300);
            Assert.Equal(p.Power, hits / 300.0, 12);
            var (lo, hi) = PowerAnalysis.Wilson(hits, 300);
            Assert.Equal(lo, p.PowerInterval[0], 12);
            Assert.Equal(hi, p.PowerInterval[1], 12);
            Assert.True(hi - lo < 0.12, $"the 95% interval over 300 replicates is narrow: [{lo}, {hi}]");
        });

        // The asymptotic test gives nearly the same curve.
        var asym = PowerAnalysis.Simulate(new PowerOptions { TvDistance = 0.1, HumanSamples = 500, LlmSamples = [100], Replicates = 300, Seed = 2, Asymptotic = true });
        Assert.InRange(asym.Points[0].Power, curve.Points[1].Power - 0.1, curve.Points[1].Power + 0.1);
    }

    [Fact]
    public void Wilson_interval_matches_newcombes_published_example()
    {
        // Newcombe (1998), Statistics in Medicine 17:857, Table I: 81 of 263, Wilson score interval 0.2553 to 0.3662.
        var (lo, hi) = PowerAnalysis.Wilson(81, 263);
        Assert.Equal(0.2553, lo, 4);
        Assert.Equal(0.3662, hi, 4);
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

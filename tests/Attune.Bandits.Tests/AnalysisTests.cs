using Attune.Bandits;
using Attune.Core.Errors;

namespace Attune.Bandits.Tests;

public class AnalysisTests
{
    [Fact]
    public void Satiating_participants_reject_fixed_preferences_and_stationary_ones_do_not()
    {
        var stationary = PreferenceDynamicsReproduction.SimulateStudy(PreferenceDynamicsReproduction.Population.Stationary, 12, 5);
        var satiating = PreferenceDynamicsReproduction.SimulateStudy(PreferenceDynamicsReproduction.Population.Satiating, 12, 5);
        var a = PreferenceAnalysis.Analyze(stationary, 1, permutations: 499, bootstrap: 500);
        var b = PreferenceAnalysis.Analyze(satiating, 1, permutations: 499, bootstrap: 500);
        Assert.False(a.Verdict.Rejected, string.Join("\n", a.Verdict.Evidence));
        Assert.True(b.Verdict.Rejected);
        Assert.True(b.PooledTrend.Statistic < 0);
        Assert.NotNull(b.CyclicVsBlocked);
        Assert.True(b.CyclicVsBlocked!.Difference > 0);
        Assert.Equal(PreferenceDynamicsReproduction.Conditions.Count, a.Enjoyment.Count);

        // Enjoyment is the mean over participants of each participant's mean rating, recomputed here
        // from the rows; its 95% bootstrap interval resamples participants, so its half-width is close
        // to the normal approximation 1.96 s / sqrt(n) (s with divisor n, as the bootstrap sees it).
        foreach (var e in a.Enjoyment)
        {
            var means = stationary.Where(r => r.Condition == e.Condition && !r.Arm.StartsWith('_'))
                .GroupBy(r => r.Participant).Select(g => g.Average(r => r.Rating)).ToArray();
            Assert.Equal(means.Length, e.Participants);
            var mean = means.Average();
            Assert.Equal(mean, e.MeanRating, 9);
            var sd = Math.Sqrt(means.Sum(m => (m - mean) * (m - mean)) / means.Length);
            var normalHalf = 1.96 * sd / Math.Sqrt(means.Length);
            Assert.True(sd > 0, "participants differ");
            Assert.InRange((e.Upper!.Value - e.Lower!.Value) / 2, 0.7 * normalHalf, 1.3 * normalHalf);
            Assert.InRange(e.Lower.Value, mean - 1.5 * normalHalf, mean - 0.5 * normalHalf);
            Assert.InRange(e.Upper.Value, mean + 0.5 * normalHalf, mean + 1.5 * normalHalf);
        }
    }

    [Fact]
    public void One_participant_per_condition_has_no_interval_and_attention_rows_are_skipped()
    {
        var rows = new List<Response>();
        for (var r = 1; r <= 10; r++)
        {
            rows.Add(new Response("p1", "cyclic", r, r == 6 ? "_attention" : $"arm{(r % 2) + 1}", 10 - r));
            rows.Add(new Response("p2", "ucb1", r, "arm1", 5));
        }

        var result = PreferenceAnalysis.Analyze(rows, 3, permutations: 99, bootstrap: 100);
        Assert.Equal(19, result.Ratings);
        Assert.All(result.Enjoyment, e => Assert.Null(e.Lower));
        Assert.DoesNotContain(result.Trends, t => t.Arm == "_attention");
        _ = System.Text.Json.JsonSerializer.Serialize(result);
    }

    [Fact]
    public void Kendall_tau_matches_the_core_mann_kendall()
    {
        double[] x = [5, 3, 4, 1, 2, 2, 6];
        Assert.Equal(Attune.Core.Statistics.MannKendall.Test(x).Tau, PreferenceAnalysis.Tau(x), 12);
    }

    [Fact]
    public void Csv_round_trip_and_errors_name_file_line_field()
    {
        var rows = new List<Response> { new("p,1", "cyclic", 1, "arm1", 7, "i1"), new("p,1", "cyclic", 2, "arm2", 3, "i2") };
        var sw = new StringWriter();
        ResponseCsv.Write(sw, rows);
        var back = ResponseCsv.Read(new StringReader(sw.ToString()), "x.csv");
        Assert.Equal(rows, back);

        var ex = Assert.Throws<AttuneInputException>(() => ResponseCsv.Read(new StringReader("participant,condition,round,arm,rating\np,c,1,a,seven\n"), "r.csv"));
        Assert.Equal("r.csv:2: field 'rating': 'seven' is not a number", ex.Message);
        ex = Assert.Throws<AttuneInputException>(() => ResponseCsv.Read(new StringReader("participant,round,arm,rating\n"), "r.csv"));
        Assert.StartsWith("r.csv:1: field 'condition': missing column", ex.Message, StringComparison.Ordinal);
    }
}

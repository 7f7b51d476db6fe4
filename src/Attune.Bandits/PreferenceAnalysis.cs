using System.Globalization;
using System.Text.Json.Serialization;
using Attune.Core.Errors;
using Attune.Core.Randomness;
using Attune.Core.Statistics;

namespace Attune.Bandits;

/// <summary>The trend of one participant's ratings of one arm against the number of prior exposures to it.</summary>
public sealed record ExposureTrend(
    [property: JsonPropertyName("participant")] string Participant,
    [property: JsonPropertyName("condition")] string Condition,
    [property: JsonPropertyName("arm")] string Arm,
    [property: JsonPropertyName("n")] int N,
    [property: JsonPropertyName("kendall_tau")] double KendallTau,
    [property: JsonPropertyName("mann_kendall_p")] double MannKendallP,
    [property: JsonPropertyName("spearman_rho")] double SpearmanRho,
    [property: JsonPropertyName("spearman_p")] double SpearmanP);

/// <summary>A pooled permutation test across participants.</summary>
public sealed record PooledTest(
    [property: JsonPropertyName("name")] string Name,
    [property: JsonPropertyName("statistic")] double Statistic,
    [property: JsonPropertyName("p_value")] double PValue,
    [property: JsonPropertyName("permutations")] int Permutations,
    [property: JsonPropertyName("series")] int Series);

/// <summary>Mean enjoyment (per-participant mean rating) of one condition with a bootstrap interval.</summary>
public sealed record ConditionEnjoyment(
    [property: JsonPropertyName("condition")] string Condition,
    [property: JsonPropertyName("participants")] int Participants,
    [property: JsonPropertyName("mean_rating")] double MeanRating,
    [property: JsonPropertyName("ci_lower")] double? Lower,
    [property: JsonPropertyName("ci_upper")] double? Upper);

/// <summary>Cyclic vs blocked: the difference of per-participant mean ratings and its permutation p-value.</summary>
public sealed record SequenceComparison(
    [property: JsonPropertyName("cyclic_mean")] double CyclicMean,
    [property: JsonPropertyName("blocked_mean")] double BlockedMean,
    [property: JsonPropertyName("difference")] double Difference,
    [property: JsonPropertyName("p_value")] double PValue,
    [property: JsonPropertyName("cyclic_participants")] int CyclicParticipants,
    [property: JsonPropertyName("blocked_participants")] int BlockedParticipants);

/// <summary>Whether the fixed-preference assumption survives, and why.</summary>
public sealed record Verdict(
    [property: JsonPropertyName("fixed_preferences_rejected")] bool Rejected,
    [property: JsonPropertyName("alpha")] double Alpha,
    [property: JsonPropertyName("evidence")] IReadOnlyList<string> Evidence);

public sealed record PreferenceAnalysisResult(
    [property: JsonPropertyName("participants")] int Participants,
    [property: JsonPropertyName("ratings")] int Ratings,
    [property: JsonPropertyName("seed")] int Seed,
    [property: JsonPropertyName("trends")] IReadOnlyList<ExposureTrend> Trends,
    [property: JsonPropertyName("significant_decreasing")] int SignificantDecreasing,
    [property: JsonPropertyName("significant_increasing")] int SignificantIncreasing,
    [property: JsonPropertyName("pooled_trend")] PooledTest PooledTrend,
    [property: JsonPropertyName("pooled_nonstationarity")] PooledTest PooledNonstationarity,
    [property: JsonPropertyName("cyclic_vs_blocked")] SequenceComparison? CyclicVsBlocked,
    [property: JsonPropertyName("enjoyment")] IReadOnlyList<ConditionEnjoyment> Enjoyment,
    [property: JsonPropertyName("verdict")] Verdict Verdict);

/// <summary>
/// Tests of the fixed-preference assumption on study responses (Leqi et al., CHI 2023, §5):
/// <list type="bullet">
/// <item>per participant and arm, ratings in exposure order against the number of prior
/// exposures: Mann–Kendall (τ, p) and Spearman (ρ, p), with Benjamini–Hochberg across series;</item>
/// <item>pooled across participants by a permutation test that shuffles each series' ratings
/// independently (under fixed preferences a participant's ratings of an arm are exchangeable):
/// the mean τ (a common direction, e.g. satiation) and the mean τ² (any trend, e.g. drift);</item>
/// <item>cyclic vs blocked sequences: the same arms equally often, so under fixed preferences the
/// same mean rating; a two-sample permutation test of the difference of participant means;</item>
/// <item>per-condition enjoyment with percentile bootstrap intervals.</item>
/// </list>
/// The verdict rejects fixed preferences when any of the pooled tests (Holm-adjusted) falls below α.
/// </summary>
public static class PreferenceAnalysis
{
    public static PreferenceAnalysisResult Analyze(IReadOnlyList<Response> responses, int seed, int permutations = 1999, double alpha = 0.05, int bootstrap = 2000)
    {
        ArgumentNullException.ThrowIfNull(responses);

        // Attention checks (arm "_attention") and other non-arm rows are not preferences.
        responses = [.. responses.Where(r => !r.Arm.StartsWith('_'))];
        if (responses.Count == 0)
        {
            throw new AttuneInputException("no responses to analyse");
        }

        var byParticipant = responses.GroupBy(r => r.Participant, StringComparer.Ordinal).OrderBy(g => g.Key, StringComparer.Ordinal).ToList();
        var condition = byParticipant.ToDictionary(g => g.Key, g => g.First().Condition, StringComparer.Ordinal);

        // Series: one participant's ratings of one arm in round order (exposure order).
        var series = new List<(string Participant, string Arm, double[] Ratings)>();
        foreach (var g in byParticipant)
        {
            foreach (var arm in g.GroupBy(r => r.Arm, StringComparer.Ordinal).OrderBy(a => a.Key, StringComparer.Ordinal))
            {
                var ratings = arm.OrderBy(r => r.Round).Select(r => r.Rating).ToArray();
                if (ratings.Length >= 3)
                {
                    series.Add((g.Key, arm.Key, ratings));
                }
            }
        }

        var trends = new List<ExposureTrend>(series.Count);
        foreach (var (participant, arm, ratings) in series)
        {
            var mk = Constant(ratings) ? new MannKendallResult(0, 0, 0, 1, 0) : MannKendall.Test(ratings);
            var exposures = Enumerable.Range(0, ratings.Length).Select(i => (double)i).ToArray();
            var sp = Constant(ratings) ? new SpearmanResult(0, 1, ratings.Length, false) : Spearman.Test(exposures, ratings);
            trends.Add(new ExposureTrend(participant, condition[participant], arm, ratings.Length, mk.Tau, mk.PValue,
                double.IsFinite(sp.Rho) ? sp.Rho : 0, double.IsFinite(sp.PValue) ? sp.PValue : 1));
        }

        var adjusted = trends.Count == 0 ? [] : MultipleTesting.Adjust([.. trends.Select(t => t.MannKendallP)], PAdjustMethod.BenjaminiHochberg);
        var decreasing = trends.Where((t, i) => adjusted[i] <= alpha && t.KendallTau < 0).Count();
        var increasing = trends.Where((t, i) => adjusted[i] <= alpha && t.KendallTau > 0).Count();

        // Adaptive policies stop showing an arm after low ratings, so under fixed preferences an
        // adaptive condition's series still tend to end low: within-series exchangeability fails.
        // The pooled tests therefore use the conditions whose arm sequence ignores the ratings.
        var fixedDesign = series.Where(s => IsNonAdaptive(condition[s.Participant])).ToList();
        var pooledSeries = fixedDesign.Count > 0 ? fixedDesign : series;
        var (pooledTrend, pooledAny) = PooledTests([.. pooledSeries.Select(s => s.Ratings)], permutations, seed);

        // Enjoyment: per-participant mean rating by condition.
        var participantMean = byParticipant.ToDictionary(g => g.Key, g => g.Average(r => r.Rating), StringComparer.Ordinal);
        var enjoyment = new List<ConditionEnjoyment>();
        var conditions = condition.Values.Distinct(StringComparer.Ordinal).Order(StringComparer.Ordinal).ToList();
        for (var c = 0; c < conditions.Count; c++)
        {
            var means = condition.Where(kv => kv.Value == conditions[c]).Select(kv => participantMean[kv.Key]).ToArray();
            if (means.Length >= 2)
            {
                var ci = Bootstrap.Percentile<double>(means, Mean, bootstrap, 0.95, Seeds.Derive(seed, 100 + c));
                enjoyment.Add(new ConditionEnjoyment(conditions[c], means.Length, ci.Estimate, ci.Lower, ci.Upper));
            }
            else
            {
                enjoyment.Add(new ConditionEnjoyment(conditions[c], means.Length, means[0], null, null));
            }
        }

        SequenceComparison? cyclicVsBlocked = null;
        var cyclic = condition.Where(kv => IsCondition(kv.Value, "cyclic")).Select(kv => participantMean[kv.Key]).ToArray();
        var blocked = condition.Where(kv => IsCondition(kv.Value, "blocked")).Select(kv => participantMean[kv.Key]).ToArray();
        if (cyclic.Length >= 2 && blocked.Length >= 2)
        {
            var test = PermutationTest.TwoSample<double>(cyclic, blocked, (a, b) => Math.Abs(Mean(a) - Mean(b)), permutations, Seeds.Derive(seed, 7));
            cyclicVsBlocked = new SequenceComparison(cyclic.Average(), blocked.Average(), cyclic.Average() - blocked.Average(), test.PValue, cyclic.Length, blocked.Length);
        }

        // Verdict: Holm across the pooled tests that could be run.
        var tests = new List<(string Name, double P, string Evidence)>
        {
            ("pooled trend", pooledTrend.PValue, F($"pooled mean Kendall tau of rating vs prior exposures = {pooledTrend.Statistic:+0.000;-0.000} over {pooledTrend.Series} participant-arm series, within-series permutation p = {pooledTrend.PValue:G3}")),
            ("pooled non-stationarity", pooledAny.PValue, F($"pooled mean tau^2 = {pooledAny.Statistic:F4} (any monotone trend), permutation p = {pooledAny.PValue:G3}")),
        };
        if (cyclicVsBlocked is { } cb)
        {
            tests.Add(("cyclic vs blocked", cb.PValue, F($"cyclic mean rating {cb.CyclicMean:F2} vs blocked {cb.BlockedMean:F2} (difference {cb.Difference:+0.00;-0.00}), permutation p = {cb.PValue:G3}")));
        }

        var holm = MultipleTesting.Adjust([.. tests.Select(t => t.P)], PAdjustMethod.Holm);
        var evidence = tests.Select((t, i) => $"{t.Evidence}; Holm-adjusted p = {holm[i].ToString("G3", CultureInfo.InvariantCulture)}{(holm[i] <= alpha ? " (rejects)" : "")}").ToList();
        evidence.Add(fixedDesign.Count > 0
            ? F($"pooled tests use the {fixedDesign.Count} series of non-adaptive conditions (cyclic, blocked, uniform), whose arm order ignores the ratings")
            : "no non-adaptive condition (cyclic, blocked, uniform): the pooled tests use adaptive conditions, where selection biases trends downwards even under fixed preferences");
        evidence.Add(F($"{decreasing} of {trends.Count} series have a significant decreasing trend and {increasing} an increasing one (Mann-Kendall, BH at {alpha})"));
        var verdict = new Verdict(holm.Any(p => p <= alpha), alpha, evidence);
        return new PreferenceAnalysisResult(byParticipant.Count, responses.Count, seed, trends, decreasing, increasing, pooledTrend, pooledAny,
            cyclicVsBlocked, enjoyment, verdict);
    }

    /// <summary>
    /// The within-series permutation tests: T₁ = mean τ (two-sided) and T₂ = mean τ² (upper tail),
    /// p = (1 + #{T* ≥ T}) / (B + 1), each series' ratings shuffled independently.
    /// </summary>
    public static (PooledTest Trend, PooledTest Any) PooledTests(IReadOnlyList<double[]> series, int permutations, int seed)
    {
        ArgumentNullException.ThrowIfNull(series);
        if (series.Count == 0)
        {
            return (new PooledTest("mean tau", 0, 1, 0, 0), new PooledTest("mean tau^2", 0, 1, 0, 0));
        }

        var observed = series.Select(s => Tau(s)).ToArray();
        var t1 = observed.Average();
        var t2 = observed.Average(t => t * t);
        const int chunk = 100;
        var chunks = (permutations + chunk - 1) / chunk;
        var exceed1 = new int[chunks];
        var exceed2 = new int[chunks];
        Parallel.For(0, chunks, c =>
        {
            var rng = Seeds.Create(seed, 1_000_000 + c);
            var buffers = series.Select(s => (double[])s.Clone()).ToArray();
            var end = Math.Min(permutations, (c + 1) * chunk);
            for (var b = c * chunk; b < end; b++)
            {
                double sum = 0, sumSq = 0;
                foreach (var buffer in buffers)
                {
                    rng.Shuffle(buffer);
                    var tau = Tau(buffer);
                    sum += tau;
                    sumSq += tau * tau;
                }

                var m1 = sum / buffers.Length;
                var m2 = sumSq / buffers.Length;
                if (Math.Abs(m1) >= Math.Abs(t1) - 1e-12)
                {
                    exceed1[c]++;
                }

                if (m2 >= t2 - 1e-12)
                {
                    exceed2[c]++;
                }
            }
        });

        return (new PooledTest("mean tau", t1, (1.0 + exceed1.Sum()) / (permutations + 1), permutations, series.Count),
                new PooledTest("mean tau^2", t2, (1.0 + exceed2.Sum()) / (permutations + 1), permutations, series.Count));
    }

    /// <summary>Kendall's τ_a of a series against time: S / (n(n−1)/2), as <see cref="MannKendall"/> reports it.</summary>
    public static double Tau(ReadOnlySpan<double> x)
    {
        var s = 0;
        for (var i = 0; i < x.Length; i++)
        {
            for (var j = i + 1; j < x.Length; j++)
            {
                s += Math.Sign(x[j] - x[i]);
            }
        }

        return x.Length < 2 ? 0 : s / (x.Length * (x.Length - 1) / 2.0);
    }

    /// <summary>Conditions whose arm sequence does not depend on the ratings: cyclic, blocked, uniform (random).</summary>
    public static bool IsNonAdaptive(string condition) =>
        IsCondition(condition, "cyclic") || IsCondition(condition, "blocked") || IsCondition(condition, "uniform") || IsCondition(condition, "random");

    private static bool IsCondition(string condition, string kind) =>
        condition.Equals(kind, StringComparison.OrdinalIgnoreCase) || condition.StartsWith(kind + ":", StringComparison.OrdinalIgnoreCase);

    private static bool Constant(double[] x) => x.All(v => v == x[0]);

    private static double Mean(ReadOnlySpan<double> x)
    {
        double s = 0;
        foreach (var v in x)
        {
            s += v;
        }

        return s / x.Length;
    }

    private static string F(FormattableString s) => s.ToString(CultureInfo.InvariantCulture);
}

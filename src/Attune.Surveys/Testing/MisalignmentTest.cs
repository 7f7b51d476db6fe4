using System.Text.Json.Serialization;
using Attune.Core.Randomness;
using Attune.Core.Statistics;

namespace Attune.Surveys.Testing;

/// <summary>The statistic of the 2×K table of human vs LLM counts.</summary>
public enum SurveyStatistic
{
    /// <summary>Pearson's X² on the 2×K table (options empty in both rows dropped).</summary>
    ChiSquare,

    /// <summary>Maximum gap between the two cumulative distributions over the ordered options.</summary>
    KolmogorovSmirnov,
}

/// <summary>Settings of <see cref="MisalignmentTest.Run"/>.</summary>
public sealed record SurveyTestOptions
{
    public SurveyStatistic Statistic { get; init; } = SurveyStatistic.ChiSquare;

    /// <summary>B, the number of permutations per test: p = (1 + #{T* ≥ T}) / (B + 1).</summary>
    public int Permutations { get; init; } = 10_000;

    /// <summary>Use the asymptotic χ²(K'−1) p-value instead of permutations (chi-square only).</summary>
    public bool Asymptotic { get; init; }

    public double Alpha { get; init; } = 0.05;

    public PAdjustMethod Correction { get; init; } = PAdjustMethod.BenjaminiHochberg;

    public int Seed { get; init; } = Seeds.Default;

    /// <summary>Bootstrap resamples for the effect-size intervals; 0 for none.</summary>
    public int BootstrapResamples { get; init; } = 500;

    /// <summary>Confidence level of the effect-size intervals.</summary>
    public double Level { get; init; } = 0.95;

    public int MaxDegreeOfParallelism { get; init; } = -1;
}

/// <summary>The verdict on one question × group.</summary>
public sealed record QuestionGroupResult(
    [property: JsonPropertyName("question")] string Question,
    [property: JsonPropertyName("group")] string Group,
    [property: JsonPropertyName("statistic")] double Statistic,
    [property: JsonPropertyName("p_value")] double PValue,
    [property: JsonPropertyName("p_adjusted")] double PAdjusted,
    [property: JsonPropertyName("rejected")] bool Rejected,
    [property: JsonPropertyName("n_human")] int NHuman,
    [property: JsonPropertyName("n_llm")] int NLlm,
    [property: JsonPropertyName("tv_distance")] double TvDistance,
    [property: JsonPropertyName("tv_ci")] double[]? TvInterval,
    [property: JsonPropertyName("wasserstein")] double Wasserstein,
    [property: JsonPropertyName("wasserstein_ci")] double[]? WassersteinInterval,
    [property: JsonPropertyName("p_adjusted_overall")] double PAdjustedOverall,
    [property: JsonPropertyName("rejected_overall")] bool RejectedOverall);

/// <summary>Per group: how many questions were tested and how many rejected (after the within-group correction).</summary>
public sealed record GroupSummary(
    [property: JsonPropertyName("group")] string Group,
    [property: JsonPropertyName("questions")] int Questions,
    [property: JsonPropertyName("rejected")] int Rejected,
    [property: JsonPropertyName("share_rejected")] double ShareRejected,
    [property: JsonPropertyName("mean_tv_distance")] double MeanTvDistance);

/// <summary>The whole outcome: per-test results, per-group summaries and the overall family.</summary>
public sealed record SurveyTestReport(
    [property: JsonPropertyName("results")] IReadOnlyList<QuestionGroupResult> Results,
    [property: JsonPropertyName("summary")] IReadOnlyList<GroupSummary> Summary,
    [property: JsonPropertyName("overall")] GroupSummary Overall);

/// <summary>
/// The test of Hong, Caldas &amp; Leqi (2025): for each question × sub-population, H0 says the
/// LLM-simulated answers and the group's answers come from one distribution over the options.
/// A permutation test on the 2×K table (Pearson's X² or the ordinal KS statistic), drawn with the
/// Core's multivariate-hypergeometric engine; p-values corrected across the questions within each
/// group (<c>p_adjusted</c>, <c>rejected</c>) and across every test (<c>p_adjusted_overall</c>).
/// </summary>
public static class MisalignmentTest
{
    public static CountStatistic StatisticFunction(SurveyStatistic statistic) => statistic switch
    {
        SurveyStatistic.ChiSquare => CountStatistics.ChiSquare,
        SurveyStatistic.KolmogorovSmirnov => CountStatistics.KolmogorovSmirnov,
        _ => throw new ArgumentOutOfRangeException(nameof(statistic)),
    };

    /// <summary>The raw p-values (and statistics) of every table, in order.</summary>
    public static (double Statistic, double PValue)[] PValues(IReadOnlyList<PairedTable> tables, SurveyTestOptions options)
    {
        ArgumentNullException.ThrowIfNull(tables);
        ArgumentNullException.ThrowIfNull(options);
        if (options.Asymptotic)
        {
            if (options.Statistic != SurveyStatistic.ChiSquare)
                throw new ArgumentException("the asymptotic p-value exists for the chi-square statistic only", nameof(options));
            return [.. tables.Select(t =>
            {
                var r = ChiSquareTest.TwoByK(t.Human, t.Llm);
                return (r.Statistic, r.PValue);
            })];
        }

        var results = PermutationTest.CategoricalCountsMany(
            [.. tables.Select(t => (t.Human, t.Llm))], StatisticFunction(options.Statistic), options.Permutations, options.Seed, options.MaxDegreeOfParallelism);
        return [.. results.Select(r => (r.Statistic, r.PValue))];
    }

    public static SurveyTestReport Run(IReadOnlyList<PairedTable> tables, SurveyTestOptions options)
    {
        ArgumentNullException.ThrowIfNull(tables);
        ArgumentNullException.ThrowIfNull(options);
        var raw = PValues(tables, options);
        var effects = EffectSizes.Estimate(tables, options.BootstrapResamples, options.Level, Seeds.Derive(options.Seed, 0x5EED), options.MaxDegreeOfParallelism);

        var overall = MultipleTesting.Adjust(raw.Select(r => r.PValue).ToArray(), options.Correction);
        var within = new double[tables.Count];
        var groups = tables.Select(t => t.Group).Distinct(StringComparer.Ordinal).ToList();
        foreach (var g in groups)
        {
            var idx = Enumerable.Range(0, tables.Count).Where(i => tables[i].Group == g).ToArray();
            var adjusted = MultipleTesting.Adjust(idx.Select(i => raw[i].PValue).ToArray(), options.Correction);
            for (int j = 0; j < idx.Length; j++) within[idx[j]] = adjusted[j];
        }

        var results = new QuestionGroupResult[tables.Count];
        for (int i = 0; i < tables.Count; i++)
        {
            var t = tables[i];
            var e = effects[i];
            results[i] = new QuestionGroupResult(
                t.Question, t.Group, raw[i].Statistic, raw[i].PValue, within[i], within[i] <= options.Alpha,
                t.HumanTotal, t.LlmTotal, e.TotalVariation.Estimate,
                options.BootstrapResamples > 0 ? [e.TotalVariation.Lower, e.TotalVariation.Upper] : null,
                e.Wasserstein.Estimate,
                options.BootstrapResamples > 0 ? [e.Wasserstein.Lower, e.Wasserstein.Upper] : null,
                overall[i], overall[i] <= options.Alpha);
        }

        var summary = groups.Select(g => Summarise(g, results.Where(r => r.Group == g).ToList(), overallFamily: false)).ToList();
        return new SurveyTestReport(results, summary, Summarise("(all)", results, overallFamily: true));
    }

    private static GroupSummary Summarise(string group, IReadOnlyList<QuestionGroupResult> results, bool overallFamily)
    {
        int rejected = results.Count(r => overallFamily ? r.RejectedOverall : r.Rejected);
        return new GroupSummary(group, results.Count, rejected,
            results.Count == 0 ? 0 : (double)rejected / results.Count,
            results.Count == 0 ? 0 : results.Average(r => r.TvDistance));
    }
}

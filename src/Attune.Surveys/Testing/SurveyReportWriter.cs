using System.Globalization;
using Attune.Core.Reports;

namespace Attune.Surveys.Testing;

/// <summary>Writes a survey test into a report: per-group table and bar chart, per-question heat map, the most misaligned questions.</summary>
public static class SurveyReportWriter
{
    /// <summary>Heat maps show at most this many questions (those with the largest Σ over groups of −log10 adjusted p).</summary>
    public const int MaxHeatMapRows = 50;

    public static void Write(Report report, SurveyTestReport result, SurveyTestOptions options, string prefix = "survey")
    {
        ArgumentNullException.ThrowIfNull(report);
        ArgumentNullException.ThrowIfNull(result);
        ArgumentNullException.ThrowIfNull(options);
        string stat = options.Statistic == SurveyStatistic.ChiSquare ? "chi-square" : "KS (ordinal)";
        string pv = options.Asymptotic ? "asymptotic chi-square p-values" : $"B = {options.Permutations} permutations, p = (1 + #{{T* >= T}}) / (B + 1)";
        report.Paragraph(string.Create(CultureInfo.InvariantCulture,
            $"{result.Results.Count} tests (question x group), statistic {stat}, {pv}, correction {options.Correction} within each group and over all tests, alpha = {options.Alpha}, seed {options.Seed}."));

        report.Table(["group", "questions", "rejected", "share rejected", "mean TV distance"],
            result.Summary.Append(result.Overall).Select(s => (IReadOnlyList<string>)
                [s.Group, s.Questions.ToString(CultureInfo.InvariantCulture), s.Rejected.ToString(CultureInfo.InvariantCulture), F(s.ShareRejected), F(s.MeanTvDistance)]));

        report.BarPlot($"{prefix}-share-rejected", "Share of questions where the LLM is rejected, per group",
            "group", "share rejected", [.. result.Summary.Select(s => s.Group)], [.. result.Summary.Select(s => s.ShareRejected)]);

        var groups = result.Summary.Select(s => s.Group).ToList();
        var questions = result.Results
            .GroupBy(r => r.Question, StringComparer.Ordinal)
            .Select(g => (Question: g.Key, Score: g.Sum(r => -Math.Log10(Math.Max(r.PAdjusted, 1e-6)))))
            .OrderByDescending(x => x.Score).ThenBy(x => x.Question, StringComparer.Ordinal)
            .Take(MaxHeatMapRows).Select(x => x.Question).ToList();
        var cells = result.Results.ToDictionary(r => (r.Question, r.Group));
        var values = new double[questions.Count, groups.Count];
        for (int i = 0; i < questions.Count; i++)
        {
            for (int j = 0; j < groups.Count; j++)
                values[i, j] = cells.TryGetValue((questions[i], groups[j]), out var r) ? -Math.Log10(Math.Max(r.PAdjusted, 1e-6)) : double.NaN;
        }

        if (questions.Count > 0 && groups.Count > 0)
        {
            report.HeatMap($"{prefix}-heatmap", $"-log10 adjusted p per question and group ({questions.Count} most misaligned questions)",
                values, questions.Count <= 40 ? questions : null, groups);
        }

        var top = result.Results.OrderBy(r => r.PAdjusted).ThenByDescending(r => r.TvDistance).Take(15);
        report.Table(["question", "group", "statistic", "p", "p adjusted", "TV", "TV 95% CI", "n human", "n LLM"],
            top.Select(r => (IReadOnlyList<string>)
            [
                r.Question, r.Group, F(r.Statistic), F(r.PValue), F(r.PAdjusted), F(r.TvDistance),
                r.TvInterval is { } ci ? $"[{F(ci[0])}, {F(ci[1])}]" : "-",
                r.NHuman.ToString(CultureInfo.InvariantCulture), r.NLlm.ToString(CultureInfo.InvariantCulture),
            ]));
    }

    internal static string F(double x) => double.IsNaN(x) ? "-" : x.ToString(Math.Abs(x) < 0.001 && x != 0 ? "0.###e0" : "0.####", CultureInfo.InvariantCulture);
}

using System.Globalization;
using Attune.Core.Reports;

namespace Attune.Interaction;

/// <summary>Writes a scenario run (and its counterfactual, when there is one) as a report: the parts, final values, a plot per metric.</summary>
public static class ScenarioReport
{
    public static void Write(Report report, Scenario s, SimulationResult factual, SimulationResult? counterfactual)
    {
        report.Heading("Scenario")
            .Paragraph(string.Create(CultureInfo.InvariantCulture,
                $"{s.Users} users, {s.Items} items, dimension {s.Dimension}, {s.Topics} topic(s), horizon {s.Horizon}, slate {s.SlateSize}, seed {s.Seed}."))
            .Table(["part", "specification"], s.Description.Select(kv => (IReadOnlyList<string>)[kv.Key, kv.Value]));
        if (counterfactual is not null)
        {
            report.Paragraph("The counterfactual run uses the same seed: the same initial users and items and the same choice and rating noise for every user at every step (common random numbers); only the recommender differs.");
        }

        var header = counterfactual is null
            ? new[] { "metric", factual.Recommender }
            : new[] { "metric", factual.Recommender, counterfactual.Recommender, "difference" };
        var rows = new List<IReadOnlyList<string>>();
        foreach (var (name, values) in factual.Series)
        {
            var a = values[^1];
            if (counterfactual is null)
            {
                rows.Add([name, F(a)]);
            }
            else
            {
                var b = counterfactual.Series[name][^1];
                rows.Add([name, F(a), F(b), F(b - a)]);
            }
        }

        report.Heading("Final values (last step)").Table(header, rows);
        report.Paragraph(string.Create(CultureInfo.InvariantCulture,
            $"Run time: {factual.Seconds:F2} s ({factual.UserStepsPerSecond:N0} user-steps/s){(counterfactual is null ? "" : $"; counterfactual {counterfactual.Seconds:F2} s")}."));
        report.Heading("Series");
        var x = Enumerable.Range(1, factual.Steps).Select(t => (double)t).ToArray();
        foreach (var (name, values) in factual.Series)
        {
            var series = new List<Series> { new(factual.Recommender, x, values) };
            if (counterfactual is not null)
            {
                series.Add(new Series(counterfactual.Recommender + " (counterfactual)", x, counterfactual.Series[name]));
            }

            report.LinePlot(name, name, "step", name, series);
            report.Metric("series." + name, values);
            report.Metric("final." + name, values[^1]);
            if (counterfactual is not null)
            {
                report.Metric("counterfactual.series." + name, counterfactual.Series[name]);
                report.Metric("counterfactual.final." + name, counterfactual.Series[name][^1]);
            }
        }

        report.Metric("scenario", s.Name);
        report.Metric("seed", s.Seed);
        report.Metric("recommender", factual.Recommender);
        report.Metric("seconds", factual.Seconds);
        report.Metric("user_steps_per_second", factual.UserStepsPerSecond);
        if (counterfactual is not null)
        {
            report.Metric("counterfactual.recommender", counterfactual.Recommender);
        }
    }

    private static string F(double x) => x.ToString("G5", CultureInfo.InvariantCulture);
}

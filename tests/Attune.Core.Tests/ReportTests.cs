using System.Text.Json;
using Attune.Core.Reports;
using Attune.Core.Reproductions;
using SkiaSharp;

namespace Attune.Core.Tests;

public class ReportTests
{
    [Fact]
    public void Saves_markdown_metrics_and_plots_that_the_markdown_links()
    {
        using var dir = new TempDir();
        var report = new Report(Path.Combine(dir.Path, "r"), "A title");
        report.Heading("Section").Paragraph("Some text.").Table(["a", "b|c"], [["1", "x|y"]]);
        report.Metric("accuracy", 0.75).Metric("name", "n");
        report.LinePlot("line", "Line", "x", "y", [new Series("s", [0, 1, 2], [1, 4, 9])]);
        report.BarPlot("bars", "Bars", "k", "v", ["a", "b"], [1, 2]);
        report.Histogram("hist", "Hist", "p", [0.1, 0.2, 0.9], 10, 0, 1);
        report.HeatMap("heat", "Heat", new double[,] { { 1, 2 }, { 3, 4 } }, ["r0", "r1"], ["c0", "c1"]);
        report.AddPreamble("Preamble line.");
        report.Save();

        var md = File.ReadAllText(Path.Combine(report.Directory, "report.md"));
        Assert.StartsWith("# A title\n\nPreamble line.\n\n## Section", md, StringComparison.Ordinal);
        Assert.Contains("| a | b\\|c |", md, StringComparison.Ordinal);
        foreach (var png in new[] { "line.png", "bars.png", "hist.png", "heat.png" })
        {
            Assert.Contains($"]({png})", md, StringComparison.Ordinal);
            using var bitmap = SKBitmap.Decode(Path.Combine(report.Directory, png));
            Assert.Equal(Plotting.Width, bitmap.Width);
            Assert.Equal(Plotting.Height, bitmap.Height);
        }

        using var metrics = JsonDocument.Parse(File.ReadAllText(Path.Combine(report.Directory, "metrics.json")));
        Assert.Equal(0.75, metrics.RootElement.GetProperty("accuracy").GetDouble());
        Assert.Equal("n", metrics.RootElement.GetProperty("name").GetString());
    }

    [Fact]
    public void Histogram_bins_put_values_where_they_belong()
    {
        // Hand count: bins of width 0.25 over [0, 1]; 1.0 falls in the last bin, values outside are dropped.
        var counts = Plotting.BinCounts([0, 0.1, 0.25, 0.5, 0.74, 0.99, 1.0, -0.1, 1.1, double.NaN], 4, 0, 1);
        Assert.Equal([2, 1, 2, 2], counts);
    }

    [Fact]
    public void Histogram_draws_bars_where_the_data_are()
    {
        // All mass in the first tenth of [0, 1] vs all in the last tenth: the coloured columns must move.
        var left = Plotting.Histogram("h", "p", Enumerable.Repeat(0.05, 100).ToArray(), 10, 0, 1);
        var right = Plotting.Histogram("h", "p", Enumerable.Repeat(0.95, 100).ToArray(), 10, 0, 1);
        Assert.True(ColouredCentre(left) < Plotting.Width / 2, "bars of the left-heavy histogram are on the left");
        Assert.True(ColouredCentre(right) > Plotting.Width / 2, "bars of the right-heavy histogram are on the right");
    }

    [Fact]
    public void Mismatched_series_are_rejected()
    {
        Assert.Throws<ArgumentException>(() => Plotting.Line("t", "x", "y", [new Series("s", [1, 2], [1])]));
        Assert.Throws<ArgumentException>(() => Plotting.Bars("t", "x", "y", ["a"], [1, 2]));
        Assert.Throws<ArgumentException>(() => Plotting.Histogram("t", "x", [1], 0, 0, 1));
    }

    [Fact]
    public async Task Runner_writes_a_run_folder_with_claims_first()
    {
        using var dir = new TempDir();
        var run = await ReproductionRunner.RunAsync(new FakeReproduction(), quick: true, seed: 5, dir.Path, TextWriter.Null, default);
        Assert.Equal("fake", run.Name);
        Assert.Matches(@"^\d{8}T\d{6}Z-fake$", Path.GetFileName(run.ReportDir));
        var md = File.ReadAllText(Path.Combine(run.ReportDir, "report.md"));
        Assert.True(md.IndexOf("## Claims", StringComparison.Ordinal) < md.IndexOf("## Body", StringComparison.Ordinal));
        Assert.Contains("| It holds. | reproduced | measured 1 |", md, StringComparison.Ordinal);
        Assert.Contains("| It fails. | **not reproduced** | measured 0 |", md, StringComparison.Ordinal);
        Assert.Contains("| It needs a model. | **not measured** | no model |", md, StringComparison.Ordinal);
        Assert.Contains("**Claims:** 1 reproduced, 1 not reproduced, 1 not measured (of 3)", md, StringComparison.Ordinal);
        Assert.Contains("*Not measured*:", md, StringComparison.Ordinal);
        Assert.Contains("**seed:** 5", md, StringComparison.Ordinal);
        Assert.Equal(new VerdictCounts(1, 1, 1), run.Verdicts);
        using var metrics = JsonDocument.Parse(File.ReadAllText(Path.Combine(run.ReportDir, "metrics.json")));
        Assert.Equal(5, metrics.RootElement.GetProperty("seed").GetInt32());
        Assert.Equal(1.5, metrics.RootElement.GetProperty("x").GetDouble());
        var claims = metrics.RootElement.GetProperty("claims");
        Assert.Equal(["reproduced", "not reproduced", "not measured"], claims.EnumerateArray().Select(c => c.GetProperty("verdict").GetString()));
        Assert.False(claims[0].TryGetProperty("reproduced", out _)); // one verdict field, no boolean that reads "false" for "not measured"
        Assert.Equal(1, metrics.RootElement.GetProperty("verdicts").GetProperty("not_measured").GetInt32());
    }

    [Fact]
    public async Task A_reproductions_own_preamble_is_kept_above_the_runners()
    {
        using var dir = new TempDir();
        var run = await ReproductionRunner.RunAsync(new FakeReproduction { Banner = "> **This run is a REPLAY.**" }, quick: true, seed: 5, dir.Path, TextWriter.Null, default);
        var md = File.ReadAllText(Path.Combine(run.ReportDir, "report.md"));
        var banner = md.IndexOf("This run is a REPLAY", StringComparison.Ordinal);
        Assert.True(banner > 0, md);
        Assert.True(banner < md.IndexOf("**Paper:**", StringComparison.Ordinal), md);
        Assert.True(md.IndexOf("## Claims", StringComparison.Ordinal) < md.IndexOf("## Body", StringComparison.Ordinal));
    }

    [Fact]
    public void Preamble_blocks_append_in_order()
    {
        using var dir = new TempDir();
        var report = new Report(dir.Path, "t").AddPreamble("first").AddPreamble("  ").AddPreamble("second\n\n\n");
        Assert.Equal("# t\n\nfirst\n\nsecond\n\n", report.ToString());
    }

    [Fact]
    public void Verdicts_serialise_as_words_and_read_back()
    {
        var claims = new[] { new Claim("a", true, "e"), new Claim("b", false, "e"), Claim.NotMeasured("c", "why") };
        var json = JsonSerializer.Serialize(claims);
        Assert.Contains("\"verdict\":\"not measured\"", json, StringComparison.Ordinal);
        Assert.Contains("\"verdict\":\"not reproduced\"", json, StringComparison.Ordinal);
        var back = JsonSerializer.Deserialize<Claim[]>(json)!;
        Assert.Equal(claims, back);
        Assert.Equal("2 reproduced, 1 not reproduced, 1 not measured", (VerdictCounts.Of(claims) + VerdictCounts.Of(claims.Take(1))).ToString());
        Assert.False(back[2].Reproduced);
    }

    [Fact]
    public void Unknown_reproduction_lists_the_known_names()
    {
        var ex = Assert.Throws<Errors.AttuneInputException>(() => ReproductionRunner.Find([new FakeReproduction()], "nope"));
        Assert.Equal("unknown reproduction 'nope'; known: fake, or 'all'", ex.Message);
    }

    private static double ColouredCentre(byte[] png)
    {
        using var bitmap = SKBitmap.Decode(png);
        double sum = 0, count = 0;
        for (var x = 0; x < bitmap.Width; x++)
        {
            for (var y = 0; y < bitmap.Height; y++)
            {
                var c = bitmap.GetPixel(x, y);
                // Saturated pixels are the bars; axes, text and background are grey or white.
                if (Math.Max(c.Red, Math.Max(c.Green, c.Blue)) - Math.Min(c.Red, Math.Min(c.Green, c.Blue)) > 60)
                {
                    sum += x;
                    count++;
                }
            }
        }

        Assert.True(count > 100, "the plot has coloured bars");
        return sum / count;
    }

    private sealed class FakeReproduction : IReproduction
    {
        public string? Banner { get; init; }

        public string Name => "fake";

        public string Paper => "Nobody (2026)";

        public string Summary => "A test double.";

        public Task<ReproductionResult> RunAsync(ReproductionContext context, CancellationToken cancellationToken)
        {
            if (Banner is not null)
            {
                context.Report.AddPreamble(Banner);
            }

            context.Report.Heading("Body").Paragraph("text");
            var result = new ReproductionResult();
            result.Claims.Add(new Claim("It holds.", true, "measured 1"));
            result.Claims.Add(new Claim("It fails.", false, "measured 0"));
            result.Claims.Add(Claim.NotMeasured("It needs a model.", "no model"));
            result.Metrics["x"] = 1.5;
            return Task.FromResult(result);
        }
    }
}

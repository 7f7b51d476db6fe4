using Attune.Core.Reports;
using Attune.Core.Reproductions;
using Microsoft.Playwright;

namespace Attune.Studies.Tests;

/// <summary>
/// Debian's Chromium, driven by Playwright, opens runs/index.html after two reproductions, follows each
/// link, and finds every plot loaded and the verdicts shown; nothing is fetched from the network.
/// (Here because this test project holds the browser set-up; the pages are Attune.Core's.)
/// </summary>
public class ReportBrowserTests
{
    [ChromiumFact]
    public async Task The_index_links_every_run_and_each_report_shows_its_plots_and_verdicts()
    {
        var dir = TestEnvironment.TempDir();
        var root = Path.Combine(dir, "runs");
        Directory.CreateDirectory(root);
        await ReproductionRunner.RunAsync(new Plotting("first-repro", reproduced: true), quick: true, seed: 1, root, TextWriter.Null, default);
        await ReproductionRunner.RunAsync(new Plotting("second-repro", reproduced: false), quick: false, seed: 2, root, TextWriter.Null, default);
        var index = Path.Combine(root, RunIndex.FileName);
        Assert.True(File.Exists(index));

        using var playwright = await Playwright.CreateAsync();
        await using var browser = await playwright.Chromium.LaunchAsync(new BrowserTypeLaunchOptions
        {
            ExecutablePath = TestEnvironment.Chromium,
            Headless = true,
            Args = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update", "--disable-sync", "--no-first-run"],
            Timeout = 30_000,
        });
        var page = await browser.NewPageAsync();
        page.SetDefaultTimeout(30_000);
        var requested = new List<string>();
        page.Request += (_, request) => requested.Add(request.Url);

        await page.GotoAsync(new Uri(index).AbsoluteUri);
        var links = await page.Locator("tbody a").EvaluateAllAsync<string[]>("as => as.map(a => a.href)");
        Assert.Equal(2, links.Length);
        Assert.Equal(new[] { "second-repro", "first-repro" }, await page.Locator("tbody tr").EvaluateAllAsync<string[]>("rs => rs.map(r => r.dataset.name)"));

        // The filter hides the rows whose name does not match.
        await page.Locator("#filter").FillAsync("first");
        Assert.Equal(new[] { true, false }, await page.Locator("tbody tr").EvaluateAllAsync<bool[]>("rs => rs.map(r => r.hidden)"));

        foreach (var (link, verdict) in links.Zip(new[] { "not reproduced", "reproduced" }))
        {
            await page.GotoAsync(new Uri(index).AbsoluteUri);
            await page.Locator($"tbody a[href$='{Path.GetFileName(Path.GetDirectoryName(new Uri(link).LocalPath))}/report.html']").ClickAsync();
            await page.WaitForLoadStateAsync(LoadState.Load);
            Assert.Equal(link, page.Url);
            var images = await page.EvaluateAsync<int[]>("() => Array.from(document.images).map(i => i.complete ? i.naturalWidth : -1)");
            Assert.Equal(2, images.Length);
            Assert.All(images, width => Assert.True(width > 0, "every plot image is loaded"));
            var cells = await page.Locator("td[class^='verdict-']").AllInnerTextsAsync();
            Assert.Equal(new[] { verdict, "not measured" }, cells);
        }

        Assert.All(requested, url => Assert.True(url.StartsWith("file:", StringComparison.Ordinal) || url.StartsWith("data:", StringComparison.Ordinal), $"fetched {url}"));
        await browser.CloseAsync();
        Directory.Delete(dir, recursive: true);
    }

    private sealed class Plotting(string name, bool reproduced) : IReproduction
    {
        public string Name => name;

        public string Paper => "Nobody (2026)";

        public string Summary => "Two plots and two claims.";

        public Task<ReproductionResult> RunAsync(ReproductionContext context, CancellationToken cancellationToken)
        {
            context.Report.Heading("Plots");
            context.Report.LinePlot("curve.png", "A curve", "x", "y", [new Series("s", [0, 1, 2], [0, 1, 4])]);
            context.Report.Histogram("hist.png", "A histogram", "x", [0.1, 0.2, 0.2, 0.7], 4, 0, 1);
            var result = new ReproductionResult();
            result.Claims.Add(new Claim("The claim.", reproduced, "evidence"));
            result.Claims.Add(Claim.NotMeasured("Needs a model.", "none"));
            return Task.FromResult(result);
        }
    }
}

using System.Text.Json;
using System.Text.RegularExpressions;
using System.Xml;
using System.Xml.Linq;
using Attune.Core.Reports;
using Attune.Core.Reproductions;

namespace Attune.Core.Tests;

/// <summary>report.html (every element kind, well-formed, self-contained, the same claims as report.md) and the run index.</summary>
public partial class ReportHtmlTests
{
    private static XDocument Parse(string html) =>
        XDocument.Load(XmlReader.Create(new StringReader(html), new XmlReaderSettings { DtdProcessing = DtdProcessing.Ignore }));

    private static XNamespace Ns(XDocument doc) => doc.Root!.Name.Namespace;

    [Fact]
    public void Every_markdown_element_renders_as_well_formed_html()
    {
        var md = """
            # Title with `code` and **bold**

            A paragraph with *emphasis*, a [link](https://example.org/a?b=1&c=2), a [local file](other.md), a [bad link](javascript:alert(1)) and <b>raw html</b> & an ampersand.
            A second line of it.

            - first bullet with `x | y`
            - second bullet
              continued

            1. one
            2. two

            > quoted **text**

            ```
            code <kept> *as is*
            ```

            | claim | verdict | evidence |
            |---|---|---|
            | a \| b | reproduced | p = 0.01 |
            | c | **not reproduced** | `t | u` |
            | d | **not measured** | none |

            ## Second heading
            """;
        var html = new MarkdownHtml { CellClass = ReportHtml.VerdictClass }.Render(md);
        var doc = Parse($"<div>{html}</div>");
        var root = doc.Root!;
        Assert.Equal("Title with code and bold", root.Element("h1")!.Value);
        Assert.Equal("code", root.Element("h1")!.Element("code")!.Value);
        var p = root.Element("p")!;
        Assert.Equal("emphasis", p.Element("em")!.Value);
        var links = p.Elements("a").ToList();
        Assert.Equal(["https://example.org/a?b=1&c=2", "other.md"], links.Select(a => a.Attribute("href")!.Value));
        Assert.Contains("bad link", p.Value, StringComparison.Ordinal);   // the text stays, the javascript: link does not
        Assert.Contains("<b>raw html</b> & an ampersand.", p.Value, StringComparison.Ordinal);   // shown as text, not markup
        Assert.NotNull(p.Element("br"));
        Assert.Equal(["first bullet with x | y", "second bullet continued"], root.Element("ul")!.Elements("li").Select(l => l.Value));
        Assert.Equal(["one", "two"], root.Element("ol")!.Elements("li").Select(l => l.Value));
        Assert.Equal("text", root.Element("blockquote")!.Descendants("strong").Single().Value);
        Assert.Equal("code <kept> *as is*", root.Element("pre")!.Element("code")!.Value);
        var rows = root.Descendants("tbody").Single().Elements("tr").ToList();
        Assert.Equal(["a | b", "reproduced", "p = 0.01"], rows[0].Elements("td").Select(td => td.Value));
        Assert.Equal("t | u", rows[1].Elements("td").ElementAt(2).Value);
        Assert.Equal(["verdict-reproduced", "verdict-not-reproduced", "verdict-not-measured"], rows.Select(r => r.Elements("td").ElementAt(1).Attribute("class")!.Value));
        Assert.Equal(["claim", "verdict", "evidence"], root.Descendants("th").Select(th => th.Value));
        Assert.Equal("Second heading", root.Element("h2")!.Value);
    }

    [Fact]
    public async Task A_run_writes_report_html_with_its_plots_embedded_and_the_claims_of_report_md()
    {
        using var dir = new TempDir();
        var run = await ReproductionRunner.RunAsync(new PlottingReproduction(), quick: true, seed: 7, dir.Path, TextWriter.Null, default);
        var html = File.ReadAllText(Path.Combine(run.ReportDir, "report.html"));
        var doc = Parse(html);
        var ns = Ns(doc);

        // Self-contained: no script, no stylesheet link, every image a data URI of the plot file beside it.
        Assert.Empty(doc.Descendants(ns + "script"));
        Assert.Empty(doc.Descendants(ns + "link"));
        Assert.DoesNotMatch(ExternalSource(), html);
        var images = doc.Descendants(ns + "img").ToList();
        Assert.Equal(2, images.Count);
        foreach (var (img, file) in images.Zip(new[] { "curve.png", "bars.png" }))
        {
            var src = img.Attribute("src")!.Value;
            Assert.StartsWith("data:image/png;base64,", src, StringComparison.Ordinal);
            Assert.Equal(File.ReadAllBytes(Path.Combine(run.ReportDir, file)), Convert.FromBase64String(src["data:image/png;base64,".Length..]));
        }

        // The same claims, with the same verdict words, as the markdown and metrics.json.
        var claimsTable = doc.Descendants(ns + "table").First();
        var htmlClaims = claimsTable.Descendants(ns + "tbody").Single().Elements(ns + "tr")
            .Select(tr => tr.Elements(ns + "td").Select(td => td.Value).ToList()).Select(c => (c[0], c[1], c[2])).ToList();
        var mdClaims = File.ReadAllLines(Path.Combine(run.ReportDir, "report.md"))
            .SkipWhile(l => l != "## Claims").Where(l => l.StartsWith("| ", StringComparison.Ordinal)).Skip(1)
            .TakeWhile(l => l.StartsWith("| ", StringComparison.Ordinal))
            .Select(MarkdownHtml.Cells).Select(c => (MarkdownHtml.PlainText(c[0]), MarkdownHtml.PlainText(c[1]), MarkdownHtml.PlainText(c[2]))).ToList();
        Assert.Equal(mdClaims, htmlClaims);
        Assert.Equal(run.Claims.Select(c => (c.Text, Claim.Words(c.Verdict), MarkdownHtml.PlainText(c.Evidence))), htmlClaims);
        Assert.Equal(["verdict-reproduced", "verdict-not-reproduced", "verdict-not-measured"],
            claimsTable.Descendants(ns + "tbody").Single().Elements(ns + "tr").Select(tr => tr.Elements(ns + "td").ElementAt(1).Attribute("class")!.Value));

        // The run's facts at the top.
        var facts = doc.Descendants(ns + "dl").First().Elements(ns + "dt").Zip(doc.Descendants(ns + "dl").First().Elements(ns + "dd"))
            .ToDictionary(p => p.First.Value, p => p.Second.Value);
        Assert.Equal("7", facts["seed"]);
        Assert.Equal("quick", facts["scale"]);
        Assert.Equal("1 reproduced, 1 not reproduced, 1 not measured", facts["claims"]);
        Assert.Matches(@"^\d+\.\d s$", facts["duration"]);
        Assert.StartsWith("Attune ", facts["versions"], StringComparison.Ordinal);
        Assert.Contains(".NET", facts["versions"], StringComparison.Ordinal);
    }

    [Fact]
    public void The_command_line_set_for_a_flow_heads_its_reports_and_only_its_own()
    {
        using var dir = new TempDir();
        Report.UseCommandLine("attune repro run fake --quick");
        var report = new Report(dir.File("a"), "t");
        report.Save();
        Assert.Contains("<code>attune repro run fake --quick</code>", File.ReadAllText(dir.File("a/report.html")), StringComparison.Ordinal);
        Report.UseCommandLine(null);
        new Report(dir.File("b"), "t").Save();
        Assert.DoesNotContain("<dt>command</dt>", File.ReadAllText(dir.File("b/report.html")), StringComparison.Ordinal);
    }

    [Fact]
    public void Images_outside_the_report_or_behind_a_url_are_not_embedded_or_fetched()
    {
        using var dir = new TempDir();
        File.WriteAllBytes(dir.File("secret.png"), [1, 2, 3]);
        var report = new Report(dir.File("run"), "t");
        report.Paragraph("![outside](../secret.png)").Paragraph("![remote](https://example.org/x.png)").Paragraph("![missing](nope.png)");
        report.Save();
        var html = File.ReadAllText(dir.File("run/report.html"));
        Assert.DoesNotContain("<img", html, StringComparison.Ordinal);
        Assert.Contains("[image: outside]", html, StringComparison.Ordinal);
        Assert.Contains("[image: remote]", html, StringComparison.Ordinal);
        Assert.Contains("[image: missing]", html, StringComparison.Ordinal);
        Assert.DoesNotMatch(ExternalSource(), html);
    }

    [Fact]
    public async Task The_index_lists_reproductions_reports_and_training_runs_newest_first()
    {
        using var dir = new TempDir();
        var root = dir.File("runs");
        Directory.CreateDirectory(root);
        var older = await ReproductionRunner.RunAsync(new PlottingReproduction(), quick: false, seed: 1, root, TextWriter.Null, default);
        var training = Path.Combine(root, "20200101T000000Z-sft");
        Directory.CreateDirectory(training);
        File.WriteAllText(Path.Combine(training, "metrics.jsonl"), "{\"step\":1}\n");
        var other = new Report(Path.Combine(root, "29991231T235959Z-interact-demo"), "interact run: demo");
        other.Save();
        Directory.CreateDirectory(Path.Combine(root, "empty-folder"));   // holds no run: not listed

        var entries = RunIndex.Scan(root);
        Assert.Equal(["interact-demo", "plotting", "sft"], entries.Select(e => e.Name));
        Assert.Equal(["report", "reproduction", "training"], entries.Select(e => e.Kind));
        Assert.Equal(new VerdictCounts(1, 1, 1), entries[1].Verdicts);
        Assert.Equal("full", entries[1].Scale);
        Assert.Equal(Path.Combine(older.ReportDir, "report.html"), entries[1].Report);
        Assert.Equal("interact run: demo", entries[0].Title);

        // Saving a report under a folder named runs rewrote the index; its links point at each report.
        var index = File.ReadAllText(Path.Combine(root, RunIndex.FileName));
        var doc = Parse(index);
        var ns = Ns(doc);
        var rows = doc.Descendants(ns + "tbody").Single().Elements(ns + "tr").ToList();
        Assert.Equal(["interact-demo", "plotting", "sft"], rows.Select(r => r.Attribute("data-name")!.Value));
        Assert.Equal(["29991231T235959Z-interact-demo/report.html", Path.GetFileName(older.ReportDir) + "/report.html", "20200101T000000Z-sft/"],
            rows.Select(r => r.Descendants(ns + "a").Single().Attribute("href")!.Value));
        string[] Counts(XElement row) => [.. row.Elements(ns + "td").Skip(4).Take(3).Select(td => td.Value)];
        Assert.Equal(["1", "1", "1"], Counts(rows[1]));
        Assert.Equal(["", "", ""], Counts(rows[0]));
        Assert.Equal(["", "", ""], Counts(rows[2]));
    }

    [Fact]
    public void A_report_in_a_folder_the_user_chose_gets_no_index_but_a_marked_index_is_kept_fresh()
    {
        using var dir = new TempDir();
        new Report(dir.File("mine/report-1"), "t").Save();
        Assert.False(File.Exists(dir.File("mine/index.html")));

        RunIndex.Write(dir.File("mine"));                    // 'attune runs list --root mine' makes it a runs root
        new Report(dir.File("mine/report-2"), "t").Save();
        var rows = Parse(File.ReadAllText(dir.File("mine/index.html"))).Descendants().Where(e => e.Name.LocalName == "tr" && e.Attribute("data-name") is not null);
        Assert.Equal(2, rows.Count());
    }

    [Fact]
    public void A_damaged_metrics_file_still_lists_the_run_without_counts()
    {
        using var dir = new TempDir();
        var run = new Report(dir.File("runs/20260101T000000Z-broken"), "broken");
        run.Save();
        File.WriteAllText(dir.File("runs/20260101T000000Z-broken/metrics.json"), "{ not json");
        var entry = Assert.Single(RunIndex.Scan(dir.File("runs")));
        Assert.Equal("broken", entry.Name);
        Assert.Null(entry.Verdicts);
        Assert.Equal(new DateTime(2026, 1, 1, 0, 0, 0, DateTimeKind.Utc), entry.Time);
        Assert.Equal("report", entry.Kind);
        Assert.Equal(JsonValueKind.Object, JsonDocument.Parse(JsonSerializer.Serialize(entry)).RootElement.ValueKind);
    }

    /// <summary>An attribute that would make a browser fetch from a URL (src=, href= of a stylesheet or script, url(...)).</summary>
    [GeneratedRegex(@"(src\s*=\s*""(https?:|//))|(url\()|(<link\b)|(<script[^>]*\bsrc=)", RegexOptions.IgnoreCase)]
    private static partial Regex ExternalSource();

    private sealed class PlottingReproduction : IReproduction
    {
        public string Name => "plotting";

        public string Paper => "Nobody (2026)";

        public string Summary => "Writes two plots and three claims.";

        public Task<ReproductionResult> RunAsync(ReproductionContext context, CancellationToken cancellationToken)
        {
            context.Report.Heading("Plots");
            context.Report.LinePlot("curve.png", "A curve", "x", "y", [new Series("s", [0, 1, 2], [0, 1, 4])]);
            context.Report.BarPlot("bars.png", "Bars", "label", "value", ["a", "b"], [1, 2]);
            var result = new ReproductionResult();
            result.Claims.Add(new Claim("It holds | with a pipe.", true, "measured `1`"));
            result.Claims.Add(new Claim("It fails.", false, "measured 0"));
            result.Claims.Add(Claim.NotMeasured("It needs a model.", "no model"));
            return Task.FromResult(result);
        }
    }
}

using System.Globalization;
using System.Text;
using System.Text.Json;
using Attune.Core.IO;

namespace Attune.Core.Reports;

/// <summary>One named series of a line plot.</summary>
public sealed record Series(string Name, IReadOnlyList<double> X, IReadOnlyList<double> Y);

/// <summary>
/// A report folder: <c>report.md</c> (built up section by section), <c>report.html</c> (the same as one
/// self-contained page, <see cref="ReportHtml"/>), <c>metrics.json</c> and PNG plots beside them. Plots
/// are written as they are added; the markdown, the page and the metrics are written atomically by
/// <see cref="Save"/>, which then refreshes the run index of the folder above when there is one
/// (<see cref="RunIndex"/>).
/// </summary>
public sealed class Report
{
    private readonly StringBuilder _markdown = new();
    private string _preamble = "";
    private readonly SortedDictionary<string, object?> _metrics = new(StringComparer.Ordinal);
    private readonly List<string> _plots = [];

    private static readonly AsyncLocal<string?> Command = new();

    public Report(string directory, string title)
    {
        Directory = Path.GetFullPath(directory);
        System.IO.Directory.CreateDirectory(Directory);
        Title = title;
        CommandLine = Command.Value;
    }

    /// <summary>
    /// The command line that produced the reports created from here on in this asynchronous flow
    /// (the CLI sets it for each command it runs); shown at the top of <c>report.html</c>.
    /// </summary>
    public static void UseCommandLine(string? commandLine) => Command.Value = commandLine;

    /// <summary>The command that produced this report, when the host said (<see cref="UseCommandLine"/>).</summary>
    public string? CommandLine { get; set; }

    /// <summary>When the report was started (UTC).</summary>
    public DateTime Created { get; } = DateTime.UtcNow;

    /// <summary>The folder everything is written into.</summary>
    public string Directory { get; }

    public string Title { get; }

    /// <summary>File names of the PNG plots written so far.</summary>
    public IReadOnlyList<string> Plots => _plots;

    /// <summary>Every metric recorded so far (written to metrics.json).</summary>
    public IReadOnlyDictionary<string, object?> Metrics => _metrics;

    /// <summary>
    /// Adds markdown under the title, before every section (a banner, a summary of claims). Blocks
    /// appear in the order they were added; none replaces another.
    /// </summary>
    public Report AddPreamble(string markdown)
    {
        ArgumentNullException.ThrowIfNull(markdown);
        if (markdown.Trim().Length > 0)
        {
            _preamble += markdown.TrimEnd() + "\n\n";
        }

        return this;
    }

    public Report Heading(string text, int level = 2)
    {
        _markdown.Append(new string('#', Math.Clamp(level, 1, 6))).Append(' ').AppendLine(text).AppendLine();
        return this;
    }

    public Report Paragraph(string text)
    {
        _markdown.AppendLine(text).AppendLine();
        return this;
    }

    /// <summary>A markdown table; cells are escaped for pipes.</summary>
    public Report Table(IReadOnlyList<string> header, IEnumerable<IReadOnlyList<string>> rows)
    {
        static string Cell(string s) => s.Replace("|", "\\|", StringComparison.Ordinal).Replace('\n', ' ');
        _markdown.Append("| ").AppendJoin(" | ", header.Select(Cell)).AppendLine(" |");
        _markdown.Append('|').AppendJoin("|", header.Select(_ => "---")).AppendLine("|");
        foreach (var row in rows)
        {
            _markdown.Append("| ").AppendJoin(" | ", row.Select(Cell)).AppendLine(" |");
        }

        _markdown.AppendLine();
        return this;
    }

    /// <summary>Records a metric for metrics.json (a number, string, bool, array or nested object).</summary>
    public Report Metric(string name, object? value)
    {
        _metrics[name] = value;
        return this;
    }

    /// <summary>A line plot of one or more series, embedded in the report.</summary>
    public string LinePlot(string fileName, string title, string xLabel, string yLabel, IEnumerable<Series> series) =>
        AddPlot(fileName, title, Plotting.Line(title, xLabel, yLabel, series));

    /// <summary>A bar chart, one bar per label.</summary>
    public string BarPlot(string fileName, string title, string xLabel, string yLabel, IReadOnlyList<string> labels, IReadOnlyList<double> values) =>
        AddPlot(fileName, title, Plotting.Bars(title, xLabel, yLabel, labels, values));

    /// <summary>A histogram of <paramref name="values"/> in <paramref name="bins"/> equal bins over [min, max].</summary>
    public string Histogram(string fileName, string title, string xLabel, IReadOnlyList<double> values, int bins, double min, double max) =>
        AddPlot(fileName, title, Plotting.Histogram(title, xLabel, values, bins, min, max));

    /// <summary>A heat map of a matrix (row 0 at the top) with a colour bar.</summary>
    public string HeatMap(string fileName, string title, double[,] values, IReadOnlyList<string>? rowLabels = null, IReadOnlyList<string>? columnLabels = null) =>
        AddPlot(fileName, title, Plotting.HeatMap(title, values, rowLabels, columnLabels));

    /// <summary>Writes report.md, report.html and metrics.json (atomically), refreshes the run index above, and returns the folder.</summary>
    public string Save()
    {
        AtomicFile.WriteAllText(Path.Combine(Directory, "report.md"), ToString());
        AtomicFile.WriteAllText(Path.Combine(Directory, "report.html"), ReportHtml.Render(this));
        var json = JsonSerializer.Serialize(_metrics, new JsonSerializerOptions
        {
            WriteIndented = true,
            Encoder = System.Text.Encodings.Web.JavaScriptEncoder.UnsafeRelaxedJsonEscaping,
        });
        AtomicFile.WriteAllText(Path.Combine(Directory, "metrics.json"), json + "\n");
        RunIndex.RefreshAbove(Directory);
        return Directory;
    }

    /// <summary>The markdown written so far.</summary>
    public override string ToString() => $"# {Title}\n\n{_preamble}{_markdown}";

    private string AddPlot(string fileName, string title, byte[] png)
    {
        if (!fileName.EndsWith(".png", StringComparison.OrdinalIgnoreCase))
        {
            fileName += ".png";
        }

        AtomicFile.Write(Path.Combine(Directory, fileName), s => s.Write(png));
        _plots.Add(fileName);
        _markdown.Append(CultureInfo.InvariantCulture, $"![{title}]({fileName})").AppendLine().AppendLine();
        return Path.Combine(Directory, fileName);
    }
}

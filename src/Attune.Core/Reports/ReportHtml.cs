using System.Globalization;
using System.Reflection;
using System.Runtime.InteropServices;
using System.Text;
using Attune.Core.Reproductions;

namespace Attune.Core.Reports;

/// <summary>
/// <c>report.html</c>: a report's markdown as one self-contained page — styles inline, plots embedded
/// as PNG data URIs, no script and no external URL — readable on a phone and printable. The run's
/// command, seed, scale, duration and versions head the page; verdict cells (<c>reproduced</c>,
/// <c>not reproduced</c>, <c>not measured</c>) are coloured and keep their words.
/// </summary>
public static class ReportHtml
{
    /// <summary>Largest image embedded (bytes); a larger one is linked by name instead.</summary>
    public const long MaxEmbeddedImage = 16L << 20;

    /// <summary>The CSS every Attune page shares (reports and the run index).</summary>
    public const string Style = """
        :root { color-scheme: light; --ok: #1a7f37; --bad: #b42318; --none: #6e7781; --line: #d0d7de; }
        * { box-sizing: border-box; }
        body { font: 16px/1.5 system-ui, -apple-system, "Segoe UI", "DejaVu Sans", sans-serif; margin: 0 auto; max-width: 1100px; padding: 1rem; color: #1f2328; }
        h1 { font-size: 1.6rem; margin-top: 0.5rem; } h2 { font-size: 1.3rem; border-bottom: 1px solid var(--line); padding-bottom: 0.2rem; margin-top: 2rem; }
        code, pre { font-family: "DejaVu Sans Mono", ui-monospace, monospace; font-size: 0.9em; background: #f6f8fa; }
        code { padding: 0 0.2em; border-radius: 3px; } pre { padding: 0.8rem; overflow-x: auto; border-radius: 6px; }
        .table { overflow-x: auto; margin: 1rem 0; } table { border-collapse: collapse; min-width: 50%; }
        th, td { border: 1px solid var(--line); padding: 0.3rem 0.6rem; text-align: left; vertical-align: top; }
        th { background: #f6f8fa; }
        td.verdict-reproduced { color: var(--ok); font-weight: 600; background: #dafbe1; }
        td.verdict-not-reproduced { color: var(--bad); font-weight: 600; background: #ffebe9; }
        td.verdict-not-measured { color: var(--none); font-weight: 600; background: #f6f8fa; }
        img { max-width: 100%; height: auto; } figure { margin: 1rem 0; } figcaption { color: var(--none); font-size: 0.9em; }
        blockquote { margin: 1rem 0; padding: 0.2rem 1rem; border-left: 4px solid var(--line); color: #57606a; }
        dl.run { display: grid; grid-template-columns: max-content 1fr; gap: 0.1rem 1rem; background: #f6f8fa; padding: 0.8rem; border-radius: 6px; }
        dl.run dt { font-weight: 600; } dl.run dd { margin: 0; overflow-wrap: anywhere; }
        .missing-image { color: var(--bad); }
        @media (max-width: 600px) { body { font-size: 15px; padding: 0.5rem; } dl.run { grid-template-columns: 1fr; } }
        @media print { body { max-width: none; } a { color: inherit; } .table { overflow: visible; } tr, img, figure { break-inside: avoid; } input { display: none; } }
        """;

    /// <summary>The page for <paramref name="report"/>'s markdown, its plots read from its folder.</summary>
    public static string Render(Report report)
    {
        ArgumentNullException.ThrowIfNull(report);
        var renderer = new MarkdownHtml { ImageSource = target => EmbeddedImage(report.Directory, target), CellClass = VerdictClass };
        var body = renderer.Render(report.ToString());
        var sb = new StringBuilder();
        sb.Append("<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\" />\n")
            .Append("<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\" />\n")
            .Append("<meta name=\"generator\" content=\"attune\" />\n")
            .Append("<title>").Append(MarkdownHtml.Escape(report.Title)).Append("</title>\n")
            .Append("<style>\n").Append(Style).Append("\n</style>\n</head>\n<body>\n");
        var title = body.IndexOf("</h1>\n", StringComparison.Ordinal);
        if (title >= 0)
        {
            sb.Append(body, 0, title + 6);   // the title first, then the run's facts, then the rest
            RunFacts(report, sb);
            sb.Append(body, title + 6, body.Length - title - 6);
        }
        else
        {
            RunFacts(report, sb);
            sb.Append(body);
        }

        sb.Append("</body>\n</html>\n");
        return sb.ToString();
    }

    /// <summary>The CSS class of a cell whose whole text is a verdict, else null.</summary>
    public static string? VerdictClass(string plainText) => plainText switch
    {
        "reproduced" => "verdict-reproduced",
        "not reproduced" => "verdict-not-reproduced",
        "not measured" => "verdict-not-measured",
        _ => null,
    };

    /// <summary>Attune's version, the .NET runtime and the operating system, in one line.</summary>
    public static string Versions() =>
        $"Attune {AttuneVersion()}; {RuntimeInformation.FrameworkDescription}; {RuntimeInformation.OSDescription} ({RuntimeInformation.ProcessArchitecture})";

    private static string AttuneVersion()
    {
        var info = typeof(ReportHtml).Assembly.GetCustomAttribute<AssemblyInformationalVersionAttribute>()?.InformationalVersion ?? "?";
        var plus = info.IndexOf('+', StringComparison.Ordinal);
        return plus > 0 && info.Length > plus + 8 ? info[..(plus + 8)] : info;   // version+commit, the commit cut to 7 characters
    }

    private static void RunFacts(Report report, StringBuilder sb)
    {
        var facts = new List<(string, string)>();
        if (report.CommandLine is { } command)
        {
            facts.Add(("command", $"<code>{MarkdownHtml.Escape(command)}</code>"));
        }

        var metrics = report.Metrics;
        if (metrics.TryGetValue("seed", out var seed) && seed is not null)
        {
            facts.Add(("seed", MarkdownHtml.Escape(Convert.ToString(seed, CultureInfo.InvariantCulture) ?? "")));
        }

        if (metrics.TryGetValue("quick", out var quick) && quick is bool q)
        {
            facts.Add(("scale", q ? "quick" : "full"));
        }

        if (metrics.TryGetValue("seconds", out var seconds) && seconds is double s)
        {
            facts.Add(("duration", string.Create(CultureInfo.InvariantCulture, $"{s:F1} s")));
        }

        if (metrics.TryGetValue("verdicts", out var verdicts) && verdicts is VerdictCounts counts)
        {
            facts.Add(("claims", MarkdownHtml.Escape(counts.ToString())));
        }

        facts.Add(("written", report.Created.ToString("yyyy-MM-dd HH:mm:ss' UTC'", CultureInfo.InvariantCulture)));
        facts.Add(("versions", MarkdownHtml.Escape(Versions())));
        sb.Append("<dl class=\"run\">\n");
        foreach (var (name, value) in facts)
        {
            sb.Append("<dt>").Append(name).Append("</dt><dd>").Append(value).Append("</dd>\n");
        }

        sb.Append("</dl>\n");
    }

    /// <summary>A plot of the report's own folder as a data URI; anything else (another folder, a URL, a missing file) is not embedded.</summary>
    private static string? EmbeddedImage(string directory, string target)
    {
        if (target.Contains(':', StringComparison.Ordinal) || Path.IsPathRooted(target))
        {
            return null;   // never fetch a URL or read outside the report
        }

        var path = Path.GetFullPath(Path.Combine(directory, target));
        if (!path.StartsWith(Path.GetFullPath(directory) + Path.DirectorySeparatorChar, StringComparison.Ordinal) || !File.Exists(path)
            || new FileInfo(path).Length > MaxEmbeddedImage)
        {
            return null;
        }

        var mime = Path.GetExtension(path).ToLowerInvariant() switch
        {
            ".png" => "image/png",
            ".svg" => "image/svg+xml",
            ".jpg" or ".jpeg" => "image/jpeg",
            _ => null,
        };
        return mime is null ? null : $"data:{mime};base64,{Convert.ToBase64String(File.ReadAllBytes(path))}";
    }
}

using System.Globalization;
using System.Text;
using System.Text.Json;
using System.Text.Json.Serialization;
using Attune.Core.IO;
using Attune.Core.Reproductions;

namespace Attune.Core.Reports;

/// <summary>One run folder under a runs root, as the index lists it.</summary>
public sealed record RunEntry(
    [property: JsonPropertyName("folder")] string Folder,
    [property: JsonPropertyName("name")] string Name,
    [property: JsonPropertyName("kind")] string Kind,
    [property: JsonPropertyName("time")] DateTime Time,
    [property: JsonPropertyName("scale")] string? Scale,
    [property: JsonPropertyName("verdicts")] VerdictCounts? Verdicts,
    [property: JsonPropertyName("title")] string Title,
    [property: JsonPropertyName("report")] string Report);

/// <summary>
/// The index of a runs root (<c>runs/</c> by default): one row per run folder — reproductions (their scale
/// and verdict counts), other verbs' reports (<c>interact run</c>, <c>survey test --report</c>, …) and
/// training runs (<c>align train</c>, <c>train sft</c>: a folder with <c>metrics.jsonl</c>) — newest first,
/// written as <c>index.html</c> (with a filter by name) and listed by <c>attune runs list</c>.
/// </summary>
public static class RunIndex
{
    public const string FileName = "index.html";

    /// <summary>The marker that says an index.html was written by Attune (and may be rewritten).</summary>
    public const string Marker = "<meta name=\"generator\" content=\"attune run index\" />";

    /// <summary>Run folders under <paramref name="root"/>, newest first; folders that hold no run are left out.</summary>
    public static IReadOnlyList<RunEntry> Scan(string root)
    {
        ArgumentNullException.ThrowIfNull(root);
        var entries = new List<RunEntry>();
        foreach (var dir in Directory.EnumerateDirectories(root))
        {
            if (Read(dir) is { } entry)
            {
                entries.Add(entry);
            }
        }

        return [.. entries.OrderByDescending(e => e.Time).ThenByDescending(e => e.Folder, StringComparer.Ordinal)];
    }

    /// <summary>Writes <c>index.html</c> in <paramref name="root"/> (atomically) and returns its path.</summary>
    public static string Write(string root)
    {
        var path = Path.Combine(root, FileName);
        AtomicFile.WriteAllText(path, Html(Scan(root), root));
        return path;
    }

    /// <summary>
    /// After a report is written: rewrites the index of the folder above it when that folder is a runs root —
    /// named <c>runs</c>, or already holding an index Attune wrote. A folder the user chose for one report
    /// gets no index. An index that cannot be written does not fail the run that wrote the report.
    /// </summary>
    public static void RefreshAbove(string reportDirectory)
    {
        var parent = Directory.GetParent(Path.GetFullPath(reportDirectory))?.FullName;
        if (parent is null)
        {
            return;
        }

        try
        {
            var existing = Path.Combine(parent, FileName);
            var isRoot = string.Equals(Path.GetFileName(parent), "runs", StringComparison.Ordinal)
                         || (File.Exists(existing) && File.ReadAllText(existing).Contains(Marker, StringComparison.Ordinal));
            if (isRoot)
            {
                Write(parent);
            }
        }
        catch (Exception ex) when (ex is IOException or UnauthorizedAccessException)
        {
            // The report itself is written; the index is rebuilt by the next run or by 'attune runs list'.
        }
    }

    /// <summary>The entry for one folder, or null when it holds no run.</summary>
    public static RunEntry? Read(string dir)
    {
        var folder = Path.GetFileName(Path.GetFullPath(dir));
        var (stamp, suffix) = SplitFolderName(folder);
        var markdown = Path.Combine(dir, "report.md");
        var html = Path.Combine(dir, "report.html");
        var metricsJson = Path.Combine(dir, "metrics.json");
        var report = File.Exists(html) ? html : markdown;
        if (File.Exists(markdown) || File.Exists(html))
        {
            var metrics = ReadMetrics(metricsJson);
            var verdicts = metrics?.TryGetProperty("verdicts", out var v) == true ? TryDeserialize<VerdictCounts>(v) : null;
            var name = metrics?.TryGetProperty("reproduction", out var n) == true && n.ValueKind == JsonValueKind.String ? n.GetString()! : suffix;
            string? scale = metrics?.TryGetProperty("quick", out var q) == true && q.ValueKind is JsonValueKind.True or JsonValueKind.False
                ? (q.GetBoolean() ? "quick" : "full") : null;
            var title = File.Exists(markdown) ? FirstHeading(markdown) ?? folder : folder;
            return new RunEntry(folder, name, verdicts is null ? "report" : "reproduction", stamp ?? File.GetLastWriteTimeUtc(report), scale, verdicts, title, report);
        }

        var jsonl = Path.Combine(dir, "metrics.jsonl");
        if (File.Exists(jsonl) || File.Exists(Path.Combine(dir, "trainer_state.json")))
        {
            var plot = Path.Combine(dir, "metrics.png");
            var time = stamp ?? (File.Exists(jsonl) ? File.GetLastWriteTimeUtc(jsonl) : Directory.GetLastWriteTimeUtc(dir));
            return new RunEntry(folder, suffix, "training", time, null, null, $"training run {folder}", File.Exists(plot) ? plot : Path.GetFullPath(dir));
        }

        return null;
    }

    /// <summary>A run folder's UTC time (from its <c>yyyyMMddTHHmmssZ-</c> prefix) and the name after it.</summary>
    public static (DateTime? Time, string Name) SplitFolderName(string folder)
    {
        if (folder.Length > 17 && folder[16] == '-'
            && DateTime.TryParseExact(folder[..16], "yyyyMMdd'T'HHmmss'Z'", CultureInfo.InvariantCulture, DateTimeStyles.AdjustToUniversal | DateTimeStyles.AssumeUniversal, out var t))
        {
            return (t, folder[17..]);
        }

        return (null, folder);
    }

    /// <summary>The index page: a table of runs, newest first, with a filter by name (a few lines of inline script).</summary>
    public static string Html(IReadOnlyList<RunEntry> entries, string root)
    {
        ArgumentNullException.ThrowIfNull(entries);
        var sb = new StringBuilder();
        sb.Append("<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\" />\n")
            .Append("<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\" />\n")
            .Append(Marker).Append('\n')
            .Append("<title>Attune runs</title>\n<style>\n").Append(ReportHtml.Style)
            .Append("\ninput#filter { font: inherit; padding: 0.3rem 0.5rem; width: min(100%, 24rem); }\ntd.time { white-space: nowrap; }\n</style>\n</head>\n<body>\n")
            .Append("<h1>Attune runs</h1>\n")
            .Append(CultureInfo.InvariantCulture, $"<p>{entries.Count} run{(entries.Count == 1 ? "" : "s")}, newest first. <label>Filter by name: <input id=\"filter\" type=\"search\" autocomplete=\"off\" /></label></p>\n")
            .Append("<div class=\"table\"><table>\n<thead><tr><th>name</th><th>time (UTC)</th><th>kind</th><th>scale</th><th>reproduced</th><th>not reproduced</th><th>not measured</th><th>report</th></tr></thead>\n<tbody>\n");
        foreach (var e in entries)
        {
            var link = Path.GetRelativePath(Path.GetFullPath(root), e.Report).Replace(Path.DirectorySeparatorChar, '/') + (Directory.Exists(e.Report) ? "/" : "");
            string Count(Func<VerdictCounts, int> pick, string css) => e.Verdicts is { } v
                ? $"<td class=\"{(pick(v) > 0 ? css : "")}\">{pick(v)}</td>" : "<td></td>";
            sb.Append(CultureInfo.InvariantCulture, $"<tr data-name=\"{MarkdownHtml.Escape(e.Name.ToLowerInvariant())}\">")
                .Append(CultureInfo.InvariantCulture, $"<td title=\"{MarkdownHtml.Escape(e.Title)}\">{MarkdownHtml.Escape(e.Name)}</td><td class=\"time\">{e.Time:yyyy-MM-dd HH:mm:ss}</td><td>{e.Kind}</td><td>{e.Scale ?? ""}</td>")
                .Append(Count(v => v.Reproduced, "verdict-reproduced")).Append(Count(v => v.NotReproduced, "verdict-not-reproduced")).Append(Count(v => v.NotMeasured, "verdict-not-measured"))
                .Append(CultureInfo.InvariantCulture, $"<td><a href=\"{MarkdownHtml.Escape(Uri.EscapeDataString(link).Replace("%2F", "/", StringComparison.Ordinal))}\">{LinkText(e)}</a></td></tr>\n");
        }

        sb.Append("</tbody></table></div>\n")
            .Append("<script>\n//<![CDATA[\nconst f = document.getElementById('filter');\nf.addEventListener('input', () => {\n  const q = f.value.trim().toLowerCase();\n  for (const r of document.querySelectorAll('tbody tr')) r.hidden = q !== '' && !r.dataset.name.includes(q);\n});\n//]]>\n</script>\n</body>\n</html>\n");
        return sb.ToString();
    }

    private static string LinkText(RunEntry e) => e.Kind != "training" ? (e.Report.EndsWith(".html", StringComparison.Ordinal) ? "report" : "report (markdown)")
        : Directory.Exists(e.Report) ? "folder" : "metrics plot";

    private static JsonElement? ReadMetrics(string path)
    {
        if (!File.Exists(path))
        {
            return null;
        }

        try
        {
            using var doc = JsonDocument.Parse(File.ReadAllText(path));
            return doc.RootElement.ValueKind == JsonValueKind.Object ? doc.RootElement.Clone() : null;
        }
        catch (JsonException)
        {
            return null;   // a damaged metrics.json still lists the run, without counts
        }
    }

    private static T? TryDeserialize<T>(JsonElement e)
        where T : class
    {
        try
        {
            return e.Deserialize<T>();
        }
        catch (JsonException)
        {
            return null;
        }
    }

    private static string? FirstHeading(string markdown)
    {
        foreach (var line in File.ReadLines(markdown).Take(5))
        {
            if (line.StartsWith("# ", StringComparison.Ordinal))
            {
                return line[2..].Trim();
            }
        }

        return null;
    }
}

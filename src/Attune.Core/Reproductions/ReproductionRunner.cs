using System.Diagnostics;
using System.Globalization;
using System.Text;
using System.Text.Json.Serialization;
using Attune.Core.Errors;
using Attune.Core.Reports;

namespace Attune.Core.Reproductions;

/// <summary>What one reproduction run produced, as printed by <c>attune repro run --json</c>.</summary>
public sealed record ReproductionRun(
    [property: JsonPropertyName("name")] string Name,
    [property: JsonPropertyName("paper")] string Paper,
    [property: JsonPropertyName("verdicts")] VerdictCounts Verdicts,
    [property: JsonPropertyName("claims")] IReadOnlyList<Claim> Claims,
    [property: JsonPropertyName("metrics")] IReadOnlyDictionary<string, double> Metrics,
    [property: JsonPropertyName("report_dir")] string ReportDir,
    [property: JsonPropertyName("seed")] int Seed,
    [property: JsonPropertyName("quick")] bool Quick,
    [property: JsonPropertyName("seconds")] double Seconds);

/// <summary>
/// Runs reproductions: one folder <c>&lt;root&gt;/&lt;UTC time&gt;-&lt;name&gt;/</c> per run with
/// <c>report.md</c> (claims first, then the experiment's sections), <c>metrics.json</c> and plots.
/// </summary>
public static class ReproductionRunner
{
    /// <summary>Finds a reproduction by name; an unknown name is bad input that lists the known ones.</summary>
    public static IReproduction Find(IReadOnlyList<IReproduction> all, string name) =>
        all.FirstOrDefault(r => string.Equals(r.Name, name, StringComparison.Ordinal))
        ?? throw new AttuneInputException(
            $"unknown reproduction '{name}'; known: {(all.Count == 0 ? "(none)" : string.Join(", ", all.Select(r => r.Name)))}, or 'all'");

    /// <summary>The folder name of a run started at <paramref name="utc"/>.</summary>
    public static string FolderName(DateTime utc, string name) =>
        $"{utc.ToUniversalTime().ToString("yyyyMMdd'T'HHmmss'Z'", CultureInfo.InvariantCulture)}-{name}";

    public static async Task<ReproductionRun> RunAsync(
        IReproduction reproduction, bool quick, int seed, string root, TextWriter log, CancellationToken cancellationToken, string? precision = null)
    {
        var started = DateTime.UtcNow;
        var dir = Path.Combine(root, FolderName(started, reproduction.Name));
        for (var i = 2; Directory.Exists(dir); i++)
        {
            dir = Path.Combine(root, FolderName(started, reproduction.Name) + $"-{i}");
        }

        var report = new Report(dir, $"{reproduction.Name}: reproduction report");
        var context = new ReproductionContext { Quick = quick, Seed = seed, Report = report, Log = log, Precision = precision };
        var clock = Stopwatch.StartNew();
        var result = await reproduction.RunAsync(context, cancellationToken);
        clock.Stop();

        foreach (var (key, value) in result.Metrics)
        {
            report.Metric(key, value);
        }

        report.Metric("reproduction", reproduction.Name);
        report.Metric("seed", seed);
        report.Metric("quick", quick);
        report.Metric("seconds", Math.Round(clock.Elapsed.TotalSeconds, 3));
        report.Metric("claims", result.Claims);
        report.Metric("verdicts", VerdictCounts.Of(result.Claims));

        // After whatever the reproduction itself put there (a REPLAY banner, the data it used).
        report.AddPreamble(Preamble(reproduction, result, quick, seed, started, clock.Elapsed));
        report.Save();
        return new ReproductionRun(reproduction.Name, reproduction.Paper, VerdictCounts.Of(result.Claims), result.Claims, result.Metrics,
            report.Directory, seed, quick, Math.Round(clock.Elapsed.TotalSeconds, 3));
    }

    private static string Preamble(IReproduction r, ReproductionResult result, bool quick, int seed, DateTime started, TimeSpan took)
    {
        var sb = new StringBuilder();
        sb.AppendLine(CultureInfo.InvariantCulture, $"- **Paper:** {r.Paper}");
        sb.AppendLine(CultureInfo.InvariantCulture, $"- **What:** {r.Summary}");
        sb.AppendLine(CultureInfo.InvariantCulture, $"- **Scale:** {(quick ? "quick" : "full")}; **seed:** {seed}; **started:** {started:yyyy-MM-dd HH:mm:ss} UTC; **took:** {took.TotalSeconds:F1} s");
        sb.AppendLine(CultureInfo.InvariantCulture, $"- **Claims:** {VerdictCounts.Of(result.Claims)} (of {result.Claims.Count})");
        sb.AppendLine();
        sb.AppendLine("## Claims");
        sb.AppendLine();
        sb.AppendLine("| claim | verdict | evidence |");
        sb.AppendLine("|---|---|---|");
        foreach (var c in result.Claims)
        {
            static string Cell(string s) => s.Replace("|", "\\|", StringComparison.Ordinal).Replace('\n', ' ');
            var verdict = c.Verdict == Verdict.Reproduced ? "reproduced" : $"**{Claim.Words(c.Verdict)}**";
            sb.AppendLine(CultureInfo.InvariantCulture, $"| {Cell(c.Text)} | {verdict} | {Cell(c.Evidence)} |");
        }

        if (result.Claims.Any(c => c.Verdict == Verdict.NotMeasured))
        {
            sb.AppendLine();
            sb.AppendLine("*Not measured*: the evidence came from a scripted stand-in, or the run lacked the model or data the claim needs; " +
                "such a claim is neither supported nor refuted by this run.");
        }

        return sb.ToString();
    }
}

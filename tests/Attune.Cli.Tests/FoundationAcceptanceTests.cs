using System.Text.Json;

namespace Attune.Cli.Tests;

/// <summary>The foundation's promises, through the real command: JSON output and exit codes.</summary>
public class FoundationAcceptanceTests
{
    [Fact]
    public async Task Repro_list_json_is_one_document_naming_stats_calibration()
    {
        var (code, stdout, _) = await CliHarness.Run("repro", "list", "--json");
        Assert.Equal(0, code);
        using var doc = JsonDocument.Parse(stdout);
        Assert.Contains(doc.RootElement.EnumerateArray(), r => r.GetProperty("name").GetString() == "stats-calibration");
    }

    [Fact]
    public async Task Stats_calibration_runs_and_reports_its_claims_as_json()
    {
        using var dir = new CliHarness.TempDir();
        var (code, stdout, stderr) = await CliHarness.Run("repro", "run", "stats-calibration", "--quick", "--json", "--out", dir.Path, "--seed", "3");
        Assert.True(code == 0, stderr);
        using var doc = JsonDocument.Parse(stdout);
        var run = doc.RootElement;
        Assert.Equal("stats-calibration", run.GetProperty("name").GetString());
        Assert.False(string.IsNullOrWhiteSpace(run.GetProperty("paper").GetString()));
        var claims = run.GetProperty("claims").EnumerateArray().ToList();
        Assert.Equal(4, claims.Count);
        Assert.All(claims, c =>
        {
            Assert.Equal(JsonValueKind.String, c.GetProperty("claim").ValueKind);
            Assert.Contains(c.GetProperty("verdict").GetString(), new[] { "reproduced", "not reproduced", "not measured" });
            Assert.False(string.IsNullOrWhiteSpace(c.GetProperty("evidence").GetString()));
        });
        Assert.True(run.GetProperty("metrics").GetProperty("null.chisquare.size_at_0.05").GetDouble() is > 0 and < 0.2);
        var reportDir = run.GetProperty("report_dir").GetString()!;
        Assert.StartsWith(dir.Path, reportDir, StringComparison.Ordinal);
        foreach (var file in new[] { "report.md", "metrics.json", "null-pvalues-chisquare.png", "null-pvalues-ksordinal.png", "power-curve.png" })
        {
            Assert.True(File.Exists(Path.Combine(reportDir, file)), file);
        }

        Assert.Contains("seed:** 3", File.ReadAllText(Path.Combine(reportDir, "report.md")), StringComparison.Ordinal);
        Assert.Contains("stats-calibration", stderr, StringComparison.Ordinal); // progress goes to stderr
    }

    [Fact]
    public async Task Same_seed_same_result()
    {
        using var dir = new CliHarness.TempDir();
        var first = await CliHarness.Run("repro", "run", "stats-calibration", "--quick", "--json", "--out", dir.Path, "--seed", "11");
        var second = await CliHarness.Run("repro", "run", "stats-calibration", "--quick", "--json", "--out", dir.Path, "--seed", "11");
        using var a = JsonDocument.Parse(first.Out);
        using var b = JsonDocument.Parse(second.Out);
        Assert.Equal(a.RootElement.GetProperty("metrics").GetRawText(), b.RootElement.GetProperty("metrics").GetRawText());
        Assert.NotEqual(a.RootElement.GetProperty("report_dir").GetString(), b.RootElement.GetProperty("report_dir").GetString());
    }

    [Fact]
    public async Task Unknown_reproduction_exits_2_with_one_line()
    {
        var (code, stdout, stderr) = await CliHarness.Run("repro", "run", "no-such-experiment", "--quick");
        Assert.Equal(2, code);
        Assert.Equal("", stdout);
        // The list grows as modules register reproductions; it is sorted and ends with 'all'.
        var line = Assert.Single(stderr.Trim().Split('\n'));
        Assert.StartsWith("error: unknown reproduction 'no-such-experiment'; known: ", line, StringComparison.Ordinal);
        Assert.Contains("stats-calibration", line, StringComparison.Ordinal);
        Assert.Contains("survey-misalignment", line, StringComparison.Ordinal);
        Assert.Contains("equivamap", line, StringComparison.Ordinal);
        Assert.EndsWith(", or 'all'", line, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Unknown_llm_scheme_exits_2_with_one_line()
    {
        var (code, _, stderr) = await CliHarness.Run("llm", "ping", "--llm", "ftp://example/v1");
        Assert.Equal(2, code);
        Assert.Single(stderr.Split('\n', StringSplitOptions.RemoveEmptyEntries));
        Assert.Contains("ftp", stderr, StringComparison.Ordinal);
    }

    [Fact]
    public async Task A_missing_replay_log_exits_2_naming_the_file()
    {
        var (code, _, stderr) = await CliHarness.Run("llm", "ping", "--llm", "replay:/no/such/log.jsonl");
        Assert.Equal(2, code);
        Assert.Single(stderr.Split('\n', StringSplitOptions.RemoveEmptyEntries));
        Assert.Contains("/no/such/log.jsonl", stderr, StringComparison.Ordinal);
    }

    [Fact]
    public async Task A_replay_log_broken_at_line_3_exits_2_naming_line_3()
    {
        using var dir = new CliHarness.TempDir();
        var log = Path.Combine(dir.Path, "broken.jsonl");
        var good = File.ReadAllText(Path.Combine(CliHarness.RepoRoot, "examples", "ping.jsonl")).Trim();
        File.WriteAllText(log, $"{good}\n{good}\n{{\"key\": \"abc\", \"response\": \n{good}\n");
        var (code, stdout, stderr) = await CliHarness.Run("llm", "ping", "--llm", $"replay:{log}");
        Assert.Equal(2, code);
        Assert.Equal("", stdout);
        Assert.Single(stderr.Split('\n', StringSplitOptions.RemoveEmptyEntries));
        Assert.Contains($"{log}:3:", stderr, StringComparison.Ordinal);
    }

    [Fact]
    public async Task The_readme_replay_example_answers()
    {
        var log = Path.Combine(CliHarness.RepoRoot, "examples", "ping.jsonl");
        var (code, stdout, stderr) = await CliHarness.Run("llm", "ping", "--llm", $"replay:{log}", "--json");
        Assert.True(code == 0, stderr);
        using var doc = JsonDocument.Parse(stdout);
        Assert.Equal("pong", doc.RootElement.GetProperty("reply").GetString());
    }
}

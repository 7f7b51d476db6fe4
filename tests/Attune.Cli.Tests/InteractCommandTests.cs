using System.Text.Json;

namespace Attune.Cli.Tests;

/// <summary><c>attune interact …</c> through the real command line, in process.</summary>
public class InteractCommandTests
{
    private const string Small = """
        { "name": "small", "seed": 4, "users": 60, "items": 40, "dimension": 4, "horizon": 12, "slate": 5,
          "user_model": { "type": "drift", "rate": 0.1 },
          "recommender": { "type": "content_filtering" },
          "metrics": [ "homogenization", "engagement", "drift" ] }
        """;

    private static string Write(CliHarness.TempDir dir, string name, string json)
    {
        var path = Path.Combine(dir.Path, name);
        File.WriteAllText(path, json);
        return path;
    }

    [Fact]
    public async Task Run_writes_series_plots_and_one_json_document()
    {
        using var dir = new CliHarness.TempDir();
        var file = Write(dir, "small.json", Small);
        var (code, stdout, stderr) = await CliHarness.Run("interact", "run", file, "--json", "--out", Path.Combine(dir.Path, "runs"));
        Assert.True(code == 0, stderr);
        using var doc = JsonDocument.Parse(stdout);
        var root = doc.RootElement;
        Assert.Equal("small", root.GetProperty("scenario").GetString());
        Assert.Equal(12, root.GetProperty("factual").GetProperty("series").GetProperty("homogenization").GetArrayLength());
        Assert.Equal(JsonValueKind.Null, root.GetProperty("counterfactual").ValueKind);
        var report = root.GetProperty("report_dir").GetString()!;
        Assert.True(File.Exists(Path.Combine(report, "report.md")));
        Assert.True(File.Exists(Path.Combine(report, "metrics.json")));
        Assert.True(File.Exists(Path.Combine(report, "homogenization.png")));
    }

    [Fact]
    public async Task Compare_runs_a_counterfactual_with_common_random_numbers()
    {
        using var dir = new CliHarness.TempDir();
        var file = Write(dir, "small.json", Small);
        var (code, stdout, stderr) = await CliHarness.Run("interact", "run", file, "--json", "--no-report", "--compare", "oracle");
        Assert.True(code == 0, stderr);
        using var doc = JsonDocument.Parse(stdout);
        var counter = doc.RootElement.GetProperty("counterfactual");
        Assert.Equal("oracle", counter.GetProperty("recommender").GetString());
        Assert.True(counter.GetProperty("final").GetProperty("engagement").GetDouble() > doc.RootElement.GetProperty("factual").GetProperty("final").GetProperty("engagement").GetDouble() - 1);
    }

    [Fact]
    public async Task Runs_are_deterministic_for_a_seed()
    {
        using var dir = new CliHarness.TempDir();
        var file = Write(dir, "small.json", Small);
        async Task<string> Series(params string[] extra)
        {
            var (code, stdout, _) = await CliHarness.Run(["interact", "run", file, "--json", "--no-report", .. extra]);
            Assert.Equal(0, code);
            using var doc = JsonDocument.Parse(stdout);
            return doc.RootElement.GetProperty("factual").GetProperty("series").GetRawText();
        }

        Assert.Equal(await Series(), await Series());
        Assert.NotEqual(await Series(), await Series("--seed", "5"));
    }

    [Fact]
    public async Task Unknown_part_exits_2_naming_the_field()
    {
        using var dir = new CliHarness.TempDir();
        var file = Write(dir, "bad.json", """{ "recommender": { "type": "magic" } }""");
        var (code, stdout, stderr) = await CliHarness.Run("interact", "run", file);
        Assert.Equal(2, code);
        Assert.Equal("", stdout);
        var line = Assert.Single(stderr.Trim().Split('\n'));
        Assert.Contains("bad.json", line);
        Assert.Contains("field 'recommender.type'", line);
        Assert.Contains("unknown part 'magic'", line);
    }

    [Fact]
    public async Task Bad_parameter_exits_2_naming_the_field()
    {
        using var dir = new CliHarness.TempDir();
        var file = Write(dir, "bad.json", """{ "user_model": { "type": "biased_assimilation", "eta": -1 } }""");
        var (code, _, stderr) = await CliHarness.Run("interact", "run", file);
        Assert.Equal(2, code);
        Assert.Contains("field 'user_model.eta'", Assert.Single(stderr.Trim().Split('\n')));
    }

    [Fact]
    public async Task Bad_compare_and_missing_file_exit_2()
    {
        using var dir = new CliHarness.TempDir();
        var file = Write(dir, "small.json", Small);
        var (code, _, stderr) = await CliHarness.Run("interact", "run", file, "--compare", "telepathy");
        Assert.Equal(2, code);
        Assert.Contains("compare.type", stderr);
        (code, _, stderr) = await CliHarness.Run("interact", "run", Path.Combine(dir.Path, "nope.json"));
        Assert.Equal(2, code);
        Assert.Contains("no such scenario file", stderr);
    }

    [Fact]
    public async Task Parts_and_reproductions_are_listed()
    {
        var (code, stdout, _) = await CliHarness.Run("interact", "parts", "--json");
        Assert.Equal(0, code);
        Assert.Contains("stationarity_preserving", stdout);
        (code, stdout, _) = await CliHarness.Run("repro", "list");
        Assert.Equal(0, code);
        foreach (var name in new[] { "interaction-polarization", "interaction-homogenization", "interaction-exposure-game", "interaction-satiation" })
        {
            Assert.Contains(name, stdout);
        }
    }

    [Fact]
    public async Task Satiation_reproduction_runs_through_the_command_line()
    {
        using var dir = new CliHarness.TempDir();
        var (code, stdout, stderr) = await CliHarness.Run("repro", "run", "interaction-satiation", "--quick", "--json", "--out", dir.Path);
        Assert.True(code == 0, stderr);
        using var doc = JsonDocument.Parse(stdout);
        Assert.All(doc.RootElement.GetProperty("claims").EnumerateArray(), c => Assert.Equal("reproduced", c.GetProperty("verdict").GetString()));
    }
}

using System.Text.Json;

namespace Attune.Cli.Tests;

/// <summary><c>attune equiv …</c> through the real command line.</summary>
public class EquivCommandTests
{
    private static string RepoRoot
    {
        get
        {
            var dir = new DirectoryInfo(AppContext.BaseDirectory);
            while (dir is not null && !File.Exists(Path.Combine(dir.FullName, "Attune.slnx")))
            {
                dir = dir.Parent;
            }

            return dir?.FullName ?? throw new InvalidOperationException("Attune.slnx not found above the test folder");
        }
    }

    private static string LlmFixture(params string[] parts) => Path.Combine([RepoRoot, "tests", "Attune.Optimization.Tests", "Fixtures", "llm", .. parts]);

    private const string Wyndor = "Maximize\n Z: 3 x1 + 5 x2\nSubject To\n plant1: x1 <= 4\n plant2: 2 x2 <= 12\n plant3: 3 x1 + 2 x2 <= 18\nEnd\n";

    // x1 = 2·u (u = x1 / 2) and the objective doubled: equivalent, with a different optimal value.
    private const string WyndorRescaled = "Maximize\n Z: 12 u + 10 x2\nSubject To\n plant1: 2 u <= 4\n plant2: 2 x2 <= 12\n plant3: 6 u + 2 x2 <= 18\nEnd\n";

    [Fact]
    public async Task Check_json_has_exactly_the_fields_the_issue_names()
    {
        using var dir = new CliHarness.TempDir();
        var a = Path.Combine(dir.Path, "wyndor.lp");
        var b = Path.Combine(dir.Path, "rescaled.lp");
        await File.WriteAllTextAsync(a, Wyndor);
        await File.WriteAllTextAsync(b, WyndorRescaled);
        var (code, stdout, stderr) = await CliHarness.Run("equiv", "check", a, b, "--json");
        Assert.True(code == 0, stderr);
        using var doc = JsonDocument.Parse(stdout);
        var root = doc.RootElement;
        Assert.Equal(
            ["equivalent", "verdict", "reason", "finder", "mapping", "original_objective", "mapped_objective"],
            root.EnumerateObject().Select(p => p.Name));
        Assert.True(root.GetProperty("equivalent").GetBoolean());
        Assert.Equal("equivalent", root.GetProperty("verdict").GetString());
        Assert.Equal("structural", root.GetProperty("finder").GetString());
        Assert.Equal(2, root.GetProperty("mapping").GetProperty("x1").GetProperty("u").GetDouble());
        Assert.Equal(36, root.GetProperty("original_objective").GetDouble(), 6);
        Assert.Equal(36, root.GetProperty("mapped_objective").GetDouble(), 6);
    }

    [Fact]
    public async Task Check_with_a_given_map_reports_which_check_failed()
    {
        using var dir = new CliHarness.TempDir();
        var a = Path.Combine(dir.Path, "wyndor.lp");
        var b = Path.Combine(dir.Path, "rescaled.lp");
        var map = Path.Combine(dir.Path, "map.json");
        await File.WriteAllTextAsync(a, Wyndor);
        await File.WriteAllTextAsync(b, WyndorRescaled);
        await File.WriteAllTextAsync(map, "{\"x1\": {\"u\": 1}, \"x2\": {\"x2\": 1}}");
        var (code, stdout, _) = await CliHarness.Run("equiv", "check", a, b, "--map", map, "--json");
        Assert.Equal(0, code);
        using var doc = JsonDocument.Parse(stdout);
        Assert.False(doc.RootElement.GetProperty("equivalent").GetBoolean());
        Assert.Equal("mapped-suboptimal", doc.RootElement.GetProperty("verdict").GetString());
        Assert.Equal("given", doc.RootElement.GetProperty("finder").GetString());
    }

    [Theory]
    [InlineData("bad.lp", "Minimize\n obj: x + y\nSubject To\n c1: x + y <= 4 +\nEnd\n", ":4:")]
    [InlineData("bad.lp", "Minimize\n obj: 3 x\nSubject To\n c1: x >= 2 ^ 3\nEnd\n", ":4:13:")]
    [InlineData("bad.mps", "NAME t\nROWS\n N obj\n L c1\nCOLUMNS\n x c1 1 c9 2\nENDATA\n", ":6:9:")]
    [InlineData("bad.mps", "NAME t\nROWS\n N obj\n Q c1\nENDATA\n", ":4:2:")]
    public async Task Malformed_files_exit_2_naming_file_line_and_column(string name, string text, string where)
    {
        using var dir = new CliHarness.TempDir();
        var good = Path.Combine(dir.Path, "good.lp");
        var bad = Path.Combine(dir.Path, name);
        await File.WriteAllTextAsync(good, Wyndor);
        await File.WriteAllTextAsync(bad, text);
        var (code, stdout, stderr) = await CliHarness.Run("equiv", "check", good, bad, "--json");
        Assert.Equal(2, code);
        Assert.Equal("", stdout);
        var line = Assert.Single(stderr.Split('\n', StringSplitOptions.RemoveEmptyEntries));
        Assert.StartsWith("error: " + bad + where, line, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Unknown_mapper_and_missing_file_exit_2()
    {
        using var dir = new CliHarness.TempDir();
        var a = Path.Combine(dir.Path, "a.lp");
        await File.WriteAllTextAsync(a, Wyndor);
        Assert.Equal(2, (await CliHarness.Run("equiv", "check", a, a, "--mapper", "magic")).Code);
        var (code, _, stderr) = await CliHarness.Run("equiv", "check", a, Path.Combine(dir.Path, "missing.lp"));
        Assert.Equal(2, code);
        Assert.Contains("missing.lp", stderr, StringComparison.Ordinal);
        Assert.Equal(2, (await CliHarness.Run("equiv", "check", a, a, "--mapper", "llm")).Code); // no --llm
    }

    [Fact]
    public async Task Base_generate_and_bench_run_end_to_end()
    {
        using var dir = new CliHarness.TempDir();
        var baseDir = Path.Combine(dir.Path, "base");
        var pairs = Path.Combine(dir.Path, "pairs");
        var (c1, o1, e1) = await CliHarness.Run("equiv", "base", "--count", "4", "--out", baseDir, "--json", "--seed", "3");
        Assert.True(c1 == 0, e1);
        Assert.Equal(4, JsonDocument.Parse(o1).RootElement.GetProperty("count").GetInt32());
        var (c2, o2, e2) = await CliHarness.Run("equiv", "generate", "--base", baseDir, "--out", pairs, "--json", "--seed", "3");
        Assert.True(c2 == 0, e2);
        var written = JsonDocument.Parse(o2).RootElement.GetProperty("pairs").GetInt32();
        Assert.InRange(written, 30, 44);
        Assert.True(File.Exists(Path.Combine(pairs, "production-lp-0000", "rename", "map.json")));
        Assert.False(File.Exists(Path.Combine(pairs, "production-lp-0000", "feasibility", "map.json")));

        var (c3, o3, e3) = await CliHarness.Run("equiv", "bench", "--dataset", pairs, "--json", "--methods", "equivamap-structural", "value", "wl", "declaration");
        Assert.True(c3 == 0, e3);
        using var doc = JsonDocument.Parse(o3);
        Assert.Equal(written, doc.RootElement.GetProperty("pairs").GetInt32());
        var methods = doc.RootElement.GetProperty("methods").EnumerateArray().ToList();
        Assert.Equal(["equivamap-structural", "value", "wl", "declaration"], methods.Select(m => m.GetProperty("method").GetString()));
        var structural = methods[0];
        Assert.Equal(written, structural.GetProperty("correct").GetInt32());
        var lp = structural.GetProperty("accuracy").GetProperty("LP");
        Assert.Equal(2, lp.GetProperty("rename").GetProperty("total").GetInt32());
        Assert.True(structural.GetProperty("accuracy").TryGetProperty("MILP", out _));
        Assert.True(structural.GetProperty("time_per_pair").GetProperty("median_ms").GetDouble() > 0);
        var value = methods[1];
        Assert.Equal(0, value.GetProperty("accuracy").GetProperty("LP").GetProperty("rescale").GetProperty("correct").GetInt32());
    }

    [Theory]
    [InlineData("rename")]
    [InlineData("split-diff")]
    public async Task The_llm_finder_replays_a_recorded_log_through_the_command_line(string pair)
    {
        var (code, stdout, stderr) = await CliHarness.Run("equiv", "check", LlmFixture(pair, "original.lp"), LlmFixture(pair, "transformed.lp"),
            "--mapper", "llm", "--llm", "replay:" + LlmFixture("exchanges.jsonl"), "--json");
        Assert.True(code == 0, stderr);
        using var doc = JsonDocument.Parse(stdout);
        Assert.True(doc.RootElement.GetProperty("equivalent").GetBoolean(), doc.RootElement.GetProperty("reason").GetString());
        Assert.Equal("llm", doc.RootElement.GetProperty("finder").GetString());
    }

    [Fact]
    public async Task The_equivamap_reproduction_is_registered()
    {
        var (code, stdout, _) = await CliHarness.Run("repro", "list", "--json");
        Assert.Equal(0, code);
        Assert.Contains("\"equivamap\"", stdout, StringComparison.Ordinal);
    }
}

using System.Text.Json;
using Attune.Core.Reproductions;

namespace Attune.Cli.Tests;

/// <summary><c>attune runs list|open</c> over a runs folder that <c>repro run</c> wrote.</summary>
public class RunsCommandTests
{
    private static async Task<(int Code, string Out, string Err)> Run(params string[] args)
    {
        using var stdout = new StringWriter();
        using var stderr = new StringWriter();
        var app = new CliApp(stdout, stderr, _ => null);
        app.AddedReproductions.Add(new ScriptedReproduction("zz-one", [new Claim("holds", true, "1")]));
        app.AddedReproductions.Add(new ScriptedReproduction("zz-two", [new Claim("fails", false, "0"), Claim.NotMeasured("needs a model", "stand-in")]));
        var code = await app.RunAsync(args);
        return (code, stdout.ToString(), stderr.ToString());
    }

    [Fact]
    public async Task List_and_open_find_the_runs_repro_run_wrote_newest_first()
    {
        using var dir = new CliHarness.TempDir();
        var root = Path.Combine(dir.Path, "runs");
        Assert.Equal(0, (await Run("repro", "run", "zz-one", "--quick", "--out", root)).Code);
        Assert.Equal(0, (await Run("repro", "run", "zz-two", "--out", root)).Code);
        Assert.True(File.Exists(Path.Combine(root, "index.html")));

        var (code, stdout, stderr) = await Run("runs", "list", "--root", root, "--json");
        Assert.Equal(0, code);
        Assert.Equal("", stderr);
        using var doc = JsonDocument.Parse(stdout);
        var runs = doc.RootElement.EnumerateArray().ToList();
        Assert.Equal(2, runs.Count);
        var names = runs.Select(r => r.GetProperty("name").GetString()).ToList();
        Assert.Equal(["zz-one", "zz-two"], names.Order());
        var two = runs.Single(r => r.GetProperty("name").GetString() == "zz-two");
        Assert.Equal("full", two.GetProperty("scale").GetString());
        Assert.Equal(1, two.GetProperty("verdicts").GetProperty("not_reproduced").GetInt32());
        Assert.Equal(1, two.GetProperty("verdicts").GetProperty("not_measured").GetInt32());
        Assert.True(File.Exists(two.GetProperty("report").GetString()));
        // Newest first: the times never increase down the list.
        var times = runs.Select(r => r.GetProperty("time").GetDateTime()).ToList();
        Assert.True(times[0] >= times[1]);

        (code, stdout, _) = await Run("runs", "open", "zz-one", "--root", root);
        Assert.Equal(0, code);
        Assert.EndsWith("report.html", stdout.Trim(), StringComparison.Ordinal);
        Assert.Contains("zz-one", stdout, StringComparison.Ordinal);
        Assert.Contains("<title>zz-one: reproduction report</title>", File.ReadAllText(stdout.Trim()), StringComparison.Ordinal);
        Assert.Contains("attune repro run zz-one --quick --out ", File.ReadAllText(stdout.Trim()), StringComparison.Ordinal);   // the command heads the page

        (code, stdout, _) = await Run("runs", "list", "--root", root);
        Assert.Equal(0, code);
        Assert.Contains("zz-two", stdout, StringComparison.Ordinal);
        Assert.Contains("0/1/1", stdout, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData("open", "nope", "no run named 'nope' in")]
    [InlineData("list", null, "--root: no such folder")]
    public async Task A_missing_run_or_folder_exits_2_with_one_line(string verb, string? name, string message)
    {
        using var dir = new CliHarness.TempDir();
        var root = Path.Combine(dir.Path, verb == "list" ? "absent" : "runs");
        if (verb == "open")
        {
            Assert.Equal(0, (await Run("repro", "run", "zz-one", "--quick", "--out", root)).Code);
        }

        string[] args = name is null ? ["runs", verb, "--root", root] : ["runs", verb, name, "--root", root];
        var (code, stdout, stderr) = await Run(args);
        Assert.Equal(2, code);
        Assert.Equal("", stdout);
        Assert.Contains(message, stderr, StringComparison.Ordinal);
        Assert.Single(stderr.Trim().Split('\n'));
        if (verb == "open")
        {
            Assert.Contains("zz-one", stderr, StringComparison.Ordinal);   // the names there are listed
        }
    }
}

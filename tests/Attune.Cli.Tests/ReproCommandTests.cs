using System.Text.Json;
using Attune.Core.Reproductions;

namespace Attune.Cli.Tests;

/// <summary><c>attune repro run</c> over several reproductions: verdict counts everywhere, failures listed.</summary>
public class ReproCommandTests
{
    private static async Task<(int Code, string Out, string Err)> Run(params string[] args)
    {
        using var stdout = new StringWriter();
        using var stderr = new StringWriter();
        var app = new CliApp(stdout, stderr, _ => null);
        app.AddedReproductions.Add(new ScriptedReproduction("zz-measured", [new Claim("holds", true, "1"), new Claim("fails", false, "0")]));
        app.AddedReproductions.Add(new ScriptedReproduction("zz-standin", [Claim.NotMeasured("needs a model", "scripted stand-in")]));
        app.AddedReproductions.Add(new ScriptedReproduction("zz-broken", null));
        var code = await app.RunAsync(args);
        return (code, stdout.ToString(), stderr.ToString());
    }

    [Fact]
    public async Task Json_lists_every_reproduction_with_its_status_and_the_three_counts()
    {
        using var dir = new CliHarness.TempDir();
        var (code, stdout, stderr) = await Run("repro", "run", "zz-measured,zz-broken,zz-standin", "--json", "--out", dir.Path);
        Assert.Equal(1, code); // one failed
        using var doc = JsonDocument.Parse(stdout);
        var root = doc.RootElement;
        Assert.Equal(1, root.GetProperty("verdicts").GetProperty("reproduced").GetInt32());
        Assert.Equal(1, root.GetProperty("verdicts").GetProperty("not_reproduced").GetInt32());
        Assert.Equal(1, root.GetProperty("verdicts").GetProperty("not_measured").GetInt32());
        Assert.Equal(2, root.GetProperty("completed").GetInt32());
        Assert.Equal(1, root.GetProperty("failed").GetInt32());
        var list = root.GetProperty("reproductions").EnumerateArray().ToList();
        Assert.Equal(["zz-measured", "zz-broken", "zz-standin"], list.Select(r => r.GetProperty("name").GetString()));
        Assert.Equal(["completed", "failed", "completed"], list.Select(r => r.GetProperty("status").GetString()));
        Assert.Equal("the experiment broke", list[1].GetProperty("error").GetString());
        Assert.False(list[1].TryGetProperty("run", out _));
        Assert.Equal("not measured", list[2].GetProperty("run").GetProperty("claims")[0].GetProperty("verdict").GetString());
        Assert.Contains("zz-broken: FAILED: the experiment broke", stderr, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Console_shows_each_verdict_and_the_totals()
    {
        using var dir = new CliHarness.TempDir();
        var (code, stdout, _) = await Run("repro", "run", "zz-measured,zz-standin", "--out", dir.Path);
        Assert.Equal(0, code);
        Assert.Contains("  [reproduced] holds", stdout, StringComparison.Ordinal);
        Assert.Contains("  [not reproduced] fails", stdout, StringComparison.Ordinal);
        Assert.Contains("  [not measured] needs a model", stdout, StringComparison.Ordinal);
        Assert.Contains("  1 reproduced, 1 not reproduced, 0 not measured; report: ", stdout, StringComparison.Ordinal);
        Assert.EndsWith("claims: 1 reproduced, 1 not reproduced, 1 not measured; reproductions: 2 completed, 0 failed", stdout.TrimEnd(), StringComparison.Ordinal);
    }

    [Theory]
    [InlineData("zz-measured,nope")]
    [InlineData(",")]
    public async Task A_bad_list_exits_2_before_running_anything(string names)
    {
        using var dir = new CliHarness.TempDir();
        var (code, stdout, stderr) = await Run("repro", "run", names, "--out", dir.Path);
        Assert.Equal(2, code);
        Assert.Equal("", stdout);
        Assert.Single(stderr.Trim().Split('\n'));
        Assert.Empty(Directory.GetDirectories(dir.Path));
    }

    [Theory]
    [InlineData("bf16-pure", "--precision: reproductions train full weights, so bf16-pure (bfloat16 weights) is refused; use fp32 or bf16")]
    [InlineData("fp16", "--precision: 'fp16' is not one of fp32, bf16, bf16-pure")]
    public async Task A_precision_reproductions_cannot_train_in_exits_2_before_running_anything(string precision, string message)
    {
        using var dir = new CliHarness.TempDir();
        var (code, stdout, stderr) = await Run("repro", "run", "zz-measured", "--precision", precision, "--out", dir.Path);
        Assert.Equal(2, code);
        Assert.Equal("", stdout);
        Assert.Contains(message, stderr.Trim(), StringComparison.Ordinal);
        Assert.Single(stderr.Trim().Split('\n'));
        Assert.Empty(Directory.GetDirectories(dir.Path));
    }

    [Theory]
    [InlineData(null, null)]
    [InlineData("BF16", "bf16")]
    [InlineData("fp32", "fp32")]
    public async Task The_precision_asked_for_reaches_each_reproduction(string? asked, string? seen)
    {
        using var dir = new CliHarness.TempDir();
        using var stdout = new StringWriter();
        using var stderr = new StringWriter();
        var app = new CliApp(stdout, stderr, _ => null);
        var probe = new ScriptedReproduction("zz-precision", [new Claim("holds", true, "1")]);
        app.AddedReproductions.Add(probe);
        string[] args = asked is null ? ["repro", "run", "zz-precision", "--out", dir.Path] : ["repro", "run", "zz-precision", "--precision", asked, "--out", dir.Path];
        Assert.Equal(0, await app.RunAsync(args));
        Assert.Single(probe.Contexts);
        Assert.Equal(seen, probe.Contexts[0].Precision);
    }
}

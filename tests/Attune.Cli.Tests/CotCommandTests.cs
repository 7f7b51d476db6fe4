using System.Text.Json;

namespace Attune.Cli.Tests;

/// <summary><c>attune cot generate|oracle</c> through the command line.</summary>
public class CotCommandTests
{
    [Fact]
    public async Task Generated_data_agrees_with_the_oracle_and_the_same_seed_gives_the_same_file()
    {
        using var dir = new CliHarness.TempDir();
        var a = Path.Combine(dir.Path, "a.json");
        var b = Path.Combine(dir.Path, "b.json");
        var (code, _, stderr) = await CliHarness.Run("cot", "generate", "--task", "concat,next-ascii", "--format", "composable", "--count", "50", "--out", a, "--seed", "3");
        Assert.True(code == 0, stderr);
        (code, _, _) = await CliHarness.Run("cot", "generate", "--task", "concat,next-ascii", "--format", "composable", "--count", "50", "--out", b, "--seed", "3");
        Assert.Equal(0, code);
        Assert.Equal(File.ReadAllText(a), File.ReadAllText(b));

        (code, var stdout, stderr) = await CliHarness.Run("cot", "oracle", "--data", a, "--json");
        Assert.True(code == 0, stderr);
        using var report = JsonDocument.Parse(stdout);
        Assert.Equal(100, report.RootElement.GetProperty("examples").GetInt32());
        Assert.Equal(100, report.RootElement.GetProperty("agree").GetInt32());
        Assert.Equal(0, report.RootElement.GetProperty("disagreements").GetArrayLength());
    }

    [Theory]
    [InlineData("--task", "sort", "unknown task 'sort'")]
    [InlineData("--format", "tree", "--format")]
    [InlineData("--count", "0", "--count")]
    public async Task Bad_options_exit_2_with_one_line(string option, string value, string named)
    {
        using var dir = new CliHarness.TempDir();
        string[] args = ["cot", "generate", "--task", "concat", "--out", Path.Combine(dir.Path, "x.jsonl")];
        var i = Array.IndexOf(args, option);
        args = i >= 0 ? [.. args[..(i + 1)], value, .. args[(i + 2)..]] : [.. args, option, value];
        var (code, stdout, stderr) = await CliHarness.Run(args);
        Assert.Equal(2, code);
        Assert.Equal("", stdout);
        Assert.Single(stderr.Trim().Split('\n'));
        Assert.Contains(named, stderr, StringComparison.Ordinal);
    }

    [Fact]
    public async Task The_oracle_names_an_example_of_no_template()
    {
        using var dir = new CliHarness.TempDir();
        var path = Path.Combine(dir.Path, "bad.jsonl");
        File.WriteAllText(path, """
            {"instruction": "Find the next letter in alphabet following the last letter in the sequence: abq answer: ", "output": "So the answer is r."}
            {"instruction": "Sort the words: b a answer: ", "output": "a b"}
            """);
        var (code, _, stderr) = await CliHarness.Run("cot", "oracle", "--data", path);
        Assert.Equal(2, code);
        Assert.Contains("example 2", stderr, StringComparison.Ordinal);
    }
}

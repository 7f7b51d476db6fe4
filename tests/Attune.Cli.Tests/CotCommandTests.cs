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
        AssertBadInput(await CliHarness.Run(args), named);
    }

    /// <summary>Exit 2, nothing on stdout, one line on stderr naming <paramref name="named"/>.</summary>
    private static void AssertBadInput((int Code, string Out, string Err) run, string named)
    {
        Assert.True(run.Code == 2, $"exit {run.Code}: {run.Err}");
        Assert.Equal("", run.Out);
        Assert.Single(run.Err.Trim().Split('\n'));
        Assert.Contains(named, run.Err, StringComparison.Ordinal);
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

    /// <summary>A tiny model folder and a small data file in <paramref name="dir"/>.</summary>
    private static async Task<(string Base, string Data)> TinySetup(string dir, string tasks = "next", int count = 8)
    {
        var baseDir = Path.Combine(dir, "base");
        var data = Path.Combine(dir, "data.json");
        var (code, _, stderr) = await CliHarness.Run("model", "init", "--size", "tiny", "--out", baseDir);
        Assert.True(code == 0, stderr);
        (code, _, stderr) = await CliHarness.Run("cot", "generate", "--task", tasks, "--format", "composable", "--count", count.ToString(System.Globalization.CultureInfo.InvariantCulture), "--out", data);
        Assert.True(code == 0, stderr);
        return (baseDir, data);
    }

    [Theory]
    [InlineData("train --recipe sft", "--recipe")]
    [InlineData("train --recipe mtl --lr 0", "--lr")]
    [InlineData("train --recipe mtl --epochs 0", "--epochs")]
    [InlineData("train --recipe mtl --batch-size 5000", "--batch-size")]
    [InlineData("train --recipe mtl --lora-r 5000", "--lora-r")]
    [InlineData("train --recipe mtl --precision fp8", "--precision")]
    [InlineData("train --recipe mtl --data {dir}/missing.json", "--data")]
    [InlineData("train --recipe mtl --model {dir}/nothing", "--model")]
    [InlineData("train --recipe mtl --out {dir}/no/such/run", "--out")]
    [InlineData("eval --batch 0", "--batch")]
    [InlineData("eval --format tree", "--format")]
    [InlineData("eval --max-new-tokens 0", "--max-new-tokens")]
    [InlineData("eval --temperature 9", "--temperature")]
    [InlineData("eval --out {dir}/no/such/answers.jsonl", "--out")]
    [InlineData("eval --data {dir}/bad.jsonl", "bad.jsonl:2")]
    [InlineData("merge --method avg", "--method")]
    [InlineData("merge --weights 1,x", "--weights")]
    [InlineData("merge --weights 1", "--weights")]
    [InlineData("merge --density 0", "--density")]
    [InlineData("rft --samples 0", "--samples")]
    [InlineData("rft --temperature 0", "--temperature")]
    [InlineData("rft --rounds 21", "--rounds")]
    [InlineData("rft --lora-r 4", "Unrecognized")]
    public async Task Model_verbs_refuse_bad_input_with_exit_2_and_one_line(string change, string named)
    {
        using var dir = new CliHarness.TempDir();
        var (baseDir, data) = await TinySetup(dir.Path);
        File.WriteAllText(Path.Combine(dir.Path, "bad.jsonl"), "{\"instruction\": \"x\", \"output\": \"y\"}\n{\"instruction\": 3}\n");
        var words = change.Replace("{dir}", dir.Path, StringComparison.Ordinal).Split(' ');
        var verb = words[0];
        string[] defaults = verb switch
        {
            "train" => ["--model", baseDir, "--data", data, "--out", Path.Combine(dir.Path, "run"), "--max-steps", "1"],
            "eval" => ["--model", baseDir, "--data", data],
            "merge" => ["--base", baseDir, "--models", baseDir, baseDir, "--out", Path.Combine(dir.Path, "merged")],
            _ => ["--model", baseDir, "--data", data, "--out", Path.Combine(dir.Path, "rft")],
        };
        // The change's options replace the defaults' values of the same name.
        var args = new List<string> { "cot", verb };
        var changed = words.Skip(1).Where(w => w.StartsWith("--", StringComparison.Ordinal)).ToHashSet();
        for (var i = 0; i < defaults.Length; i++)
        {
            if (changed.Contains(defaults[i]))
            {
                i++;
                while (i + 1 < defaults.Length && !defaults[i + 1].StartsWith("--", StringComparison.Ordinal))
                {
                    i++;
                }

                continue;
            }

            args.Add(defaults[i]);
        }

        args.AddRange(words.Skip(1));
        AssertBadInput(await CliHarness.Run([.. args]), named);
    }

    [Fact]
    public async Task Train_then_eval_merge_and_rft_run_end_to_end_on_a_tiny_model()
    {
        using var dir = new CliHarness.TempDir();
        var (baseDir, data) = await TinySetup(dir.Path, "concat,next", 4);
        var run = Path.Combine(dir.Path, "atomic");
        var (code, stdout, stderr) = await CliHarness.Run("cot", "train", "--recipe", "atomic", "--model", baseDir, "--data", data, "--out", run,
            "--max-steps", "2", "--batch-size", "2", "--lr", "1e-3", "--json");
        Assert.True(code == 0, stderr);
        using (var train = JsonDocument.Parse(stdout))
        {
            Assert.Equal(["concat", "next"], train.RootElement.GetProperty("runs").EnumerateArray().Select(r => r.GetProperty("name").GetString()));
            Assert.All(train.RootElement.GetProperty("runs").EnumerateArray(), r => Assert.Equal(4, r.GetProperty("examples").GetInt32()));
        }

        var concatModel = Path.Combine(run, "concat", "model");
        var nextModel = Path.Combine(run, "next", "model");
        Assert.True(File.Exists(Path.Combine(concatModel, "model.safetensors")));
        Assert.True(File.Exists(Path.Combine(nextModel, "tokenizer.json")));

        var answers = Path.Combine(dir.Path, "answers.jsonl");
        (code, stdout, stderr) = await CliHarness.Run("cot", "eval", "--model", nextModel, "--data", data, "--format", "composable", "--max-new-tokens", "6", "--batch", "3", "--out", answers, "--json");
        Assert.True(code == 0, stderr);
        using (var eval = JsonDocument.Parse(stdout))
        {
            var overall = eval.RootElement.GetProperty("overall");
            Assert.Equal(8, overall.GetProperty("total").GetInt32());
            var accuracy = overall.GetProperty("accuracy").GetDouble();
            Assert.InRange(accuracy, overall.GetProperty("low").GetDouble(), overall.GetProperty("high").GetDouble());
            Assert.Equal(["concat", "next"], eval.RootElement.GetProperty("per_task").EnumerateArray().Select(r => r.GetProperty("task").GetString()));
            Assert.Equal(4, eval.RootElement.GetProperty("per_task")[0].GetProperty("total").GetInt32());
        }

        var lines = File.ReadAllLines(answers);
        Assert.Equal(8, lines.Length);
        using (var first = JsonDocument.Parse(lines[0]))
        {
            Assert.StartsWith("<prefix>", first.RootElement.GetProperty("output").GetString(), StringComparison.Ordinal);
            Assert.Contains(" <suffix>", first.RootElement.GetProperty("output").GetString(), StringComparison.Ordinal);
        }

        var merged = Path.Combine(dir.Path, "merged");
        (code, _, stderr) = await CliHarness.Run("cot", "merge", "--base", baseDir, "--models", concatModel, nextModel, "--method", "ties", "--weights", "0.5,1", "--out", merged);
        Assert.True(code == 0, stderr);
        Assert.True(File.Exists(Path.Combine(merged, "model.safetensors")));

        var rft = Path.Combine(dir.Path, "rft");
        (code, stdout, stderr) = await CliHarness.Run("cot", "rft", "--model", merged, "--data", data, "--samples", "2", "--rounds", "1", "--max-new-tokens", "4", "--max-steps", "1", "--out", rft, "--json");
        Assert.True(code == 0, stderr);
        using (var result = JsonDocument.Parse(stdout))
        {
            var round = result.RootElement.GetProperty("rounds")[0];
            Assert.Equal(16, round.GetProperty("samples").GetInt32());
        }

        Assert.Equal(16, File.ReadAllLines(Path.Combine(rft, "round-1", "samples.jsonl")).Length);
    }
}

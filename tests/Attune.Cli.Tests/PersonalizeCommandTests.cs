using System.Text.Json;

namespace Attune.Cli.Tests;

/// <summary><c>attune personalize train|eval|generate|users</c> on the fixture model, and their exit-2 errors.</summary>
public class PersonalizeCommandTests
{
    private static readonly string FixtureRoot = Path.Combine(CliHarness.RepoRoot, "tests", "Attune.Torch.Tests", "Fixtures", "hf-tiny");

    private static string Pairs(string dir, int count = 12)
    {
        var path = Path.Combine(dir, "pairs.jsonl");
        File.WriteAllLines(path, Enumerable.Range(0, count).Select(i => i % 2 == 0
            ? $$"""{"user": "short", "prompt": "Q{{i}}: say it.", "chosen": " ok", "rejected": " ok ok ok ok"}"""
            : $$"""{"user": "long", "prompt": "Q{{i}}: say it.", "chosen": " ok ok ok ok", "rejected": " ok"}"""));
        return path;
    }

    private static Task<(int Code, string Out, string Err)> Train(string dir, params string[] extra) =>
        CliHarness.Run(["personalize", "train", "--model", Path.Combine(FixtureRoot, "llama", "policy"), "--tokenizer", Path.Combine(FixtureRoot, "tokenizer.json"),
            "--data", Pairs(dir), "--out", Path.Combine(dir, "run"), "--batch-size", "4", "--epochs", "2", "--lr", "1e-3", "--user-tokens", "2", "--eval-share", "0.34", .. extra]);

    [Fact]
    public async Task Train_then_users_eval_and_generate_from_the_checkpoint()
    {
        using var dir = new CliHarness.TempDir();
        var (code, stdout, stderr) = await Train(dir.Path, "--user-model", "cluster", "--json");
        Assert.True(code == 0, stderr);
        using (var result = JsonDocument.Parse(stdout))
        {
            var r = result.RootElement;
            Assert.Equal(2, r.GetProperty("users").GetInt32());
            Assert.Equal(4, r.GetProperty("steps").GetInt32()); // 8 training pairs, batch 4, 2 epochs
            Assert.Equal(["long", "short"], r.GetProperty("per_user").EnumerateArray().Select(u => u.GetProperty("user").GetString()));
        }

        var model = Path.Combine(dir.Path, "run", "model");
        Assert.True(File.Exists(Path.Combine(model, "user_model.safetensors")));
        Assert.True(File.Exists(Path.Combine(model, "tokenizer.json")));

        (code, stdout, stderr) = await CliHarness.Run("personalize", "users", "--model", model, "--json");
        Assert.True(code == 0, stderr);
        using (var users = JsonDocument.Parse(stdout))
        {
            Assert.Equal("cluster", users.RootElement.GetProperty("kind").GetString());
            var weights = users.RootElement.GetProperty("users").EnumerateArray().Select(u => u.GetProperty("weights").EnumerateArray().Sum(w => w.GetDouble()));
            Assert.All(weights, s => Assert.Equal(1.0, s, 5));
        }

        (code, stdout, stderr) = await CliHarness.Run("personalize", "eval", "--model", model, "--ref", Path.Combine(FixtureRoot, "llama", "policy"),
            "--data", Path.Combine(dir.Path, "pairs.jsonl"), "--json");
        Assert.True(code == 0, stderr);
        using (var eval = JsonDocument.Parse(stdout))
        {
            Assert.Equal(12, eval.RootElement.GetProperty("pairs").GetInt32());
        }

        // With a vanilla model on the same pairs, generated lengths and a report folder.
        var report = Path.Combine(dir.Path, "eval-report");
        (code, stdout, stderr) = await CliHarness.Run("personalize", "eval", "--model", model, "--ref", Path.Combine(FixtureRoot, "llama", "policy"),
            "--vanilla", Path.Combine(FixtureRoot, "llama", "reference"), "--data", Path.Combine(dir.Path, "pairs.jsonl"), "--generate", "2", "--max-tokens", "3", "--out", report, "--json");
        Assert.True(code == 0, stderr);
        using (var full = JsonDocument.Parse(stdout))
        {
            var lengths = full.RootElement.GetProperty("mean_generated_tokens");
            Assert.InRange(lengths.GetProperty("short").GetDouble(), 0, 3);
            Assert.InRange(lengths.GetProperty("long").GetDouble(), 0, 3);
            Assert.InRange(full.RootElement.GetProperty("vanilla_accuracy").GetProperty("long").GetDouble(), 0, 1);
        }

        Assert.Contains("| vanilla accuracy | mean generated tokens |", File.ReadAllText(Path.Combine(report, "report.md")), StringComparison.Ordinal);
        Assert.True(File.Exists(Path.Combine(report, "lengths.png")));
        (code, _, stderr) = await CliHarness.Run("personalize", "eval", "--model", model, "--ref", Path.Combine(FixtureRoot, "llama", "policy"),
            "--data", Path.Combine(dir.Path, "pairs.jsonl"), "--generate", "-1");
        Assert.Equal(2, code);
        Assert.Contains("--generate", stderr, StringComparison.Ordinal);

        (code, stdout, stderr) = await CliHarness.Run("personalize", "generate", "--model", model, "--prompt", "Q1: say it.", "--user", "short", "--greedy", "--max-tokens", "4", "--json");
        Assert.True(code == 0, stderr);
        using (var gen = JsonDocument.Parse(stdout))
        {
            Assert.True(gen.RootElement.GetProperty("known").GetBoolean());
            Assert.InRange(gen.RootElement.GetProperty("tokens").GetInt32(), 1, 4);
        }

        (code, _, stderr) = await CliHarness.Run("personalize", "generate", "--model", model, "--prompt", "Q1", "--user", "nobody", "--strict");
        Assert.Equal(2, code);
        Assert.Contains("'nobody' is not in this model's user table", stderr, StringComparison.Ordinal);
    }

    [Fact]
    public async Task A_personalised_reward_model_trains_and_evaluates_without_a_reference()
    {
        using var dir = new CliHarness.TempDir();
        var (code, stdout, stderr) = await Train(dir.Path, "--objective", "prm", "--json");
        Assert.True(code == 0, stderr);
        var model = Path.Combine(dir.Path, "run", "model");
        Assert.True(File.Exists(Path.Combine(model, "reward_head.safetensors")));
        (code, stdout, stderr) = await CliHarness.Run("personalize", "eval", "--model", model, "--data", Path.Combine(dir.Path, "pairs.jsonl"), "--json");
        Assert.True(code == 0, stderr);
        using var eval = JsonDocument.Parse(stdout);
        Assert.Equal(["long", "short"], eval.RootElement.GetProperty("per_user").EnumerateArray().Select(u => u.GetProperty("user").GetString()));

        // A P-DPO policy needs its reference.
        using var other = new CliHarness.TempDir();
        (code, _, stderr) = await Train(other.Path);
        Assert.True(code == 0, stderr);
        (code, _, stderr) = await CliHarness.Run("personalize", "eval", "--model", Path.Combine(other.Path, "run", "model"), "--data", Path.Combine(other.Path, "pairs.jsonl"));
        Assert.Equal(2, code);
        Assert.Contains("--ref", stderr, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData("--objective", "ppo", "--objective")]
    [InlineData("--alpha", "1.5", "--alpha")]
    [InlineData("--user-tokens", "0", "--user-tokens")]
    [InlineData("--clusters", "0", "--clusters")]
    [InlineData("--user-model", "tribal", "--user-model")]
    [InlineData("--format", "xml", "--format")]
    [InlineData("--threads", "0", "--threads")]
    public async Task Bad_options_exit_2_with_one_line_naming_the_option(string option, string value, string named)
    {
        using var dir = new CliHarness.TempDir();
        var extra = option == "--clusters" ? new[] { "--user-model", "cluster", option, value } : [option, value];
        var (code, stdout, stderr) = await Train(dir.Path, extra);
        Assert.Equal(2, code);
        Assert.Equal("", stdout);
        Assert.Single(stderr.Trim().Split('\n'));
        Assert.Contains(named, stderr, StringComparison.Ordinal);
        Assert.False(Directory.Exists(Path.Combine(dir.Path, "run")));
    }

    [Fact]
    public async Task A_data_file_without_users_is_refused_naming_the_line()
    {
        using var dir = new CliHarness.TempDir();
        var data = Path.Combine(dir.Path, "nousers.jsonl");
        File.WriteAllText(data, """{"prompt": "p", "chosen": "a", "rejected": "b"}""" + "\n");
        var (code, _, stderr) = await CliHarness.Run("personalize", "train", "--model", Path.Combine(FixtureRoot, "llama", "policy"), "--tokenizer", Path.Combine(FixtureRoot, "tokenizer.json"),
            "--data", data, "--out", Path.Combine(dir.Path, "run"));
        Assert.Equal(2, code);
        Assert.Contains("nousers.jsonl:1", stderr, StringComparison.Ordinal);
        Assert.Contains("user", stderr, StringComparison.Ordinal);
    }
}

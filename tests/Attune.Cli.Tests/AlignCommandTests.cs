using System.Text.Json;

namespace Attune.Cli.Tests;

/// <summary><c>attune align probe | train</c> through the command line, on the golden fixtures.</summary>
public class AlignCommandTests
{
    private static readonly string FixtureRoot = Path.Combine(CliHarness.RepoRoot, "tests", "Attune.Torch.Tests", "Fixtures", "hf-tiny");

    [Theory]
    [InlineData("llama")]
    [InlineData("qwen3")]
    public async Task Probe_prints_the_fixture_dpo_entry(string arch)
    {
        using var expected = JsonDocument.Parse(File.ReadAllText(Path.Combine(FixtureRoot, arch, "expected.json")));
        var e = expected.RootElement.GetProperty("dpo")[0];
        var (code, stdout, stderr) = await CliHarness.Run("align", "probe",
            "--model", Path.Combine(FixtureRoot, arch, "policy"), "--ref", Path.Combine(FixtureRoot, arch, "reference"),
            "--tokenizer", Path.Combine(FixtureRoot, "tokenizer.json"),
            "--prompt", e.GetProperty("prompt").GetString()!, "--chosen", e.GetProperty("chosen").GetString()!, "--rejected", e.GetProperty("rejected").GetString()!,
            "--loss", "dpo", "--beta", "0.1", "--json");
        Assert.True(code == 0, stderr);
        using var got = JsonDocument.Parse(stdout);
        var g = got.RootElement;
        foreach (var key in new[] { "policy_chosen_logp", "policy_rejected_logp", "ref_chosen_logp", "ref_rejected_logp" })
        {
            Assert.Equal(e.GetProperty(key).GetDouble(), g.GetProperty(key).GetDouble(), 1e-4);
        }

        foreach (var key in new[] { "loss_sigmoid", "loss_ipo" })
        {
            Assert.Equal(e.GetProperty(key).GetDouble(), g.GetProperty(key).GetDouble(), Math.Abs(e.GetProperty(key).GetDouble()) * 1e-5);
        }

        foreach (var key in new[] { "grad_chosen_norm", "grad_rejected_norm", "grad_inner", "grad_cosine", "grad_loss_norm" })
        {
            var want = e.GetProperty(key).GetDouble();
            Assert.True(Math.Abs(g.GetProperty(key).GetDouble() - want) <= 1e-3 * Math.Abs(want) + 1e-6, $"{key}: {g.GetProperty(key).GetDouble()} vs {want}");
        }

        Assert.False(string.IsNullOrEmpty(g.GetProperty("case").GetString()));
    }

    [Fact]
    public async Task Train_writes_metrics_and_a_model_and_bad_pairs_are_one_line_errors()
    {
        using var dir = new CliHarness.TempDir();
        var data = Path.Combine(dir.Path, "pairs.jsonl");
        File.WriteAllLines(data,
        [
            """{"prompt": "Question: What is 3 + 4? Answer:", "chosen": " 7", "rejected": " 12", "user": "u1"}""",
            """{"prompt": "Question: What is 2 + 2? Answer:", "chosen": " 4", "rejected": " 5"}""",
        ]);
        var model = Path.Combine(FixtureRoot, "llama", "policy");
        var (code, stdout, stderr) = await CliHarness.Run("align", "train", "--loss", "ipo", "--model", model, "--ref", Path.Combine(FixtureRoot, "llama", "reference"),
            "--tokenizer", Path.Combine(FixtureRoot, "tokenizer.json"), "--data", data, "--out", Path.Combine(dir.Path, "run"),
            "--batch-size", "2", "--epochs", "2", "--lr", "1e-3", "--json");
        Assert.True(code == 0, stderr);
        using var result = JsonDocument.Parse(stdout);
        var metrics = File.ReadAllLines(Path.Combine(dir.Path, "run", "metrics.jsonl"));
        Assert.Equal(2, metrics.Length);
        using var first = JsonDocument.Parse(metrics[0]);
        Assert.True(first.RootElement.TryGetProperty("loss", out _));
        Assert.True(Directory.EnumerateFiles(Path.Combine(dir.Path, "run"), "*.safetensors", SearchOption.AllDirectories).Any());

        var bad = Path.Combine(dir.Path, "bad.jsonl");
        File.WriteAllLines(bad, ["""{"prompt": "x", "chosen": " 7", "rejected": " 12"}""", """{"prompt": "y", "chosen": " 7"}"""]);
        (code, stdout, stderr) = await CliHarness.Run("align", "train", "--model", model, "--tokenizer", Path.Combine(FixtureRoot, "tokenizer.json"),
            "--data", bad, "--out", Path.Combine(dir.Path, "run2"), "--max-steps", "1");
        Assert.Equal(2, code);
        Assert.Equal("", stdout);
        var line = Assert.Single(stderr.Split('\n', StringSplitOptions.RemoveEmptyEntries));
        Assert.Contains("bad.jsonl", line, StringComparison.Ordinal);
        Assert.Contains("rejected", line, StringComparison.Ordinal);
    }
}

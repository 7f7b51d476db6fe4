using System.Text.Json;

namespace Attune.Cli.Tests;

/// <summary>The model verbs against the reference stack's fixtures (same field names).</summary>
public class ModelCommandTests
{
    private static readonly string FixtureRoot = Path.Combine(CliHarness.RepoRoot, "tests", "Attune.Torch.Tests", "Fixtures", "hf-tiny");
    private static readonly string TokenizerFile = Path.Combine(FixtureRoot, "tokenizer.json");

    public static TheoryData<string> Architectures => new() { "llama", "qwen2", "qwen3" };

    [Fact]
    public async Task Tokenize_gives_the_reference_ids_and_tokens()
    {
        using var expected = JsonDocument.Parse(File.ReadAllText(Path.Combine(FixtureRoot, "tokenizer_expected.json")));
        foreach (var item in expected.RootElement.EnumerateObject())
        {
            var (code, stdout, stderr) = await CliHarness.Run("model", "tokenize", "--tokenizer", TokenizerFile, "--text", item.Name, "--json");
            Assert.True(code == 0, stderr);
            using var doc = JsonDocument.Parse(stdout);
            Assert.Equal(Compact(item.Value.GetProperty("ids")), Compact(doc.RootElement.GetProperty("ids")));
            Assert.Equal(item.Value.GetProperty("tokens").EnumerateArray().Select(t => t.GetString()), doc.RootElement.GetProperty("tokens").EnumerateArray().Select(t => t.GetString()));
        }
    }

    [Theory]
    [MemberData(nameof(Architectures))]
    public async Task Logits_generate_and_logprob_match_the_reference(string arch)
    {
        using var expected = JsonDocument.Parse(File.ReadAllText(Path.Combine(FixtureRoot, arch, "expected.json")));
        var model = Path.Combine(FixtureRoot, arch, "policy");

        var logits = expected.RootElement.GetProperty("logits")[0];
        using (var doc = await Json("model", "logits", "--model", model, "--tokenizer", TokenizerFile, "--text", logits.GetProperty("text").GetString()!))
        {
            Assert.Equal(Compact(logits.GetProperty("ids")), Compact(doc.RootElement.GetProperty("ids")));
            Assert.Equal(Compact(logits.GetProperty("shape")), Compact(doc.RootElement.GetProperty("shape")));
            var want = logits.GetProperty("last_row").EnumerateArray().Select(x => x.GetDouble()).ToArray();
            var got = doc.RootElement.GetProperty("last_row").EnumerateArray().Select(x => x.GetDouble()).ToArray();
            Assert.True(want.Zip(got).All(p => Math.Abs(p.First - p.Second) <= 1e-4));
            Assert.Equal(logits.GetProperty("sum").GetDouble(), doc.RootElement.GetProperty("sum").GetDouble(), 1e-3);
        }

        var greedy = expected.RootElement.GetProperty("greedy")[0];
        var newIds = greedy.GetProperty("new_ids");
        using (var doc = await Json("model", "generate", "--model", model, "--tokenizer", TokenizerFile, "--prompt", greedy.GetProperty("prompt").GetString()!,
                   "--max-new-tokens", newIds.GetArrayLength().ToString(System.Globalization.CultureInfo.InvariantCulture), "--greedy"))
        {
            Assert.Equal(Compact(greedy.GetProperty("prompt_ids")), Compact(doc.RootElement.GetProperty("prompt_ids")));
            Assert.Equal(Compact(newIds), Compact(doc.RootElement.GetProperty("new_ids")));
        }

        var dpo = expected.RootElement.GetProperty("dpo")[0];
        using (var doc = await Json("model", "logprob", "--model", model, "--tokenizer", TokenizerFile, "--prompt", dpo.GetProperty("prompt").GetString()!, "--response", dpo.GetProperty("chosen").GetString()!))
        {
            Assert.Equal(dpo.GetProperty("policy_chosen_logp").GetDouble(), doc.RootElement.GetProperty("logp").GetDouble(), 1e-4);
            Assert.Equal(doc.RootElement.GetProperty("logp").GetDouble(), doc.RootElement.GetProperty("token_logps").EnumerateArray().Sum(x => x.GetDouble()), 1e-4);
        }
    }

    [Fact]
    public async Task Init_writes_a_model_that_info_describes_and_generate_runs()
    {
        using var dir = new CliHarness.TempDir();
        using (var doc = await Json("model", "init", "--arch", "qwen2", "--size", "tiny", "--out", dir.Path, "--seed", "5"))
        {
            Assert.Equal("qwen2", doc.RootElement.GetProperty("model_type").GetString());
        }

        using (var info = await Json("model", "info", "--model", dir.Path))
        {
            Assert.Equal(2, info.RootElement.GetProperty("layers").GetInt32());
            Assert.True(info.RootElement.GetProperty("has_tokenizer").GetBoolean());
            Assert.True(info.RootElement.GetProperty("parameters").GetInt64() > 10_000);
        }

        using var gen = await Json("model", "generate", "--model", dir.Path, "--prompt", "Hello", "--max-new-tokens", "5", "--seed", "1");
        Assert.Equal(5, gen.RootElement.GetProperty("new_ids").GetArrayLength());

        // The same seed gives the same weights.
        using var again = new CliHarness.TempDir();
        await Json("model", "init", "--arch", "qwen2", "--size", "tiny", "--out", again.Path, "--seed", "5");
        Assert.Equal(File.ReadAllBytes(Path.Combine(dir.Path, "model.safetensors")), File.ReadAllBytes(Path.Combine(again.Path, "model.safetensors")));
    }

    [Fact]
    public async Task Merge_of_a_model_with_itself_by_task_arithmetic_at_weight_zero_is_the_base()
    {
        using var dir = new CliHarness.TempDir();
        var model = Path.Combine(FixtureRoot, "llama", "policy");
        var reference = Path.Combine(FixtureRoot, "llama", "reference");
        using (await Json("model", "merge", "--method", "task-arithmetic", "--base", model, "--models", $"{reference}:0", "--out", dir.Path))
        {
        }

        var text = "The quick brown fox.";
        using var a = await Json("model", "logits", "--model", model, "--tokenizer", TokenizerFile, "--text", text);
        using var b = await Json("model", "logits", "--model", dir.Path, "--tokenizer", TokenizerFile, "--text", text);
        Assert.Equal(a.RootElement.GetProperty("sum").GetDouble(), b.RootElement.GetProperty("sum").GetDouble(), 1e-5);

        // Linear merge of base and reference at equal weights moves the logits.
        using var mid = new CliHarness.TempDir();
        using (await Json("model", "merge", "--method", "linear", "--base", model, "--models", $"{model}:1", $"{reference}:1", "--out", mid.Path))
        {
        }

        using var c = await Json("model", "logits", "--model", mid.Path, "--tokenizer", TokenizerFile, "--text", text);
        Assert.NotEqual(a.RootElement.GetProperty("sum").GetDouble(), c.RootElement.GetProperty("sum").GetDouble(), 3);
    }

    [Fact]
    public async Task Bad_model_input_exits_2_with_one_line()
    {
        var (code, _, stderr) = await CliHarness.Run("model", "logits", "--model", "/no/such/model", "--tokenizer", TokenizerFile, "--text", "x");
        Assert.Equal(2, code);
        Assert.Single(stderr.Split('\n', StringSplitOptions.RemoveEmptyEntries));
        Assert.Contains("/no/such/model", stderr, StringComparison.Ordinal);

        var (code2, _, stderr2) = await CliHarness.Run("model", "init", "--arch", "gpt5", "--out", Path.GetTempPath());
        Assert.Equal(2, code2);
        Assert.Contains("unknown architecture 'gpt5'", stderr2, StringComparison.Ordinal);
    }

    private static async Task<JsonDocument> Json(params string[] args)
    {
        var (code, stdout, stderr) = await CliHarness.Run([.. args, "--json"]);
        Assert.True(code == 0, $"exit {code}: {stderr}");
        return JsonDocument.Parse(stdout);
    }

    private static string Compact(JsonElement e) => JsonSerializer.Serialize(e);
}

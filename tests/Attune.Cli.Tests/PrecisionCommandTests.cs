using System.Text.Json;
using Attune.Torch.Safetensors;

namespace Attune.Cli.Tests;

/// <summary><c>--precision</c> and <c>--save-dtype</c> on the verbs that run or train a model.</summary>
public class PrecisionCommandTests
{
    private static readonly string FixtureRoot = Path.Combine(CliHarness.RepoRoot, "tests", "Attune.Torch.Tests", "Fixtures", "hf-tiny");
    private static readonly string TokenizerFile = Path.Combine(FixtureRoot, "tokenizer.json");
    private static readonly string Llama = Path.Combine(FixtureRoot, "llama", "policy");

    private static string[] Pairs(string dir)
    {
        var data = Path.Combine(dir, "pairs.jsonl");
        File.WriteAllLines(data, ["""{"prompt": "Question: What is 3 + 4? Answer:", "chosen": " 7", "rejected": " 12"}"""]);
        return ["align", "train", "--model", Llama, "--tokenizer", TokenizerFile, "--data", data, "--out", Path.Combine(dir, "dpo"), "--max-steps", "1"];
    }

    private static string[] Sft(string dir)
    {
        var data = Path.Combine(dir, "sft.jsonl");
        File.WriteAllLines(data, ["""{"prompt": "Question: What is 3 + 4? Answer:", "response": " 7"}""", """{"prompt": "Question: What is 2 + 2? Answer:", "response": " 4"}"""]);
        return ["train", "sft", "--model", Llama, "--tokenizer", TokenizerFile, "--data", data, "--out", Path.Combine(dir, "sft"), "--max-steps", "2", "--batch-size", "2"];
    }

    [Fact]
    public async Task Bad_precision_and_save_dtype_values_exit_2_with_one_line_naming_the_option()
    {
        using var dir = new CliHarness.TempDir();
        string[][] verbs =
        [
            ["model", "generate", "--model", Llama, "--tokenizer", TokenizerFile, "--prompt", "Hello", "--max-new-tokens", "2"],
            ["model", "logits", "--model", Llama, "--tokenizer", TokenizerFile, "--text", "Hello"],
            ["model", "logprob", "--model", Llama, "--tokenizer", TokenizerFile, "--prompt", "Hello", "--response", " world"],
            Sft(dir.Path),
            Pairs(dir.Path),
        ];
        foreach (var verb in verbs)
        {
            var (code, _, stderr) = await CliHarness.Run([.. verb, "--precision", "fp8"]);
            Assert.True(code == 2, $"{verb[0]} {verb[1]}: exit {code}: {stderr}");
            Assert.Single(stderr.Split('\n', StringSplitOptions.RemoveEmptyEntries));
            Assert.Contains("--precision: 'fp8' is not one of fp32, bf16, bf16-pure", stderr, StringComparison.Ordinal);
        }

        foreach (var verb in verbs[3..])
        {
            var (code, _, stderr) = await CliHarness.Run([.. verb, "--save-dtype", "int8"]);
            Assert.Equal(2, code);
            Assert.Single(stderr.Split('\n', StringSplitOptions.RemoveEmptyEntries));
            Assert.Contains("--save-dtype: 'int8' is not one of fp32, bf16, fp16", stderr, StringComparison.Ordinal);

            // Full fine-tuning in bf16-pure is refused before anything runs.
            (code, _, stderr) = await CliHarness.Run([.. verb, "--precision", "bf16-pure"]);
            Assert.Equal(2, code);
            Assert.Single(stderr.Split('\n', StringSplitOptions.RemoveEmptyEntries));
            Assert.Contains("--precision bf16-pure trains only LoRA adapters", stderr, StringComparison.Ordinal);
        }

        Assert.False(Directory.Exists(Path.Combine(dir.Path, "sft")));
    }

    [Fact]
    public async Task Sft_in_bf16_saves_bf16_weights_that_every_precision_runs_and_resume_keeps_the_precision()
    {
        using var dir = new CliHarness.TempDir();
        var sft = Sft(dir.Path);
        var (code, stdout, stderr) = await CliHarness.Run([.. sft, "--precision", "bf16", "--save-dtype", "bf16", "--json"]);
        Assert.True(code == 0, stderr);
        using (var result = JsonDocument.Parse(stdout))
        {
            Assert.Equal("bf16", result.RootElement.GetProperty("precision").GetString());
            Assert.Equal("bf16", result.RootElement.GetProperty("save_dtype").GetString());
        }

        var output = Path.Combine(dir.Path, "sft");
        Assert.All(SafetensorsHeader.Read(Path.Combine(output, "model", "model.safetensors")).Tensors.Values, t => Assert.Equal(SafetensorsDType.BF16, t.DType));
        using (var config = JsonDocument.Parse(File.ReadAllText(Path.Combine(output, "run_config.json"))))
        {
            Assert.Equal("bf16", config.RootElement.GetProperty("precision").GetString());
        }

        foreach (var precision in new[] { "fp32", "bf16", "bf16-pure" })
        {
            (code, stdout, stderr) = await CliHarness.Run("model", "generate", "--model", Path.Combine(output, "model"), "--prompt", "Question:", "--max-new-tokens", "4", "--greedy",
                "--precision", precision, "--json");
            Assert.True(code == 0, $"{precision}: {stderr}");
            using var doc = JsonDocument.Parse(stdout);
            Assert.Equal(4, doc.RootElement.GetProperty("new_ids").GetArrayLength());
        }

        (code, _, stderr) = await CliHarness.Run([.. sft, "--resume"]);
        Assert.Equal(2, code);
        Assert.Contains("trained with --precision bf16, this run asks for fp32", stderr, StringComparison.Ordinal);
        (code, _, stderr) = await CliHarness.Run([.. sft, "--resume", "--precision", "bf16"]);
        Assert.True(code == 0, stderr);
    }

    [Fact]
    public async Task Dpo_with_lora_on_a_bf16_pure_base_trains_and_hf_serves_in_bf16_pure()
    {
        using var dir = new CliHarness.TempDir();
        var (code, stdout, stderr) = await CliHarness.Run([.. Pairs(dir.Path), "--precision", "bf16-pure", "--lora-r", "4", "--json"]);
        Assert.True(code == 0, stderr);
        using (var result = JsonDocument.Parse(stdout))
        {
            Assert.Equal("bf16-pure", result.RootElement.GetProperty("precision").GetString());
            Assert.Equal(Math.Log(2), result.RootElement.GetProperty("final_loss").GetDouble(), 1e-6);   // step 1: the policy is its reference
        }

        var adapter = Path.Combine(dir.Path, "dpo", "adapter", "adapter_model.safetensors");
        Assert.All(SafetensorsHeader.Read(adapter).Tensors.Values, t => Assert.Equal(SafetensorsDType.F32, t.DType));   // adapters stay float32 by default

        var model = Path.Combine(dir.Path, "served");
        Directory.CreateDirectory(model);
        foreach (var file in Directory.GetFiles(Llama))
        {
            File.Copy(file, Path.Combine(model, Path.GetFileName(file)));
        }

        File.Copy(TokenizerFile, Path.Combine(model, "tokenizer.json"));
        (code, stdout, stderr) = await CliHarness.Run("llm", "ping", "--llm", $"hf:{model}?precision=bf16-pure&max_tokens=4");
        Assert.True(code == 0, stderr);
        (code, _, stderr) = await CliHarness.Run("llm", "ping", "--llm", $"hf:{model}?precision=half");
        Assert.Equal(2, code);
        Assert.Contains("precision: 'half'", stderr, StringComparison.Ordinal);
    }
}

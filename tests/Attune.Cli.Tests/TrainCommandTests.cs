using System.Text.Json;
using Attune.Torch.Models;
using Attune.Torch.Tokenizers;

namespace Attune.Cli.Tests;

/// <summary><c>attune train sft</c> end to end on a tiny built-in model.</summary>
public class TrainCommandTests
{
    private static (string Model, string Data) Setup(string dir)
    {
        var tok = CharTokenizer.FromAlphabet("abcdefghijklmnopqrstuvwxyz>");
        var model = Path.Combine(dir, "base");
        using (var lm = ModelFolder.Initialize(BuiltInModels.Create("llama", "tiny", tok.VocabSize), 5))
        {
            lm.Save(model);
        }

        tok.Save(Path.Combine(model, "tokenizer.json"));
        var data = Path.Combine(dir, "train.jsonl");
        File.WriteAllLines(data, new[] { "cat", "dog", "sun", "map" }.Select(w => JsonSerializer.Serialize(new { prompt = w + ">", response = new string([.. w.Reverse()]) })));
        return (model, data);
    }

    [Fact]
    public async Task Sft_trains_writes_the_model_and_resumes_as_a_no_op_when_finished()
    {
        using var dir = new CliHarness.TempDir();
        var (model, data) = Setup(dir.Path);
        var output = Path.Combine(dir.Path, "run");
        string[] args = ["train", "sft", "--model", model, "--data", data, "--eval", data, "--out", output, "--epochs", "4", "--batch-size", "2", "--grad-accum", "2", "--lr", "1e-2", "--warmup", "1", "--json"];
        var (code, stdout, stderr) = await CliHarness.Run(args);
        Assert.True(code == 0, stderr);
        var result = JsonDocument.Parse(stdout).RootElement;
        Assert.Equal(4, result.GetProperty("steps").GetInt32());
        Assert.True(result.GetProperty("eval_loss").GetDouble() < result.GetProperty("initial_eval_loss").GetDouble());
        Assert.True(File.Exists(Path.Combine(output, "model", "model.safetensors")));
        Assert.True(File.Exists(Path.Combine(output, "model", "tokenizer.json")));
        Assert.Equal(4, File.ReadAllLines(Path.Combine(output, "metrics.jsonl")).Length);
        Assert.Contains("step 4/4", stderr, StringComparison.Ordinal);

        (code, stdout, stderr) = await CliHarness.Run([.. args, "--resume"]);
        Assert.True(code == 0, stderr);
        Assert.Equal(4, JsonDocument.Parse(stdout).RootElement.GetProperty("resumed_from").GetInt32());
    }

    [Fact]
    public async Task Sft_with_lora_writes_a_peft_adapter_and_bad_data_is_exit_2_naming_the_line()
    {
        using var dir = new CliHarness.TempDir();
        var (model, data) = Setup(dir.Path);
        var output = Path.Combine(dir.Path, "lora");
        var (code, stdout, stderr) = await CliHarness.Run("train", "sft", "--model", model, "--data", data, "--out", output, "--max-steps", "2",
            "--lora-r", "4", "--lora-alpha", "8", "--lora-targets", "q_proj,v_proj", "--json");
        Assert.True(code == 0, stderr);
        Assert.Equal(4, JsonDocument.Parse(stdout).RootElement.GetProperty("lora_modules").GetArrayLength());   // 2 layers × q, v
        Assert.True(File.Exists(Path.Combine(output, "adapter", "adapter_config.json")));
        Assert.True(File.Exists(Path.Combine(output, "adapter", "adapter_model.safetensors")));

        var bad = Path.Combine(dir.Path, "bad.jsonl");
        File.WriteAllLines(bad, ["{\"prompt\": \"a>\", \"response\": \"a\"}", "{\"prompt\": \"b>\"}"]);
        (code, _, stderr) = await CliHarness.Run("train", "sft", "--model", model, "--data", bad, "--out", Path.Combine(dir.Path, "x"));
        Assert.Equal(2, code);
        Assert.Contains($"{bad}:2: field 'response': missing", stderr, StringComparison.Ordinal);
    }
}

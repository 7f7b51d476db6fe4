using System.Text.Json;
using Attune.Llm;
using Microsoft.Extensions.AI;

namespace Attune.Cli.Tests;

/// <summary><c>--llm hf:DIR</c> for every command, and <c>attune model export-gguf</c>.</summary>
public class ServingCommandTests
{
    private static readonly string Fixtures = Path.Combine(AppContext.BaseDirectory, "Fixtures", "hf-tiny");

    /// <summary>A model folder with its tokenizer beside it, as users have them.</summary>
    internal static string ModelWithTokenizer(CliHarness.TempDir dir, string arch = "llama")
    {
        var model = Path.Combine(dir.Path, arch);
        Directory.CreateDirectory(model);
        foreach (var file in Directory.GetFiles(Path.Combine(Fixtures, arch, "policy")))
        {
            File.Copy(file, Path.Combine(model, Path.GetFileName(file)));
        }

        File.Copy(Path.Combine(Fixtures, "tokenizer.json"), Path.Combine(model, "tokenizer.json"));
        return model;
    }

    [Fact]
    public async Task Llm_ping_answers_from_a_local_checkpoint_and_a_recording_of_it_replays()
    {
        using var dir = new CliHarness.TempDir();
        var model = ModelWithTokenizer(dir);
        var spec = $"hf:{model}?max_tokens=16";

        var (code, stdout, stderr) = await CliHarness.Run("llm", "ping", "--llm", spec, "--json");
        Assert.True(code == 0, stderr);
        using (var doc = JsonDocument.Parse(stdout))
        {
            Assert.Equal(spec, doc.RootElement.GetProperty("spec").GetString());
            Assert.Equal("llama", doc.RootElement.GetProperty("model").GetString());
            Assert.Equal(JsonValueKind.String, doc.RootElement.GetProperty("reply").ValueKind);
        }

        // The CLI registered hf: at start-up; record one exchange with it, then replay it through the CLI.
        var log = Path.Combine(dir.Path, "ping.jsonl");
        string recorded;
        using (var client = LlmEndpoints.Create(spec).AsBuilder().UseRecording(log).Build())
        {
            recorded = (await client.GetResponseAsync([new ChatMessage(ChatRole.User, Commands.LlmCommands.DefaultPrompt)], Commands.LlmCommands.PingOptions(Commands.LlmCommands.DefaultMaxTokens))).Text;
        }

        (code, stdout, stderr) = await CliHarness.Run("llm", "ping", "--llm", "replay:" + log, "--json");
        Assert.True(code == 0, stderr);
        using var replayed = JsonDocument.Parse(stdout);
        Assert.Equal(recorded, replayed.RootElement.GetProperty("reply").GetString());
        Assert.Equal("llama", replayed.RootElement.GetProperty("model").GetString());
    }

    [Fact]
    public async Task Hf_spec_without_a_tokenizer_exits_2_with_one_line()
    {
        var (code, stdout, stderr) = await CliHarness.Run("llm", "ping", "--llm", "hf:" + Path.Combine(Fixtures, "llama", "policy"));
        Assert.Equal(CliApp.BadInput, code);
        Assert.Equal("", stdout);
        var line = Assert.Single(stderr.Split('\n', StringSplitOptions.RemoveEmptyEntries));
        Assert.Contains("no tokenizer.json", line, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData("f32")]
    [InlineData("f16")]
    public async Task Export_gguf_writes_a_file_that_gguf_spec_serves(string dtype)
    {
        using var dir = new CliHarness.TempDir();
        var model = ModelWithTokenizer(dir, "qwen2");
        var output = Path.Combine(dir.Path, $"qwen2-{dtype}.gguf");
        var (code, stdout, stderr) = await CliHarness.Run("model", "export-gguf", "--model", model, "--out", output, "--dtype", dtype, "--json");
        Assert.True(code == 0, stderr);
        using (var doc = JsonDocument.Parse(stdout))
        {
            Assert.Equal("qwen2", doc.RootElement.GetProperty("architecture").GetString());
            Assert.Equal(dtype, doc.RootElement.GetProperty("dtype").GetString());
            Assert.Equal("gpt-2", doc.RootElement.GetProperty("pre_tokenizer").GetString());
            Assert.Equal("chatml", doc.RootElement.GetProperty("chat_template").GetString());
            Assert.Equal(new FileInfo(output).Length, doc.RootElement.GetProperty("bytes").GetInt64());
        }

        // Served by LLamaSharp with the exported ChatML template. (Not through `llm ping`: it sets no
        // token limit, and this random model rarely ends its turn before the context is full.)
        using var client = LlmEndpoints.Create($"gguf:{output}?ctx=256&threads=1");
        var response = await client.GetResponseAsync([new ChatMessage(ChatRole.User, "ping")], new ChatOptions { Temperature = 0, MaxOutputTokens = 8 });
        Assert.Equal($"qwen2-{dtype}.gguf", response.ModelId);
    }

    [Fact]
    public async Task Export_gguf_refuses_bad_input_with_one_line()
    {
        using var dir = new CliHarness.TempDir();
        var output = Path.Combine(dir.Path, "x.gguf");

        // No tokenizer in the folder, none given.
        var (code, _, stderr) = await CliHarness.Run("model", "export-gguf", "--model", Path.Combine(Fixtures, "llama", "policy"), "--out", output);
        Assert.Equal(CliApp.BadInput, code);
        Assert.Contains("no tokenizer.json", stderr, StringComparison.Ordinal);

        // A built-in model with a character tokenizer: llama.cpp has no such tokenizer.
        var tiny = Path.Combine(dir.Path, "tiny");
        Assert.Equal(0, (await CliHarness.Run("model", "init", "--out", tiny)).Code);
        (code, _, stderr) = await CliHarness.Run("model", "export-gguf", "--model", tiny, "--out", output, "--template", "chatml");
        Assert.Equal(CliApp.BadInput, code);
        Assert.Contains("byte-level BPE", stderr, StringComparison.Ordinal);

        var model = ModelWithTokenizer(dir);
        (code, _, stderr) = await CliHarness.Run("model", "export-gguf", "--model", model, "--out", output, "--dtype", "q4");
        Assert.Equal(CliApp.BadInput, code);
        Assert.Contains("--dtype", stderr, StringComparison.Ordinal);
        Assert.False(File.Exists(output));
    }
}

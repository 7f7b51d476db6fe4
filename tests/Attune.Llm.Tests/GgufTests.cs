using Attune.Core.Errors;
using Microsoft.Extensions.AI;

namespace Attune.Llm.Tests;

public class GgufTests
{
    [Fact]
    public void Missing_model_file_is_bad_input_naming_the_path()
    {
        var ex = Assert.Throws<AttuneInputException>(() => LlmEndpoints.Create("gguf:/nonexistent/models/tiny.gguf"));
        Assert.Equal("/nonexistent/models/tiny.gguf: GGUF model file not found", ex.Message);
    }

    [Fact]
    public void A_directory_is_not_a_model_file()
    {
        using var dir = new TempDir();
        var ex = Assert.Throws<AttuneInputException>(() => LlmEndpoints.Create("gguf:" + dir.Path));
        Assert.Contains("is a directory", ex.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void A_file_that_is_not_gguf_is_bad_input()
    {
        using var dir = new TempDir();
        var path = dir.File("model.gguf");
        File.WriteAllText(path, "{\"this is\": \"json\"}");
        var ex = Assert.Throws<AttuneInputException>(() => LlmEndpoints.Create("gguf:" + path));
        Assert.StartsWith(path + ": not a GGUF file", ex.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void Unknown_gguf_parameter_is_bad_input()
    {
        var ex = Assert.Throws<AttuneInputException>(() => LlmEndpoints.Create("gguf:/x.gguf?temperature=1"));
        Assert.Contains("field 'temperature'", ex.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void A_truncated_gguf_file_is_rejected_by_llama_cpp_as_bad_input()
    {
        // Exercises the native LLamaSharp backend: the magic is right, the header is cut short.
        using var dir = new TempDir();
        var path = dir.File("truncated.gguf");
        File.WriteAllBytes(path, [.. "GGUF"u8, 3, 0, 0, 0, 1]);
        var ex = Assert.Throws<AttuneInputException>(() => LlmEndpoints.Create("gguf:" + path));
        Assert.StartsWith(path + ": llama.cpp could not load", ex.Message, StringComparison.Ordinal);
    }
}

public class TinyGgufModelTests
{
    private static readonly Microsoft.Extensions.AI.ChatMessage[] Ping = [new(Microsoft.Extensions.AI.ChatRole.User, "ping")];

    [Fact]
    public async Task A_tiny_real_gguf_model_answers_through_llamasharp()
    {
        using var dir = new TempDir();
        var path = dir.File("tiny-pong.gguf");
        TinyGguf.Write(path);

        using var client = LlmEndpoints.Create($"gguf:{path}?ctx=256&threads=1");
        var options = new Microsoft.Extensions.AI.ChatOptions { Temperature = 0, MaxOutputTokens = 8, Seed = 1 };
        var response = await client.GetResponseAsync(Ping, options);

        // "pong" shows the prompt was formatted with the model's ChatML template (ending "assistant\n").
        Assert.Equal(TinyGguf.Answer, response.Text.Trim());
        Assert.Equal("tiny-pong.gguf", response.ModelId);

        var streamed = "";
        await foreach (var update in client.GetStreamingResponseAsync(Ping, options))
        {
            streamed += update.Text;
        }

        Assert.Equal(TinyGguf.Answer, streamed.Trim());
    }

    [Fact]
    public async Task A_gguf_exchange_records_and_replays()
    {
        using var dir = new TempDir();
        var path = dir.File("tiny-pong.gguf");
        TinyGguf.Write(path);
        var log = dir.File("gguf.jsonl");
        var options = new Microsoft.Extensions.AI.ChatOptions { Temperature = 0, MaxOutputTokens = 8 };

        using (var client = LlmEndpoints.Create($"gguf:{path}?ctx=256").AsBuilder().UseRecording(log).Build())
        {
            await client.GetResponseAsync(Ping, options);
        }

        File.Delete(path);
        using var replay = LlmEndpoints.Create("replay:" + log);
        var again = await replay.GetResponseAsync(Ping, options);
        Assert.Equal(TinyGguf.Answer, again.Text.Trim());
        Assert.Equal("tiny-pong.gguf", again.ModelId);
    }
}

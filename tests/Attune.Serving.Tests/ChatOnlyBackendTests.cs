using System.Text.Json;
using Attune.Llm;
using Attune.Torch.Gguf;
using Attune.Torch.Models;
using Attune.Torch.Serving;
using Microsoft.Extensions.AI;

namespace Attune.Serving.Tests;

/// <summary>A backend without <see cref="ITokenModel"/> (<c>gguf:</c>, LLamaSharp): chat is served through its <see cref="IChatClient"/>; token-level requests are refused.</summary>
public sealed class ChatOnlyBackendTests : IDisposable
{
    private readonly string _dir = Path.Combine(Path.GetTempPath(), "attune-serve-gguf-" + Guid.NewGuid().ToString("N")[..10]);

    public void Dispose() => Directory.Delete(_dir, recursive: true);

    [Fact]
    public async Task A_gguf_model_chats_and_streams_as_in_process_and_refuses_log_probs_and_completions()
    {
        Directory.CreateDirectory(_dir);
        var file = Path.Combine(_dir, "qwen2.gguf");
        var (model, tokenizer) = ModelFolder.Open(Path.Combine(Models.FixtureRoot, "qwen2", "policy"), Models.TokenizerFile);
        using (model)
        {
            GgufExporter.Export(model, tokenizer, file, template: ChatTemplate.ChatMl);
        }

        var spec = $"gguf:{file}?ctx=256&threads=1";
        string expected;
        using (var local = LlmEndpoints.Create(spec))
        {
            expected = (await local.GetResponseAsync([new ChatMessage(ChatRole.User, "ping")], new ChatOptions { Temperature = 0, MaxOutputTokens = 8 })).Text;
        }

        await using var h = await ServerHarness.StartAsync(LlmEndpoints.Create(spec), name: "qwen2.gguf");
        const string Ping = """{"messages":[{"role":"user","content":"ping"}],"temperature":0,"max_tokens":8""";
        var (status, body) = await h.PostAsync("/v1/chat/completions", Ping + "}");
        Assert.True(status == 200, body.ToString());
        Assert.Equal(expected, body.GetProperty("choices")[0].GetProperty("message").GetProperty("content").GetString());
        Assert.Equal("qwen2.gguf", body.GetProperty("model").GetString());

        var events = await h.StreamAsync("/v1/chat/completions", Ping + ""","stream":true}""");
        Assert.Equal("[DONE]", events[^1]);
        var streamed = string.Concat(events.Take(events.Count - 1).Select(e => JsonDocument.Parse(e).RootElement.GetProperty("choices"))
            .Where(c => c.GetArrayLength() > 0).Select(c => c[0].GetProperty("delta").TryGetProperty("content", out var t) ? t.GetString() : ""));
        Assert.Equal(expected, streamed);

        var (refused, error) = await h.PostAsync("/v1/chat/completions", Ping + ""","logprobs":true}""");
        Assert.Equal(400, refused);
        Assert.Equal("logprobs", error.GetProperty("error").GetProperty("param").GetString());
        (refused, error) = await h.PostAsync("/v1/completions", """{"prompt":"ping","max_tokens":4}""");
        Assert.Equal(400, refused);
        Assert.Contains("serves chat only", error.GetProperty("error").GetProperty("message").GetString(), StringComparison.Ordinal);
    }
}

using System.Text.Json;
using Attune.Tests.Shared;
using Microsoft.Extensions.AI;

namespace Attune.Serving.Tests;

/// <summary><c>attune serve</c> driven by the official OpenAI JavaScript library (node): a chat call and a streamed one.</summary>
public class JsClientTests
{
    private static string Folder
    {
        get
        {
            var dir = new DirectoryInfo(AppContext.BaseDirectory);
            while (dir is not null && !File.Exists(Path.Combine(dir.FullName, "Attune.slnx")))
            {
                dir = dir.Parent;
            }

            return Path.Combine(dir?.FullName ?? throw new InvalidOperationException("Attune.slnx not found above " + AppContext.BaseDirectory), "tests", "Attune.Serving.Tests", "JsClient");
        }
    }

    [Fact]
    public async Task The_OpenAI_JavaScript_library_chats_streams_and_reads_echoed_log_probs()
    {
        using var local = Models.Fixture();
        var expected = (await local.GetResponseAsync(
            [new ChatMessage(ChatRole.System, "Be brief."), new ChatMessage(ChatRole.User, "The quick brown fox?")],
            new ChatOptions { Temperature = 0, MaxOutputTokens = 12 })).Text;
        await using var h = await ServerHarness.StartAsync(Models.Fixture());

        var (code, stdout, stderr) = await NodeScripts.RunAsync(Folder, "openai", "client.mjs", [h.V1.ToString(), "tiny"], TimeSpan.FromMinutes(2));

        Assert.True(code == 0, $"node client.mjs exited {code}: {stderr}");
        var result = JsonDocument.Parse(stdout).RootElement;
        Assert.Equal(expected, result.GetProperty("chat").GetString());
        Assert.Equal(expected, result.GetProperty("streamed").GetString());
        Assert.True(result.GetProperty("chunks").GetInt32() > 2, stdout);
        Assert.Equal(result.GetProperty("chatFinish").GetString(), result.GetProperty("streamFinish").GetString());
        Assert.Equal("The quick brown fox", result.GetProperty("echo").GetString());
        var logprobs = result.GetProperty("tokenLogprobs").EnumerateArray().ToArray();
        Assert.Equal(JsonValueKind.Null, logprobs[0].ValueKind);
        Assert.All(logprobs[1..], lp => Assert.True(lp.GetDouble() < 0));
    }
}

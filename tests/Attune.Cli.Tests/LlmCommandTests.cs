using System.Text.Json;
using Attune.Llm;
using Microsoft.Extensions.AI;

namespace Attune.Cli.Tests;

public class LlmCommandTests : IDisposable
{
    private readonly string _dir = Path.Combine(Path.GetTempPath(), "attune-cli-llm-" + Guid.NewGuid().ToString("N")[..12]);

    public LlmCommandTests() => Directory.CreateDirectory(_dir);

    public void Dispose()
    {
        Directory.Delete(_dir, recursive: true);
        GC.SuppressFinalize(this);
    }

    /// <summary>A replay log that answers <paramref name="prompt"/> with <paramref name="reply"/>.</summary>
    private string ReplayLog(string prompt, string reply)
    {
        var path = Path.Combine(_dir, "pong.jsonl");
        ExchangeLog.Append(path, new ExchangeRecord
        {
            Key = ExchangeKey.Compute([new ChatMessage(ChatRole.User, prompt)], Commands.LlmCommands.PingOptions(Commands.LlmCommands.DefaultMaxTokens)),
            Model = "recorded-model",
            Response = new ExchangeResponse { Text = reply, ModelId = "recorded-model" },
        });
        return path;
    }

    private static Task<(int Code, string Out, string Err)> Run(string[] args, Dictionary<string, string?>? env = null) => CliHarness.Run(env, args);

    [Fact]
    public async Task Ping_with_json_prints_one_document()
    {
        var log = ReplayLog(Commands.LlmCommands.DefaultPrompt, "pong");
        var (code, stdout, stderr) = await Run(["llm", "ping", "--llm", "replay:" + log, "--json"]);

        Assert.True(code == 0, stderr);
        using var doc = JsonDocument.Parse(stdout);
        Assert.Equal("replay:" + log, doc.RootElement.GetProperty("spec").GetString());
        Assert.Equal("recorded-model", doc.RootElement.GetProperty("model").GetString());
        Assert.Equal("pong", doc.RootElement.GetProperty("reply").GetString());
        Assert.True(doc.RootElement.GetProperty("latency_ms").GetDouble() >= 0);
    }

    [Fact]
    public async Task Ping_reads_attune_llm_and_takes_a_prompt()
    {
        var log = ReplayLog("Say hi.", "hi");
        var (code, stdout, _) = await Run(["llm", "ping", "--prompt", "Say hi."], new() { ["ATTUNE_LLM"] = "replay:" + log });

        Assert.Equal(0, code);
        var lines = stdout.Split('\n', StringSplitOptions.RemoveEmptyEntries);
        Assert.Equal("hi", lines[0]);
        Assert.Matches(@"^model: recorded-model, latency: [0-9.]+ ms$", lines[1]);
    }

    [Fact]
    public async Task Ping_without_a_spec_exits_2_with_one_line()
    {
        var (code, stdout, stderr) = await Run(["llm", "ping"]);

        Assert.Equal(CliApp.BadInput, code);
        Assert.Equal("", stdout);
        var line = Assert.Single(stderr.Split('\n', StringSplitOptions.RemoveEmptyEntries));
        Assert.Contains("--llm", line, StringComparison.Ordinal);
        Assert.Contains("ATTUNE_LLM", line, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Ping_with_a_bad_spec_or_a_miss_exits_2()
    {
        var (code, _, stderr) = await Run(["llm", "ping", "--llm", "carrier-pigeon:coop"]);
        Assert.Equal(CliApp.BadInput, code);
        Assert.Contains("unknown scheme 'carrier-pigeon'", stderr, StringComparison.Ordinal);

        var log = ReplayLog("something else", "x");
        (code, _, stderr) = await Run(["llm", "ping", "--llm", "replay:" + log]);
        Assert.Equal(CliApp.BadInput, code);
        Assert.Contains("no recorded answer", stderr, StringComparison.Ordinal);
    }
}

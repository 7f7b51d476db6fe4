using System.Text.Json;
using Attune.Core.Errors;
using Attune.Llm.Middleware;
using Microsoft.Extensions.AI;

namespace Attune.Llm.Tests;

public class RecordReplayTests
{
    private static List<ChatMessage> Ask(string question) =>
        [new(ChatRole.System, "Answer in one word."), new(ChatRole.User, question)];

    [Fact]
    public async Task Recorded_http_exchange_replays_without_the_server()
    {
        using var dir = new TempDir();
        var log = dir.File("exchanges.jsonl");
        var options = new ChatOptions { Temperature = 0, MaxOutputTokens = 5 };
        await using (var server = new FakeChatServer(FakeReply.Completion("Paris", "served-model")))
        {
            using var recording = LlmEndpoints.Create(server.Spec()).AsBuilder().UseRecording(log).Build();
            Assert.Equal("Paris", (await recording.GetResponseAsync(Ask("Capital of France?"), options)).Text);
        }

        var line = Assert.Single(File.ReadAllLines(log));
        using var doc = JsonDocument.Parse(line);
        var record = doc.RootElement;
        Assert.Equal(ExchangeKey.Compute(Ask("Capital of France?"), options), record.GetProperty("key").GetString());
        Assert.Equal("served-model", record.GetProperty("model").GetString());
        Assert.Equal("Paris", record.GetProperty("response").GetProperty("text").GetString());
        Assert.Equal(9, record.GetProperty("response").GetProperty("usage").GetProperty("totalTokens").GetInt64());
        Assert.True(record.GetProperty("latencyMs").GetDouble() > 0);
        Assert.False(record.GetProperty("streaming").GetBoolean());
        Assert.Equal("Capital of France?", record.GetProperty("request").GetProperty("messages")[1].GetProperty("contents")[0].GetProperty("text").GetString());
        Assert.Equal(5, record.GetProperty("request").GetProperty("options").GetProperty("maxOutputTokens").GetInt32());
        Assert.False(record.TryGetProperty("scripted", out _)); // a served model is not a stand-in

        // The server is gone: replay answers alone, with model and usage.
        using var replay = LlmEndpoints.Create("replay:" + log);
        Assert.False(StandIn.IsScripted(replay));
        var again = await replay.GetResponseAsync(Ask("Capital of France?"), new ChatOptions { Temperature = 0, MaxOutputTokens = 5 });
        Assert.Equal("Paris", again.Text);
        Assert.Equal("served-model", again.ModelId);
        Assert.Equal(9, again.Usage?.TotalTokenCount);
    }

    [Fact]
    public async Task A_scripted_stand_ins_records_say_so_and_its_replays_keep_saying_so()
    {
        using var dir = new TempDir();
        var log = dir.File("scripted.jsonl");
        using (var recording = new DeclaredStandIn(new ScriptedChatClient("Paris")).AsBuilder().UseRecording(log).Build())
        {
            Assert.True(StandIn.IsScripted(recording));
            Assert.Equal("Paris", (await recording.GetResponseAsync(Ask("Capital of France?"))).Text);
        }

        using (var doc = JsonDocument.Parse(Assert.Single(File.ReadAllLines(log))))
        {
            Assert.True(doc.RootElement.GetProperty("scripted").GetBoolean());
        }

        // Replaying the log, and recording that replay again, still tells a stand-in from a model.
        var again = dir.File("again.jsonl");
        using (var replay = LlmEndpoints.Create("replay:" + log))
        {
            Assert.True(StandIn.IsScripted(replay));
            using var rerecord = replay.AsBuilder().UseRecording(again).Build();
            Assert.Equal("Paris", (await rerecord.GetResponseAsync(Ask("Capital of France?"))).Text);
        }

        using var second = JsonDocument.Parse(Assert.Single(File.ReadAllLines(again)));
        Assert.True(second.RootElement.GetProperty("scripted").GetBoolean());

        // An undeclared scripted client is not recognised: the mark is the stand-in's own declaration.
        Assert.False(StandIn.IsScripted(new ScriptedChatClient("x")));
    }

    /// <summary>Declares its inner client a scripted stand-in, as ScriptedAgentModel and ReferenceChatClient do.</summary>
    private sealed class DeclaredStandIn(IChatClient inner) : DelegatingChatClient(inner)
    {
        public override object? GetService(Type serviceType, object? serviceKey = null) =>
            serviceKey is null && serviceType == typeof(ChatClientMetadata) ? new ChatClientMetadata(StandIn.ProviderName) : base.GetService(serviceType, serviceKey);
    }

    [Fact]
    public async Task Recorded_stream_is_aggregated_and_replays_as_stream_or_whole()
    {
        using var dir = new TempDir();
        var log = dir.File("stream.jsonl");
        await using (var server = new FakeChatServer(FakeReply.Stream("Bon", "jour", "!")))
        {
            using var recording = LlmEndpoints.Create(server.Spec()).AsBuilder().UseRecording(log).Build();
            var seen = "";
            await foreach (var update in recording.GetStreamingResponseAsync(Ask("Greet me in French.")))
            {
                seen += update.Text;
            }

            Assert.Equal("Bonjour!", seen);
        }

        using var doc = JsonDocument.Parse(Assert.Single(File.ReadAllLines(log)));
        Assert.True(doc.RootElement.GetProperty("streaming").GetBoolean());
        Assert.Equal("Bonjour!", doc.RootElement.GetProperty("response").GetProperty("text").GetString());

        using var replay = new ChatClientBuilder(new ScriptedChatClient(new InvalidOperationException("inner must not be called")))
            .UseReplay(log).Build();
        var streamed = "";
        await foreach (var update in replay.GetStreamingResponseAsync(Ask("Greet me in French.")))
        {
            streamed += update.Text;
        }

        Assert.Equal("Bonjour!", streamed);
        Assert.Equal("Bonjour!", (await replay.GetResponseAsync(Ask("Greet me in French."))).Text);
    }

    [Fact]
    public async Task Recording_scripted_stream_aggregates_the_updates()
    {
        using var dir = new TempDir();
        var log = dir.File("s.jsonl");
        using var client = new ChatClientBuilder(new ScriptedChatClient("one two three")).UseRecording(log).Build();
        await foreach (var _ in client.GetStreamingResponseAsync(Ask("count")))
        {
        }

        var record = ExchangeLog.Read(log).Single().Record;
        Assert.Equal("one two three", record.Response.Text);
        Assert.True(record.Streaming);
    }

    [Fact]
    public async Task Failed_streams_are_not_recorded()
    {
        using var dir = new TempDir();
        var log = dir.File("f.jsonl");
        using var client = new ChatClientBuilder(new ScriptedChatClient("one two three") { FailStreamAfterWords = 2 }).UseRecording(log).Build();
        await Assert.ThrowsAsync<HttpRequestException>(async () =>
        {
            await foreach (var _ in client.GetStreamingResponseAsync(Ask("count")))
            {
            }
        });
        Assert.False(File.Exists(log));
    }

    // The canonical form and its SHA-256 (checked with sha256sum) from an earlier run: a change here breaks every recorded log.
    private const string GoldenCanonical =
        """{"messages":[{"role":"system","contents":[{"type":"text","text":"Answer in one word."}]},{"role":"user","contents":[{"type":"text","text":"Capital of France?"}]}],"options":{"temperature":0.7,"seed":3}}""";
    private const string GoldenKey = "49fc578d84406f47d7ce4106737b5a50f12f08991700f5ad469309abddd09cfb";

    [Fact]
    public void Key_is_stable_and_sensitive_to_what_changes_the_answer()
    {
        var options = new ChatOptions { Temperature = 0.7f, Seed = 3 };
        var key = ExchangeKey.Compute(Ask("Capital of France?"), options);

        // The same request built afresh, and a key computed in an earlier run (golden value).
        Assert.Equal(key, ExchangeKey.Compute(Ask("Capital of France?"), new ChatOptions { Seed = 3, Temperature = 0.7f }));
        Assert.Equal(GoldenCanonical, System.Text.Encoding.UTF8.GetString(ExchangeKey.CanonicalJson(Ask("Capital of France?"), options)));
        Assert.Equal(GoldenKey, key);
        Assert.Matches("^[0-9a-f]{64}$", key);

        Assert.NotEqual(key, ExchangeKey.Compute(Ask("Capital of France?"), new ChatOptions { Temperature = 0.8f, Seed = 3 }));
        Assert.NotEqual(key, ExchangeKey.Compute(Ask("Capital of Spain?"), options));
        Assert.NotEqual(key, ExchangeKey.Compute(Ask("Capital of France?"), new ChatOptions { Temperature = 0.7f, Seed = 3, ModelId = "other" }));
        Assert.NotEqual(key, ExchangeKey.Compute(Ask("Capital of France?"), new ChatOptions { Temperature = 0.7f, Seed = 3, StopSequences = ["\n"] }));
        Assert.NotEqual(ExchangeKey.Compute(Ask("x"), null), ExchangeKey.Compute([new(ChatRole.Assistant, "Answer in one word."), new(ChatRole.User, "x")], null));
    }

    [Fact]
    public void Key_ignores_property_order_in_free_form_values()
    {
        var a = new ChatOptions { AdditionalProperties = new() { ["b"] = 1, ["a"] = JsonDocument.Parse("""{"y":1,"x":[2,{"q":1,"p":2}]}""").RootElement } };
        var b = new ChatOptions { AdditionalProperties = new() { ["a"] = JsonDocument.Parse("""{"x":[2,{"p":2,"q":1}],"y":1}""").RootElement, ["b"] = 1 } };
        Assert.Equal(ExchangeKey.Compute(Ask("q"), a), ExchangeKey.Compute(Ask("q"), b));
    }

    [Fact]
    public void Empty_options_and_no_options_give_the_same_key()
    {
        Assert.Equal(ExchangeKey.Compute(Ask("q"), null), ExchangeKey.Compute(Ask("q"), new ChatOptions()));
    }

    [Fact]
    public async Task Replay_miss_names_the_request()
    {
        using var dir = new TempDir();
        var log = dir.File("one.jsonl");
        using (var recording = new ChatClientBuilder(new ScriptedChatClient("Paris")).UseRecording(log).Build())
        {
            await recording.GetResponseAsync(Ask("Capital of France?"));
        }

        using var replay = LlmEndpoints.Create("replay:" + log);
        var question = Ask("Capital of Italy, please, and be quick about it because the test is waiting?");
        var ex = await Assert.ThrowsAsync<ReplayMissException>(() => replay.GetResponseAsync(question));

        Assert.Equal(ExchangeKey.Compute(question, null), ex.RequestKey);
        Assert.Contains(ex.RequestKey, ex.Message, StringComparison.Ordinal);
        Assert.Contains("Capital of Italy, please", ex.Message, StringComparison.Ordinal);
        Assert.Contains(log, ex.Message, StringComparison.Ordinal);
        Assert.IsAssignableFrom<AttuneInputException>(ex);

        // A different temperature is a different request, so also a miss.
        await Assert.ThrowsAsync<ReplayMissException>(() => replay.GetResponseAsync(Ask("Capital of France?"), new ChatOptions { Temperature = 1 }));
        Assert.Equal("Paris", (await replay.GetResponseAsync(Ask("Capital of France?"))).Text);
    }

    [Fact]
    public async Task Repeated_requests_replay_their_answers_in_recorded_order()
    {
        using var dir = new TempDir();
        var log = dir.File("samples.jsonl");
        using (var recording = new ChatClientBuilder(new ScriptedChatClient("heads", "tails")).UseRecording(log).Build())
        {
            await recording.GetResponseAsync(Ask("Flip a coin."));
            await recording.GetResponseAsync(Ask("Flip a coin."));
        }

        using var replay = LlmEndpoints.Create("replay:" + log);
        var answers = new List<string>();
        for (var i = 0; i < 3; i++)
        {
            answers.Add((await replay.GetResponseAsync(Ask("Flip a coin."))).Text);
        }

        Assert.Equal(["heads", "tails", "tails"], answers);
    }

    [Fact]
    public async Task Broken_line_in_a_replay_log_is_named()
    {
        using var dir = new TempDir();
        var log = dir.File("broken.jsonl");
        using (var recording = new ChatClientBuilder(new ScriptedChatClient("a", "b", "c")).UseRecording(log).Build())
        {
            await recording.GetResponseAsync(Ask("1"));
            await recording.GetResponseAsync(Ask("2"));
            await recording.GetResponseAsync(Ask("3"));
        }

        var lines = File.ReadAllLines(log);
        lines[2] = lines[2][..(lines[2].Length / 2)];
        File.WriteAllLines(log, lines);

        var ex = Assert.Throws<AttuneInputException>(() => LlmEndpoints.Create("replay:" + log));
        Assert.StartsWith($"{log}:3: ", ex.Message, StringComparison.Ordinal);
        Assert.Equal(3, ex.Line);

        var viaBuilder = Assert.Throws<AttuneInputException>(() => new ChatClientBuilder(new ScriptedChatClient("x")).UseReplay(log).Build());
        Assert.Equal(3, viaBuilder.Line);
    }

    [Fact]
    public void Replay_log_line_without_a_key_or_response_is_named()
    {
        using var dir = new TempDir();
        var log = dir.File("fields.jsonl");
        File.WriteAllLines(log, ["", """{"key":"","response":{"text":"x"}}"""]);
        var ex = Assert.Throws<AttuneInputException>(() => LlmEndpoints.Create("replay:" + log));
        Assert.Equal(2, ex.Line);
        Assert.Equal("key", ex.Field);

        File.WriteAllLines(log, ["""{"key":"abc"}"""]);
        ex = Assert.Throws<AttuneInputException>(() => LlmEndpoints.Create("replay:" + log));
        Assert.Equal(1, ex.Line);
    }

    [Fact]
    public void Missing_replay_log_is_bad_input()
    {
        var ex = Assert.Throws<AttuneInputException>(() => LlmEndpoints.Create("replay:/nonexistent/dir/log.jsonl"));
        Assert.Contains("/nonexistent/dir/log.jsonl", ex.Message, StringComparison.Ordinal);
        Assert.Contains("not found", ex.Message, StringComparison.Ordinal);
    }
}

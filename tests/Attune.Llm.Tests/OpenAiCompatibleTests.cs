using System.ClientModel;
using Microsoft.Extensions.AI;

namespace Attune.Llm.Tests;

/// <summary>The http(s) endpoint against a chat-completions server started by the test on 127.0.0.1.</summary>
public class OpenAiCompatibleTests
{
    private static readonly ChatMessage[] Conversation =
    [
        new(ChatRole.System, "You are terse."),
        new(ChatRole.User, "Say hello."),
    ];

    [Fact]
    public async Task Non_streaming_call_sends_model_and_messages_and_parses_the_reply()
    {
        await using var server = new FakeChatServer(FakeReply.Completion("Hello there.", "served-model"));
        using var client = LlmEndpoints.Create(server.Spec("tiny-chat"));

        var response = await client.GetResponseAsync(Conversation, new ChatOptions { Temperature = 0.25f });

        Assert.Equal("Hello there.", response.Text);
        Assert.Equal("served-model", response.ModelId);
        Assert.Equal(9, response.Usage?.TotalTokenCount);
        var request = Assert.Single(server.Requests);
        Assert.Equal("POST", request.Method);
        Assert.Equal("/v1/chat/completions", request.Path);
        Assert.StartsWith("Bearer ", request.Headers["Authorization"], StringComparison.Ordinal);
        var json = request.Json;
        Assert.Equal("tiny-chat", json.GetProperty("model").GetString());
        Assert.Equal(0.25, json.GetProperty("temperature").GetDouble(), 3);
        var messages = json.GetProperty("messages").EnumerateArray().ToList();
        Assert.Equal(2, messages.Count);
        Assert.Equal("system", messages[0].GetProperty("role").GetString());
        Assert.Equal("user", messages[1].GetProperty("role").GetString());
        Assert.Contains("Say hello.", messages[1].GetProperty("content").ToString(), StringComparison.Ordinal);
    }

    [Fact]
    public async Task Streaming_call_reads_server_sent_events_until_done()
    {
        await using var server = new FakeChatServer(FakeReply.Stream("Hel", "lo", " world"));
        using var client = LlmEndpoints.Create(server.Spec());

        var pieces = new List<string>();
        await foreach (var update in client.GetStreamingResponseAsync(Conversation))
        {
            if (!string.IsNullOrEmpty(update.Text))
            {
                pieces.Add(update.Text);
            }
        }

        Assert.Equal(["Hel", "lo", " world"], pieces);
        var json = Assert.Single(server.Requests).Json;
        Assert.True(json.GetProperty("stream").GetBoolean());
        Assert.Equal("fake-model", json.GetProperty("model").GetString());
    }

    [Fact]
    public async Task The_openai_client_does_not_retry_on_its_own()
    {
        await using var server = new FakeChatServer(FakeReply.Error(500));
        using var client = LlmEndpoints.Create(server.Spec());

        var ex = await Assert.ThrowsAsync<ClientResultException>(() => client.GetResponseAsync(Conversation));
        Assert.Equal(500, ex.Status);
        Assert.Single(server.Requests);
    }

    [Fact]
    public async Task Retry_survives_two_server_errors()
    {
        await using var server = new FakeChatServer((_, n) => n <= 2 ? FakeReply.Error(500) : FakeReply.Completion("third time lucky"));
        var retries = new List<int>();
        using var client = LlmEndpoints.Create(server.Spec()).AsBuilder()
            .UseRetry(maxRetries: 3, initialDelay: TimeSpan.FromMilliseconds(5), onRetry: (n, _, _) => retries.Add(n))
            .Build();

        var response = await client.GetResponseAsync(Conversation);

        Assert.Equal("third time lucky", response.Text);
        Assert.Equal(3, server.Requests.Count);
        Assert.Equal([1, 2], retries);
    }

    [Fact]
    public async Task Retry_gives_up_after_max_retries()
    {
        await using var server = new FakeChatServer(FakeReply.Error(503));
        using var client = LlmEndpoints.Create(server.Spec()).AsBuilder()
            .UseRetry(maxRetries: 2, initialDelay: TimeSpan.FromMilliseconds(1))
            .Build();

        var ex = await Assert.ThrowsAsync<ClientResultException>(() => client.GetResponseAsync(Conversation));
        Assert.Equal(503, ex.Status);
        Assert.Equal(3, server.Requests.Count);
    }

    [Fact]
    public async Task Retry_retries_429_but_not_400()
    {
        await using var limited = new FakeChatServer((_, n) => n == 1 ? FakeReply.Error(429) : FakeReply.Completion("ok"));
        using var retrying = LlmEndpoints.Create(limited.Spec()).AsBuilder().UseRetry(3, TimeSpan.FromMilliseconds(1)).Build();
        Assert.Equal("ok", (await retrying.GetResponseAsync(Conversation)).Text);
        Assert.Equal(2, limited.Requests.Count);

        await using var bad = new FakeChatServer(FakeReply.Error(400));
        using var client = LlmEndpoints.Create(bad.Spec()).AsBuilder().UseRetry(3, TimeSpan.FromMilliseconds(1)).Build();
        var ex = await Assert.ThrowsAsync<ClientResultException>(() => client.GetResponseAsync(Conversation));
        Assert.Equal(400, ex.Status);
        Assert.Single(bad.Requests);
    }

    [Fact]
    public async Task Retry_covers_a_refused_connection()
    {
        // A port that was just free: nothing listens there.
        var listener = new System.Net.Sockets.TcpListener(System.Net.IPAddress.Loopback, 0);
        listener.Start();
        var port = ((System.Net.IPEndPoint)listener.LocalEndpoint).Port;
        listener.Stop();
        var seen = new List<Exception>();
        using var client = LlmEndpoints.Create($"http://127.0.0.1:{port}/v1?model=m").AsBuilder()
            .UseRetry(2, TimeSpan.FromMilliseconds(1), onRetry: (_, e, _) => seen.Add(e))
            .Build();

        await Assert.ThrowsAnyAsync<Exception>(() => client.GetResponseAsync(Conversation));
        Assert.Equal(2, seen.Count);
    }

    [Fact]
    public async Task Timeout_names_the_call_and_the_limit()
    {
        await using var server = new FakeChatServer(FakeReply.Completion("too late") with { Delay = TimeSpan.FromSeconds(20) });
        using var client = LlmEndpoints.Create(server.Spec("slow-model")).AsBuilder().UseTimeout(TimeSpan.FromMilliseconds(300)).Build();

        var clock = System.Diagnostics.Stopwatch.StartNew();
        var ex = await Assert.ThrowsAsync<TimeoutException>(() => client.GetResponseAsync(Conversation));

        Assert.True(clock.Elapsed < TimeSpan.FromSeconds(5), $"took {clock.Elapsed}");
        Assert.Contains("timed out after 0.3 s", ex.Message, StringComparison.Ordinal);
        Assert.Contains("slow-model", ex.Message, StringComparison.Ordinal);
        Assert.Contains("Say hello.", ex.Message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Timeout_applies_to_streams()
    {
        await using var server = new FakeChatServer(FakeReply.Stream("late") with { Delay = TimeSpan.FromSeconds(20) });
        using var client = LlmEndpoints.Create(server.Spec()).AsBuilder().UseTimeout(TimeSpan.FromMilliseconds(200)).Build();

        await Assert.ThrowsAsync<TimeoutException>(async () =>
        {
            await foreach (var _ in client.GetStreamingResponseAsync(Conversation))
            {
            }
        });
    }

    [Fact]
    public async Task Concurrency_limit_bounds_requests_in_flight_at_the_server()
    {
        var reply = FakeReply.Completion("ok") with { Delay = TimeSpan.FromMilliseconds(150) };

        await using var unlimitedServer = new FakeChatServer(reply);
        using var unlimited = LlmEndpoints.Create(unlimitedServer.Spec());
        await Task.WhenAll(Enumerable.Range(0, 6).Select(_ => unlimited.GetResponseAsync(Conversation)));
        Assert.True(unlimitedServer.MaxInFlight > 2, $"without a limit {unlimitedServer.MaxInFlight} were in flight");

        await using var server = new FakeChatServer(reply);
        using var limited = LlmEndpoints.Create(server.Spec()).AsBuilder().UseConcurrencyLimit(2).Build();
        var answers = await Task.WhenAll(Enumerable.Range(0, 6).Select(_ => limited.GetResponseAsync(Conversation)));

        Assert.All(answers, a => Assert.Equal("ok", a.Text));
        Assert.Equal(6, server.Requests.Count);
        Assert.Equal(2, server.MaxInFlight);
    }

    [Fact]
    public async Task Api_key_comes_from_the_caller_or_is_a_dummy()
    {
        await using var server = new FakeChatServer(FakeReply.Completion("ok"));
        using var keyed = Endpoints.OpenAiCompatibleEndpoint.Create(LlmSpec.Parse(server.Spec()), "sk-test-123");
        await keyed.GetResponseAsync(Conversation);
        using var keyless = Endpoints.OpenAiCompatibleEndpoint.Create(LlmSpec.Parse(server.Spec()), null);
        await keyless.GetResponseAsync(Conversation);

        var auth = server.Requests.Select(r => r.Headers["Authorization"]).ToList();
        Assert.Equal(["Bearer sk-test-123", "Bearer " + Endpoints.OpenAiCompatibleEndpoint.DummyApiKey], auth);
    }
}

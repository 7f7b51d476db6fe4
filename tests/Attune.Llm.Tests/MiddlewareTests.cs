using System.ClientModel;
using System.ClientModel.Primitives;
using System.Net;
using Attune.Llm.Middleware;
using Microsoft.Extensions.AI;

namespace Attune.Llm.Tests;

/// <summary>Middleware on its own, with a scripted client standing in for the model.</summary>
public class MiddlewareTests
{
    private static readonly ChatMessage[] Hello = [new(ChatRole.User, "hello")];

    private static async Task<string> Drain(IAsyncEnumerable<ChatResponseUpdate> stream)
    {
        var text = "";
        await foreach (var update in stream)
        {
            text += update.Text;
        }

        return text;
    }

    [Fact]
    public void Backoff_is_exponential_and_capped()
    {
        var options = new RetryOptions { InitialDelay = TimeSpan.FromMilliseconds(100), BackoffFactor = 2, MaxDelay = TimeSpan.FromMilliseconds(500) };
        Assert.Equal(
            [100, 200, 400, 500, 500],
            Enumerable.Range(1, 5).Select(n => options.DelayBefore(n).TotalMilliseconds));
    }

    [Fact]
    public async Task Retry_waits_the_backoff_between_attempts()
    {
        var waits = new List<TimeSpan>();
        var inner = new ScriptedChatClient(new TimeoutException("1"), new TimeoutException("2"), new TimeoutException("3"), "done");
        using var client = new ChatClientBuilder(inner)
            .UseRetry(3, TimeSpan.FromMilliseconds(2), backoffFactor: 3, onRetry: (_, _, wait) => waits.Add(wait))
            .Build();

        Assert.Equal("done", (await client.GetResponseAsync(Hello)).Text);
        Assert.Equal([2.0, 6.0, 18.0], waits.Select(w => w.TotalMilliseconds));
        Assert.Equal(4, inner.Calls);
    }

    [Theory]
    [InlineData(429, true)]
    [InlineData(500, true)]
    [InlineData(502, true)]
    [InlineData(503, true)]
    [InlineData(400, false)]
    [InlineData(401, false)]
    [InlineData(404, false)]
    [InlineData(422, false)]
    public void Transient_statuses_are_429_and_5xx(int status, bool transient)
    {
        Assert.Equal(transient, TransientFailures.IsTransient(new HttpRequestException("x", null, (HttpStatusCode)status)));
        Assert.Equal(transient, TransientFailures.IsTransient(new ClientResultException(new FakeResponse(status))));
    }

    [Fact]
    public void Network_failures_and_timeouts_are_transient_other_errors_not()
    {
        Assert.True(TransientFailures.IsTransient(new HttpRequestException("connection refused")));
        Assert.True(TransientFailures.IsTransient(new TimeoutException()));
        Assert.True(TransientFailures.IsTransient(new TaskCanceledException("http timeout", new TimeoutException())));
        Assert.True(TransientFailures.IsTransient(new ClientResultException("no response", null, new HttpRequestException("reset"))));
        Assert.False(TransientFailures.IsTransient(new OperationCanceledException()));
        Assert.False(TransientFailures.IsTransient(new InvalidOperationException()));
        Assert.False(TransientFailures.IsTransient(new ArgumentException()));
    }

    [Fact]
    public async Task Retry_does_not_retry_what_is_not_transient()
    {
        var inner = new ScriptedChatClient(new InvalidOperationException("bug"), "never");
        using var client = new ChatClientBuilder(inner).UseRetry(3, TimeSpan.Zero).Build();
        await Assert.ThrowsAsync<InvalidOperationException>(() => client.GetResponseAsync(Hello));
        Assert.Equal(1, inner.Calls);
    }

    [Fact]
    public async Task Retry_stops_when_the_caller_cancels()
    {
        using var cts = new CancellationTokenSource();
        var inner = new ScriptedChatClient((_, _, _) =>
        {
            cts.Cancel();
            throw new HttpRequestException("down");
        });
        using var client = new ChatClientBuilder(inner).UseRetry(5, TimeSpan.FromMilliseconds(1)).Build();
        await Assert.ThrowsAsync<HttpRequestException>(() => client.GetResponseAsync(Hello, cancellationToken: cts.Token));
        Assert.Equal(1, inner.Calls);
    }

    [Fact]
    public async Task Streaming_retry_covers_failures_before_the_first_update_only()
    {
        var before = new ScriptedChatClient(new HttpRequestException("refused"), "a b c");
        using var retrying = new ChatClientBuilder(before).UseRetry(2, TimeSpan.Zero).Build();
        Assert.Equal("a b c", await Drain(retrying.GetStreamingResponseAsync(Hello)));
        Assert.Equal(2, before.Calls);

        var midway = new ScriptedChatClient("a b c") { FailStreamAfterWords = 1 };
        using var notRetrying = new ChatClientBuilder(midway).UseRetry(2, TimeSpan.Zero).Build();
        await Assert.ThrowsAsync<HttpRequestException>(() => Drain(notRetrying.GetStreamingResponseAsync(Hello)));
        Assert.Equal(1, midway.Calls);
    }

    [Fact]
    public async Task Timeout_leaves_caller_cancellation_alone()
    {
        using var cts = new CancellationTokenSource();
        var inner = new ScriptedChatClient(async (_, _, ct) =>
        {
            await cts.CancelAsync();
            await Task.Delay(Timeout.Infinite, ct);
            return "never";
        });
        using var client = new ChatClientBuilder(inner).UseTimeout(TimeSpan.FromSeconds(30)).Build();
        var ex = await Assert.ThrowsAnyAsync<OperationCanceledException>(() => client.GetResponseAsync(Hello, cancellationToken: cts.Token));
        Assert.IsNotType<TimeoutException>(ex);
    }

    [Fact]
    public async Task Retry_outside_timeout_retries_a_timed_out_attempt()
    {
        var inner = new ScriptedChatClient(async (n, _, ct) =>
        {
            if (n == 1)
            {
                await Task.Delay(Timeout.Infinite, ct);
            }

            return "second try";
        });
        using var client = new ChatClientBuilder(inner)
            .UseRetry(1, TimeSpan.Zero)
            .UseTimeout(TimeSpan.FromMilliseconds(100))
            .Build();
        Assert.Equal("second try", (await client.GetResponseAsync(Hello)).Text);
        Assert.Equal(2, inner.Calls);
    }

    [Fact]
    public async Task Concurrency_limit_holds_streams_until_they_end()
    {
        var inFlight = 0;
        var max = 0;
        var gate = new object();
        var inner = new ScriptedChatClient(async (_, _, ct) =>
        {
            lock (gate)
            {
                max = Math.Max(max, ++inFlight);
            }

            await Task.Delay(30, ct);
            lock (gate)
            {
                inFlight--;
            }

            return "x y";
        });
        using var client = new ChatClientBuilder(inner).UseConcurrencyLimit(3).Build();
        var results = await Task.WhenAll(Enumerable.Range(0, 9).Select(i =>
            i % 2 == 0 ? Drain(client.GetStreamingResponseAsync(Hello)) : client.GetResponseAsync(Hello).ContinueWith(t => t.Result.Text, TaskScheduler.Default)));
        Assert.All(results, r => Assert.Equal("x y", r));
        Assert.Equal(3, max);
    }

    [Fact]
    public void Limits_must_be_sensible()
    {
        using var inner = new ScriptedChatClient("x");
        Assert.Throws<ArgumentOutOfRangeException>(() => new ChatClientBuilder(inner).UseConcurrencyLimit(0).Build());
        Assert.Throws<ArgumentOutOfRangeException>(() => new ChatClientBuilder(inner).UseTimeout(TimeSpan.Zero).Build());
        Assert.Throws<ArgumentOutOfRangeException>(() => new ChatClientBuilder(inner).UseRetry(-1).Build());
    }

    private sealed class FakeResponse(int status) : PipelineResponse
    {
        public override int Status => status;

        public override string ReasonPhrase => "fake";

        public override Stream? ContentStream { get; set; } = new MemoryStream();

        public override BinaryData Content => BinaryData.FromString("");

        protected override PipelineResponseHeaders HeadersCore => new NoHeaders();

        public override BinaryData BufferContent(CancellationToken cancellationToken = default) => Content;

        public override ValueTask<BinaryData> BufferContentAsync(CancellationToken cancellationToken = default) => ValueTask.FromResult(Content);

        public override void Dispose()
        {
        }
    }

    private sealed class NoHeaders : PipelineResponseHeaders
    {
        public override IEnumerator<KeyValuePair<string, string>> GetEnumerator() => Enumerable.Empty<KeyValuePair<string, string>>().GetEnumerator();

        public override bool TryGetValue(string name, out string? value)
        {
            value = null;
            return false;
        }

        public override bool TryGetValues(string name, out IEnumerable<string>? values)
        {
            values = null;
            return false;
        }
    }
}

using System.ClientModel;
using System.Globalization;
using System.Net;
using System.Net.Sockets;
using System.Runtime.CompilerServices;
using Microsoft.Extensions.AI;

namespace Attune.Llm.Middleware;

/// <summary>When and how <see cref="RetryingChatClient"/> retries.</summary>
public sealed record RetryOptions
{
    /// <summary>Retries after the first attempt (so at most <c>MaxRetries + 1</c> attempts).</summary>
    public int MaxRetries { get; init; } = 3;

    /// <summary>The wait before the first retry; each later wait is multiplied by <see cref="BackoffFactor"/>.</summary>
    public TimeSpan InitialDelay { get; init; } = TimeSpan.FromSeconds(1);

    public double BackoffFactor { get; init; } = 2.0;

    /// <summary>No wait is longer than this, a server's Retry-After included.</summary>
    public TimeSpan MaxDelay { get; init; } = TimeSpan.FromSeconds(60);

    /// <summary>Which failures are worth another try; <see cref="TransientFailures.IsTransient"/> by default.</summary>
    public Func<Exception, bool> IsTransient { get; init; } = TransientFailures.IsTransient;

    /// <summary>Called before each wait with the retry number (1-based), the failure and the wait.</summary>
    public Action<int, Exception, TimeSpan>? OnRetry { get; init; }

    /// <summary>The wait before retry <paramref name="retry"/> (1-based): initial × factor^(retry-1), capped.</summary>
    public TimeSpan DelayBefore(int retry)
    {
        var ms = InitialDelay.TotalMilliseconds * Math.Pow(BackoffFactor, retry - 1);
        return TimeSpan.FromMilliseconds(Math.Min(ms, MaxDelay.TotalMilliseconds));
    }
}

/// <summary>The failures that <see cref="RetryingChatClient"/> retries by default.</summary>
public static class TransientFailures
{
    /// <summary>
    /// True for network failures (<see cref="HttpRequestException"/> without a 4xx status,
    /// sockets, I/O), timeouts (<see cref="TimeoutException"/>, an HTTP client's timeout) and
    /// HTTP 429 or 5xx answers from the OpenAI client (<see cref="ClientResultException"/>); false for
    /// other 4xx answers, cancellations the caller asked for, and everything else.
    /// </summary>
    public static bool IsTransient(Exception exception) => exception switch
    {
        ClientResultException e => e.Status == 0 ? e.InnerException is null || IsTransient(e.InnerException) : IsTransientStatus(e.Status),
        HttpRequestException e => e.StatusCode is not { } status || IsTransientStatus((int)status),
        TimeoutException or SocketException or IOException => true,
        TaskCanceledException e => e.InnerException is TimeoutException,
        _ => false,
    };

    /// <summary>429 and 5xx.</summary>
    public static bool IsTransientStatus(int status) => status == (int)HttpStatusCode.TooManyRequests || status >= 500;
}

/// <summary>
/// Retries transient failures (see <see cref="TransientFailures"/>) with exponential backoff. A
/// streaming call is retried only when it fails before its first update; once text has reached
/// the caller, a failure is passed on.
/// </summary>
public sealed class RetryingChatClient : DelegatingChatClient
{
    private readonly RetryOptions _options;

    public RetryingChatClient(IChatClient innerClient, RetryOptions? options = null) : base(innerClient)
    {
        _options = options ?? new RetryOptions();
        ArgumentOutOfRangeException.ThrowIfNegative(_options.MaxRetries);
        ArgumentOutOfRangeException.ThrowIfLessThan(_options.BackoffFactor, 1.0);
    }

    public override async Task<ChatResponse> GetResponseAsync(
        IEnumerable<ChatMessage> messages, ChatOptions? options = null, CancellationToken cancellationToken = default)
    {
        var list = messages as IList<ChatMessage> ?? [.. messages];
        for (var retry = 1; ; retry++)
        {
            try
            {
                return await base.GetResponseAsync(list, options, cancellationToken).ConfigureAwait(false);
            }
            catch (Exception ex) when (ShouldRetry(ex, retry, cancellationToken))
            {
                await WaitAsync(retry, ex, cancellationToken).ConfigureAwait(false);
            }
        }
    }

    public override async IAsyncEnumerable<ChatResponseUpdate> GetStreamingResponseAsync(
        IEnumerable<ChatMessage> messages, ChatOptions? options = null, [EnumeratorCancellation] CancellationToken cancellationToken = default)
    {
        var list = messages as IList<ChatMessage> ?? [.. messages];
        for (var retry = 1; ; retry++)
        {
            var stream = base.GetStreamingResponseAsync(list, options, cancellationToken).GetAsyncEnumerator(cancellationToken);
            bool hasFirst;
            Exception? failure = null;
            try
            {
                hasFirst = await stream.MoveNextAsync().ConfigureAwait(false);
            }
            catch (Exception ex) when (ShouldRetry(ex, retry, cancellationToken))
            {
                failure = ex;
                hasFirst = false;
            }

            if (failure is not null)
            {
                await stream.DisposeAsync().ConfigureAwait(false);
                await WaitAsync(retry, failure, cancellationToken).ConfigureAwait(false);
                continue;
            }

            try
            {
                if (hasFirst)
                {
                    yield return stream.Current;
                    while (await stream.MoveNextAsync().ConfigureAwait(false))
                    {
                        yield return stream.Current;
                    }
                }
            }
            finally
            {
                await stream.DisposeAsync().ConfigureAwait(false);
            }

            yield break;
        }
    }

    private bool ShouldRetry(Exception ex, int retry, CancellationToken cancellationToken) =>
        retry <= _options.MaxRetries && !cancellationToken.IsCancellationRequested && _options.IsTransient(ex);

    private async Task WaitAsync(int retry, Exception failure, CancellationToken cancellationToken)
    {
        var delay = _options.DelayBefore(retry);
        if (RetryAfter(failure) is { } asked && asked > delay)
        {
            delay = asked < _options.MaxDelay ? asked : _options.MaxDelay;
        }

        _options.OnRetry?.Invoke(retry, failure, delay);
        await Task.Delay(delay, cancellationToken).ConfigureAwait(false);
    }

    /// <summary>A server's Retry-After (seconds form) on a 429/503 from the OpenAI client.</summary>
    private static TimeSpan? RetryAfter(Exception failure)
    {
        if (failure is ClientResultException e && e.GetRawResponse() is { } response
            && response.Headers.TryGetValue("Retry-After", out var value)
            && double.TryParse(value, NumberStyles.Float, CultureInfo.InvariantCulture, out var seconds) && seconds >= 0)
        {
            return TimeSpan.FromSeconds(seconds);
        }

        return null;
    }
}

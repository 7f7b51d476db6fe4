using Attune.Llm.Middleware;
using Microsoft.Extensions.AI;

namespace Attune.Llm;

/// <summary>
/// Attune's middleware, added the Microsoft.Extensions.AI way. The first <c>Use…</c> is the
/// outermost layer, e.g.
/// <c>LlmEndpoints.Create(spec).AsBuilder().UseRecording("run.jsonl").UseRetry(3).UseTimeout(TimeSpan.FromSeconds(60)).UseConcurrencyLimit(4).Build()</c>
/// records each answered call once, retries calls that time out, and limits each attempt.
/// </summary>
public static class ChatClientBuilderExtensions
{
    /// <summary>Appends every exchange to the JSON-lines log at <paramref name="path"/> (see <see cref="RecordingChatClient"/>).</summary>
    public static ChatClientBuilder UseRecording(this ChatClientBuilder builder, string path)
    {
        ArgumentNullException.ThrowIfNull(builder);
        return builder.Use(inner => new RecordingChatClient(inner, path));
    }

    /// <summary>Answers from the log at <paramref name="path"/>, never calling the inner client (see <see cref="ReplayChatClient"/>).</summary>
    public static ChatClientBuilder UseReplay(this ChatClientBuilder builder, string path)
    {
        ArgumentNullException.ThrowIfNull(builder);
        return builder.Use(inner => new ReplayChatClient(inner, path));
    }

    /// <summary>
    /// Retries transient failures up to <paramref name="maxRetries"/> times, waiting
    /// <paramref name="initialDelay"/> (default 1 s) × <paramref name="backoffFactor"/>^(n-1), at most
    /// <paramref name="maxDelay"/> (default 60 s); see <see cref="TransientFailures"/>.
    /// </summary>
    public static ChatClientBuilder UseRetry(
        this ChatClientBuilder builder,
        int maxRetries = 3,
        TimeSpan? initialDelay = null,
        double backoffFactor = 2.0,
        TimeSpan? maxDelay = null,
        Func<Exception, bool>? isTransient = null,
        Action<int, Exception, TimeSpan>? onRetry = null)
    {
        ArgumentNullException.ThrowIfNull(builder);
        var defaults = new RetryOptions();
        var options = new RetryOptions
        {
            MaxRetries = maxRetries,
            InitialDelay = initialDelay ?? defaults.InitialDelay,
            BackoffFactor = backoffFactor,
            MaxDelay = maxDelay ?? defaults.MaxDelay,
            IsTransient = isTransient ?? defaults.IsTransient,
            OnRetry = onRetry,
        };
        return builder.UseRetry(options);
    }

    /// <summary>Retries as <paramref name="options"/> say.</summary>
    public static ChatClientBuilder UseRetry(this ChatClientBuilder builder, RetryOptions options)
    {
        ArgumentNullException.ThrowIfNull(builder);
        ArgumentNullException.ThrowIfNull(options);
        return builder.Use(inner => new RetryingChatClient(inner, options));
    }

    /// <summary>Fails each call that takes longer than <paramref name="timeout"/> with a <see cref="TimeoutException"/>.</summary>
    public static ChatClientBuilder UseTimeout(this ChatClientBuilder builder, TimeSpan timeout)
    {
        ArgumentNullException.ThrowIfNull(builder);
        return builder.Use(inner => new TimeoutChatClient(inner, timeout));
    }

    /// <summary>Lets at most <paramref name="maxConcurrentCalls"/> calls through this client at once.</summary>
    public static ChatClientBuilder UseConcurrencyLimit(this ChatClientBuilder builder, int maxConcurrentCalls)
    {
        ArgumentNullException.ThrowIfNull(builder);
        return builder.Use(inner => new ConcurrencyLimitingChatClient(inner, maxConcurrentCalls));
    }
}

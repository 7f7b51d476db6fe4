using System.Globalization;
using System.Runtime.CompilerServices;
using Microsoft.Extensions.AI;

namespace Attune.Llm.Middleware;

/// <summary>
/// Gives each call at most a fixed time (for a streaming call: until its last update). A call
/// that runs over is cancelled and becomes a <see cref="TimeoutException"/> that names the model,
/// the request (key and last user message) and the limit. Cancellation by the caller stays an
/// <see cref="OperationCanceledException"/>.
/// </summary>
public sealed class TimeoutChatClient : DelegatingChatClient
{
    public TimeoutChatClient(IChatClient innerClient, TimeSpan timeout) : base(innerClient)
    {
        if (timeout <= TimeSpan.Zero && timeout != System.Threading.Timeout.InfiniteTimeSpan)
        {
            throw new ArgumentOutOfRangeException(nameof(timeout), timeout, "the timeout must be positive");
        }

        Timeout = timeout;
    }

    public TimeSpan Timeout { get; }

    public override async Task<ChatResponse> GetResponseAsync(
        IEnumerable<ChatMessage> messages, ChatOptions? options = null, CancellationToken cancellationToken = default)
    {
        var list = messages as IList<ChatMessage> ?? [.. messages];
        using var limit = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        limit.CancelAfter(Timeout);
        try
        {
            return await base.GetResponseAsync(list, options, limit.Token).ConfigureAwait(false);
        }
        catch (OperationCanceledException ex) when (limit.IsCancellationRequested && !cancellationToken.IsCancellationRequested)
        {
            throw TimedOut(list, options, ex);
        }
    }

    public override async IAsyncEnumerable<ChatResponseUpdate> GetStreamingResponseAsync(
        IEnumerable<ChatMessage> messages, ChatOptions? options = null, [EnumeratorCancellation] CancellationToken cancellationToken = default)
    {
        var list = messages as IList<ChatMessage> ?? [.. messages];
        using var limit = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        limit.CancelAfter(Timeout);
        var stream = base.GetStreamingResponseAsync(list, options, limit.Token).GetAsyncEnumerator(limit.Token);
        try
        {
            while (true)
            {
                bool more;
                try
                {
                    more = await stream.MoveNextAsync().ConfigureAwait(false);
                }
                catch (OperationCanceledException ex) when (limit.IsCancellationRequested && !cancellationToken.IsCancellationRequested)
                {
                    throw TimedOut(list, options, ex);
                }

                if (!more)
                {
                    yield break;
                }

                yield return stream.Current;
            }
        }
        finally
        {
            await stream.DisposeAsync().ConfigureAwait(false);
        }
    }

    private TimeoutException TimedOut(IList<ChatMessage> messages, ChatOptions? options, Exception inner)
    {
        var model = options?.ModelId ?? this.GetService<ChatClientMetadata>()?.DefaultModelId ?? "(unknown model)";
        var seconds = Timeout.TotalSeconds.ToString("0.###", CultureInfo.InvariantCulture);
        return new TimeoutException(
            $"language-model call to '{model}' timed out after {seconds} s: {ExchangeKey.Describe(messages, options)}", inner);
    }
}

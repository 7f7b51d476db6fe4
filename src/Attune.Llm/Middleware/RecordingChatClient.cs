using System.Diagnostics;
using System.Runtime.CompilerServices;
using System.Text.Json;
using Microsoft.Extensions.AI;

namespace Attune.Llm.Middleware;

/// <summary>
/// Appends every completed exchange to a JSON-lines log (see <see cref="ExchangeRecord"/>),
/// keyed by <see cref="ExchangeKey"/>. Streaming calls are recorded once the stream has been
/// read to its end, as the aggregate of their updates; failed or abandoned calls are not recorded.
/// </summary>
public sealed class RecordingChatClient : DelegatingChatClient
{
    public RecordingChatClient(IChatClient innerClient, string path) : base(innerClient)
    {
        ArgumentException.ThrowIfNullOrWhiteSpace(path);
        LogPath = Path.GetFullPath(path);
        var directory = Path.GetDirectoryName(LogPath);
        if (!string.IsNullOrEmpty(directory))
        {
            Directory.CreateDirectory(directory);
        }
    }

    public string LogPath { get; }

    public override async Task<ChatResponse> GetResponseAsync(
        IEnumerable<ChatMessage> messages, ChatOptions? options = null, CancellationToken cancellationToken = default)
    {
        var list = messages as IList<ChatMessage> ?? [.. messages];
        var canonical = ExchangeKey.CanonicalJson(list, options);
        var clock = Stopwatch.StartNew();
        var response = await base.GetResponseAsync(list, options, cancellationToken).ConfigureAwait(false);
        Record(canonical, options, response, clock.Elapsed, streaming: false);
        return response;
    }

    public override async IAsyncEnumerable<ChatResponseUpdate> GetStreamingResponseAsync(
        IEnumerable<ChatMessage> messages, ChatOptions? options = null, [EnumeratorCancellation] CancellationToken cancellationToken = default)
    {
        var list = messages as IList<ChatMessage> ?? [.. messages];
        var canonical = ExchangeKey.CanonicalJson(list, options);
        var clock = Stopwatch.StartNew();
        var updates = new List<ChatResponseUpdate>();
        await foreach (var update in base.GetStreamingResponseAsync(list, options, cancellationToken).ConfigureAwait(false))
        {
            updates.Add(update);
            yield return update;
        }

        Record(canonical, options, updates.ToChatResponse(), clock.Elapsed, streaming: true);
    }

    private void Record(byte[] canonical, ChatOptions? options, ChatResponse response, TimeSpan latency, bool streaming)
    {
        using var request = JsonDocument.Parse(canonical);
        var record = new ExchangeRecord
        {
            Key = ExchangeKey.Hash(canonical),
            Time = DateTimeOffset.UtcNow,
            Streaming = streaming,
            Model = response.ModelId ?? options?.ModelId ?? this.GetService<ChatClientMetadata>()?.DefaultModelId,
            LatencyMs = Math.Round(latency.TotalMilliseconds, 3),
            Request = request.RootElement.Clone(),
            Response = ExchangeResponse.From(response),
            Scripted = StandIn.IsScripted(this),
        };
        ExchangeLog.Append(LogPath, record);
    }
}

using System.Runtime.CompilerServices;
using Attune.Core.Errors;
using Microsoft.Extensions.AI;

namespace Attune.Llm.Middleware;

/// <summary>
/// Answers from an exchange log without calling the inner client. The log is read when the client
/// is built; a malformed line is an <see cref="AttuneInputException"/> naming the file and line.
/// A request whose key is not in the log is a <see cref="ReplayMissException"/>. When the log holds
/// several answers for one key (sampling, repeated prompts), they are served in recorded order and
/// the last one repeats once they run out. Streaming calls get the recorded response as updates.
/// </summary>
public sealed class ReplayChatClient : DelegatingChatClient
{
    private readonly Dictionary<string, List<(long Line, ExchangeRecord Record)>> _answers = new(StringComparer.Ordinal);
    private readonly Dictionary<string, int> _served = new(StringComparer.Ordinal);
    private readonly Lock _gate = new();

    public ReplayChatClient(IChatClient innerClient, string path) : base(innerClient)
    {
        ArgumentException.ThrowIfNullOrWhiteSpace(path);
        LogPath = path;
        foreach (var (line, record) in ExchangeLog.Read(path))
        {
            if (!_answers.TryGetValue(record.Key, out var list))
            {
                _answers[record.Key] = list = [];
            }

            // Fail now, at the line, rather than at the call that would need it.
            _ = record.Response.ToChatResponse(path, line);
            list.Add((line, record));
            Scripted |= record.Scripted;
        }
    }

    /// <summary>Whether the log was recorded from a scripted stand-in rather than a language model.</summary>
    public bool Scripted { get; }

    /// <inheritdoc/>
    /// <remarks>A log recorded from a scripted stand-in reports the stand-in's provider name, so that
    /// <see cref="StandIn.IsScripted"/> (and a recording of this replay) still knows it.</remarks>
    public override object? GetService(Type serviceType, object? serviceKey = null) =>
        Scripted && serviceKey is null && serviceType == typeof(ChatClientMetadata)
            ? new ChatClientMetadata(StandIn.ProviderName)
            : base.GetService(serviceType, serviceKey);

    public string LogPath { get; }

    /// <summary>How many distinct requests the log answers.</summary>
    public int Count => _answers.Count;

    public override Task<ChatResponse> GetResponseAsync(
        IEnumerable<ChatMessage> messages, ChatOptions? options = null, CancellationToken cancellationToken = default)
    {
        cancellationToken.ThrowIfCancellationRequested();
        return Task.FromResult(Answer(messages, options));
    }

    public override async IAsyncEnumerable<ChatResponseUpdate> GetStreamingResponseAsync(
        IEnumerable<ChatMessage> messages, ChatOptions? options = null, [EnumeratorCancellation] CancellationToken cancellationToken = default)
    {
        var response = Answer(messages, options);
        foreach (var update in response.ToChatResponseUpdates())
        {
            cancellationToken.ThrowIfCancellationRequested();
            yield return update;
        }

        await Task.CompletedTask.ConfigureAwait(false);
    }

    private ChatResponse Answer(IEnumerable<ChatMessage> messages, ChatOptions? options)
    {
        var list = messages as IList<ChatMessage> ?? [.. messages];
        var key = ExchangeKey.Compute(list, options);
        (long Line, ExchangeRecord Record) entry;
        lock (_gate)
        {
            if (!_answers.TryGetValue(key, out var recorded))
            {
                throw new ReplayMissException(LogPath, key, ExchangeKey.Preview(list));
            }

            var served = _served.GetValueOrDefault(key);
            entry = recorded[Math.Min(served, recorded.Count - 1)];
            _served[key] = served + 1;
        }

        return entry.Record.Response.ToChatResponse(LogPath, entry.Line);
    }
}

/// <summary>The inner client of <c>replay:FILE</c>: there is no model behind it.</summary>
internal sealed class NoModelChatClient(string spec) : IChatClient
{
    private readonly ChatClientMetadata _metadata = new("replay");

    public Task<ChatResponse> GetResponseAsync(IEnumerable<ChatMessage> messages, ChatOptions? options = null, CancellationToken cancellationToken = default) =>
        throw new InvalidOperationException($"'{spec}' replays a log and has no model to call");

    public IAsyncEnumerable<ChatResponseUpdate> GetStreamingResponseAsync(IEnumerable<ChatMessage> messages, ChatOptions? options = null, CancellationToken cancellationToken = default) =>
        throw new InvalidOperationException($"'{spec}' replays a log and has no model to call");

    public object? GetService(Type serviceType, object? serviceKey = null) =>
        serviceKey is null && serviceType == typeof(ChatClientMetadata) ? _metadata
        : serviceKey is null && serviceType.IsInstanceOfType(this) ? this : null;

    public void Dispose()
    {
    }
}

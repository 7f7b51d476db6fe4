using System.Runtime.CompilerServices;
using Microsoft.Extensions.AI;

namespace Attune.Llm.Tests;

/// <summary>
/// Stands in for a model in unit tests of middleware: each call runs the next step of a script
/// (an answer text, or an exception to throw), the last step repeating; streaming answers come
/// word by word. It counts calls.
/// </summary>
internal sealed class ScriptedChatClient : IChatClient
{
    private readonly Func<int, IList<ChatMessage>, CancellationToken, Task<string>> _step;
    private int _calls;

    public ScriptedChatClient(Func<int, IList<ChatMessage>, CancellationToken, Task<string>> step) => _step = step;

    public ScriptedChatClient(params object[] script)
        : this((n, _, _) => script[Math.Min(n, script.Length) - 1] switch
        {
            Exception e => Task.FromException<string>(e),
            var text => Task.FromResult((string)text),
        })
    {
    }

    public int Calls => Volatile.Read(ref _calls);

    /// <summary>Stream failure after this many words (for tests of partial streams); -1 for never.</summary>
    public int FailStreamAfterWords { get; init; } = -1;

    public async Task<ChatResponse> GetResponseAsync(IEnumerable<ChatMessage> messages, ChatOptions? options = null, CancellationToken cancellationToken = default)
    {
        var n = Interlocked.Increment(ref _calls);
        var text = await _step(n, [.. messages], cancellationToken);
        return new ChatResponse(new ChatMessage(ChatRole.Assistant, text)) { ModelId = "scripted", FinishReason = ChatFinishReason.Stop };
    }

    public async IAsyncEnumerable<ChatResponseUpdate> GetStreamingResponseAsync(
        IEnumerable<ChatMessage> messages, ChatOptions? options = null, [EnumeratorCancellation] CancellationToken cancellationToken = default)
    {
        var n = Interlocked.Increment(ref _calls);
        var text = await _step(n, [.. messages], cancellationToken);
        var words = text.Split(' ');
        for (var i = 0; i < words.Length; i++)
        {
            if (i == FailStreamAfterWords)
            {
                throw new HttpRequestException("connection reset mid-stream");
            }

            yield return new ChatResponseUpdate(ChatRole.Assistant, i == 0 ? words[i] : " " + words[i]) { ModelId = "scripted", MessageId = "m1" };
        }
    }

    public object? GetService(Type serviceType, object? serviceKey = null) => serviceType.IsInstanceOfType(this) ? this : null;

    public void Dispose()
    {
    }
}

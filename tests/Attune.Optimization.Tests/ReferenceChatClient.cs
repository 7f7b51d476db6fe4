using System.Text.Json;
using System.Text.RegularExpressions;
using Attune.Llm;
using Microsoft.Extensions.AI;

namespace Attune.Optimization.Tests;

/// <summary>
/// A stand-in for a language model in tests: it reads the variable name from an EquivaMap prompt
/// (the first name in backticks) and answers from a given map, as JSON or "none"; optional
/// <see cref="Wrap"/> adds prose around the JSON, as chat models do. It counts calls.
/// </summary>
internal sealed partial class ReferenceChatClient(Func<string, string> answer) : IChatClient
{
    public ReferenceChatClient(LinearMap map, bool wrap = false)
        : this(variable => Answer(map, variable, wrap))
    {
    }

    public int Calls { get; private set; }

    public static bool Wrap { get; set; }

    [GeneratedRegex("`([^`]+)`")]
    private static partial Regex FirstName();

    public static string Answer(LinearMap map, string variable, bool wrap)
    {
        var json = map.Entries.TryGetValue(variable, out var combination) && combination.Count > 0
            ? JsonSerializer.Serialize(combination)
            : "none";
        return wrap ? $"Looking at the rows where {variable} appears, the combination is:\n```json\n{json}\n```" : json;
    }

    public Task<ChatResponse> GetResponseAsync(IEnumerable<ChatMessage> messages, ChatOptions? options = null, CancellationToken cancellationToken = default)
    {
        Calls++;
        var prompt = messages.Last(m => m.Role == ChatRole.User).Text;
        var variable = FirstName().Match(prompt).Groups[1].Value;
        return Task.FromResult(new ChatResponse(new ChatMessage(ChatRole.Assistant, answer(variable))) { ModelId = "reference-map-stand-in" });
    }

    public IAsyncEnumerable<ChatResponseUpdate> GetStreamingResponseAsync(IEnumerable<ChatMessage> messages, ChatOptions? options = null, CancellationToken cancellationToken = default) =>
        throw new NotSupportedException();

    /// <summary>Reports itself as a scripted stand-in (<see cref="StandIn.ProviderName"/>), so that recordings of it say so.</summary>
    public object? GetService(Type serviceType, object? serviceKey = null) =>
        serviceKey is null && serviceType == typeof(ChatClientMetadata) ? new ChatClientMetadata(StandIn.ProviderName, defaultModelId: "reference-map-stand-in")
        : serviceType.IsInstanceOfType(this) ? this : null;

    public void Dispose()
    {
    }
}

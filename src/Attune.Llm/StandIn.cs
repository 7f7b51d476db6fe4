using Microsoft.Extensions.AI;

namespace Attune.Llm;

/// <summary>
/// Scripted stand-ins: programs that play a language model by fixed rules, used to exercise a
/// pipeline end to end where no model is available. Their answers are evidence about the code, never
/// about a model, so a reproduction whose claims are about a model reports such a claim as
/// <c>not measured</c>. A stand-in says what it is by its <see cref="ChatClientMetadata.ProviderName"/>;
/// a recording of it marks every record <c>"scripted": true</c>, and a replay of that log keeps saying so.
/// </summary>
public static class StandIn
{
    /// <summary>The provider name a scripted stand-in reports in its <see cref="ChatClientMetadata"/>.</summary>
    public const string ProviderName = "scripted";

    /// <summary>Whether <paramref name="client"/> is (or replays a log of) a scripted stand-in.</summary>
    public static bool IsScripted(IChatClient client)
    {
        ArgumentNullException.ThrowIfNull(client);
        return string.Equals(client.GetService<ChatClientMetadata>()?.ProviderName, ProviderName, StringComparison.Ordinal);
    }
}

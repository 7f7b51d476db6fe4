using System.Collections.Concurrent;
using Attune.Core.Errors;
using Attune.Llm.Endpoints;
using Attune.Llm.Middleware;
using Microsoft.Extensions.AI;

namespace Attune.Llm;

/// <summary>
/// Turns an endpoint spec into an <see cref="IChatClient"/>. The built-in schemes are
/// <c>http</c>/<c>https</c> (OpenAI-compatible servers), <c>gguf</c> (LLamaSharp in process) and
/// <c>replay</c> (a recorded exchange log). Other assemblies add schemes with
/// <see cref="Register"/>; Attune.Torch registers <c>hf</c> this way.
/// </summary>
public static class LlmEndpoints
{
    private static readonly string[] BuiltIn = ["gguf", "http", "https", "replay"];

    private static readonly ConcurrentDictionary<string, Func<LlmSpec, IChatClient>> Factories = new(
        [
            new("http", OpenAiCompatibleEndpoint.Create),
            new("https", OpenAiCompatibleEndpoint.Create),
            new("gguf", GgufEndpoint.Create),
            new("replay", CreateReplay),
        ],
        StringComparer.Ordinal);

    /// <summary>The schemes that <see cref="Create(string)"/> accepts now, sorted.</summary>
    public static IReadOnlyList<string> KnownSchemes => [.. Factories.Keys.Order(StringComparer.Ordinal)];

    /// <summary>
    /// Registers (or replaces) the factory of <paramref name="scheme"/>, e.g.
    /// <c>LlmEndpoints.Register("hf", spec =&gt; new TorchChatClient(spec.Target))</c>. The factory
    /// receives the parsed spec (<see cref="LlmSpec.Target"/> is the text after <c>hf:</c>) and
    /// should throw <see cref="AttuneInputException"/> for bad input. Built-in schemes cannot be replaced.
    /// </summary>
    public static void Register(string scheme, Func<LlmSpec, IChatClient> factory)
    {
        ArgumentException.ThrowIfNullOrWhiteSpace(scheme);
        ArgumentNullException.ThrowIfNull(factory);
        var key = scheme.ToLowerInvariant();
        if (BuiltIn.Contains(key, StringComparer.Ordinal))
        {
            throw new ArgumentException($"the built-in scheme '{key}' cannot be replaced", nameof(scheme));
        }

        Factories[key] = factory;
    }

    /// <summary>Removes a registered scheme; returns whether it was there. Built-in schemes stay.</summary>
    public static bool Unregister(string scheme)
    {
        ArgumentException.ThrowIfNullOrWhiteSpace(scheme);
        var key = scheme.ToLowerInvariant();
        return !BuiltIn.Contains(key, StringComparer.Ordinal) && Factories.TryRemove(key, out _);
    }

    /// <summary>Parses <paramref name="spec"/> and creates its client; bad specs are <see cref="AttuneInputException"/>s.</summary>
    public static IChatClient Create(string? spec) => Create(LlmSpec.Parse(spec));

    /// <summary>Creates the client of an already parsed spec.</summary>
    public static IChatClient Create(LlmSpec spec)
    {
        ArgumentNullException.ThrowIfNull(spec);
        if (!Factories.TryGetValue(spec.Scheme, out var factory))
        {
            throw new AttuneInputException(
                $"llm spec '{spec.Text}': unknown scheme '{spec.Scheme}' (known: {string.Join(", ", KnownSchemes)})");
        }

        return factory(spec);
    }

    private static IChatClient CreateReplay(LlmSpec spec)
    {
        spec.RequireOnlyParameters();
        return new ReplayChatClient(new NoModelChatClient(spec.Text), spec.Target);
    }
}

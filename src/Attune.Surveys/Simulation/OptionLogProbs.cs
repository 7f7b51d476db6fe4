using System.Globalization;
using System.Text.Json;
using Microsoft.Extensions.AI;

namespace Attune.Surveys.Simulation;

/// <summary>
/// Option probabilities from the log-probabilities of the first answer token. The endpoint is asked
/// for the top log-probs (OpenAI's <c>logprobs</c>/<c>top_logprobs</c>); <see cref="CaptureChatClient"/>
/// copies them from the raw OpenAI response into the response message's additional properties under
/// <see cref="PropertyName"/> (a JSON object text <c>{"token": logprob, …}</c>), where an exchange log
/// records them and replay gives them back.
/// </summary>
public static class OptionLogProbs
{
    public const string PropertyName = "attune_top_logprobs";

    public const int TopCount = 20;

    /// <summary>Options for a one-token answer with log-probs requested.</summary>
    public static ChatOptions Request(int seed) => new()
    {
        Temperature = 0,
        MaxOutputTokens = 1,
        Seed = seed,
        AdditionalProperties = new AdditionalPropertiesDictionary { ["logprobs"] = true, ["top_logprobs"] = TopCount },
        RawRepresentationFactory = _ => new OpenAI.Chat.ChatCompletionOptions { IncludeLogProbabilities = true, TopLogProbabilityCount = TopCount },
    };

    /// <summary>The top log-probs of the first token, if the response carries them.</summary>
    public static IReadOnlyDictionary<string, double>? TopLogProbs(ChatResponse response)
    {
        ArgumentNullException.ThrowIfNull(response);
        foreach (var message in response.Messages)
        {
            if (message.AdditionalProperties?.TryGetValue(PropertyName, out var value) == true && value is not null)
                return Parse(value);
        }
        return FromRaw(response.RawRepresentation);
    }

    /// <summary>Probabilities of the options' letters, normalised over the options; null when no letter is among the top tokens.</summary>
    public static double[]? OptionProbabilities(IReadOnlyDictionary<string, double> topLogProbs, int options)
    {
        ArgumentNullException.ThrowIfNull(topLogProbs);
        var p = new double[options];
        foreach (var (token, logProb) in topLogProbs)
        {
            var t = token.Trim().TrimStart('(').TrimEnd('.', ')', ':');
            if (t.Length == 1 && t[0] >= 'A' && t[0] - 'A' < options) p[t[0] - 'A'] += Math.Exp(logProb);
        }
        double sum = p.Sum();
        if (sum <= 0) return null;
        for (int k = 0; k < options; k++) p[k] /= sum;
        return p;
    }

    internal static Dictionary<string, double>? FromRaw(object? raw)
    {
        if (raw is not OpenAI.Chat.ChatCompletion completion || completion.ContentTokenLogProbabilities.Count == 0) return null;
        var first = completion.ContentTokenLogProbabilities[0];
        var top = new Dictionary<string, double>(StringComparer.Ordinal);
        foreach (var t in first.TopLogProbabilities) top.TryAdd(t.Token, t.LogProbability);
        top.TryAdd(first.Token, first.LogProbability);
        return top;
    }

    internal static string Serialize(IReadOnlyDictionary<string, double> top) => JsonSerializer.Serialize(top);

    private static Dictionary<string, double>? Parse(object value)
    {
        try
        {
            var element = value switch
            {
                JsonElement e when e.ValueKind == JsonValueKind.String => JsonDocument.Parse(e.GetString()!).RootElement,
                JsonElement e => e,
                string s => JsonDocument.Parse(s).RootElement,
                IReadOnlyDictionary<string, double> d => JsonSerializer.SerializeToElement(d),
                _ => default,
            };
            if (element.ValueKind != JsonValueKind.Object) return null;
            var top = new Dictionary<string, double>(StringComparer.Ordinal);
            foreach (var p in element.EnumerateObject())
                if (p.Value.ValueKind == JsonValueKind.Number) top[p.Name] = p.Value.GetDouble();
            return top;
        }
        catch (JsonException)
        {
            return null;
        }
    }

    internal static string Format(double x) => x.ToString("R", CultureInfo.InvariantCulture);
}

/// <summary>
/// Copies the first token's top log-probs from the raw OpenAI response into the message's
/// additional properties, so that recording keeps them and replay returns them.
/// </summary>
public sealed class CaptureChatClient(IChatClient inner) : DelegatingChatClient(inner)
{
    public override async Task<ChatResponse> GetResponseAsync(
        IEnumerable<ChatMessage> messages, ChatOptions? options = null, CancellationToken cancellationToken = default)
    {
        var response = await base.GetResponseAsync(messages, options, cancellationToken).ConfigureAwait(false);
        var top = OptionLogProbs.FromRaw(response.RawRepresentation);
        if (top is not null && response.Messages.Count > 0)
        {
            var message = response.Messages[^1];
            message.AdditionalProperties ??= [];
            message.AdditionalProperties[OptionLogProbs.PropertyName] = OptionLogProbs.Serialize(top);
        }
        return response;
    }
}

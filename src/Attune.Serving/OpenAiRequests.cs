using System.Text.Json;
using Attune.Llm;
using Microsoft.Extensions.AI;

namespace Attune.Serving;

/// <summary>A request the server refuses, in OpenAI's error shape: status, message, type, the field (<c>param</c>) and a code.</summary>
public sealed class OpenAiError : Exception
{
    public OpenAiError(int status, string message, string type = InvalidRequest, string? param = null, string? code = null)
        : base(message)
    {
        Status = status;
        Type = type;
        Param = param;
        Code = code;
    }

    public OpenAiError() : this(400, "bad request") { }

    public OpenAiError(string message) : this(400, message) { }

    public OpenAiError(string message, Exception inner) : base(message, inner)
    {
        Status = 400;
        Type = InvalidRequest;
    }

    public const string InvalidRequest = "invalid_request_error";

    public int Status { get; }

    public string Type { get; }

    public string? Param { get; }

    public string? Code { get; }

    /// <summary>400 naming <paramref name="param"/>.</summary>
    public static OpenAiError Bad(string param, string message) => new(400, $"{param}: {message}", InvalidRequest, param, "invalid_value");
}

/// <summary>The sampling fields that chat and completion requests share.</summary>
internal sealed record Sampling(int? MaxTokens, double Temperature, double TopP, long? Seed, IReadOnlyList<string> Stop, int N, string? User, bool Stream, bool IncludeUsage, bool IgnoreEos);

/// <summary>A parsed <c>POST /v1/chat/completions</c> body.</summary>
internal sealed record ChatRequest(string? Model, IReadOnlyList<ChatMessage> Messages, Sampling Sampling, bool LogProbs, int TopLogProbs);

/// <summary>A parsed <c>POST /v1/completions</c> body: one or more prompts (text or token ids).</summary>
internal sealed record CompletionRequest(string? Model, IReadOnlyList<TokenPrompt> Prompts, Sampling Sampling, bool Echo, int? LogProbs);

/// <summary>
/// Reads OpenAI request bodies field by field; every malformed field is an <see cref="OpenAiError"/>
/// (400) that names it, as OpenAI's <c>param</c> does. Fields the server cannot honour (tools,
/// penalties, logit bias, a JSON response format) are refused rather than ignored.
/// </summary>
internal static class OpenAiRequests
{
    /// <summary>
    /// Limits: 20 top log-probs (5 for completions) and n up to 128 as OpenAI's; up to 16 stop sequences
    /// (OpenAI takes 4; evaluation harnesses send more, as vLLM allows).
    /// </summary>
    public const int MaxStops = 16;

    public const int MaxTopLogProbsChat = 20;

    public const int MaxTopLogProbsCompletion = 5;

    public const int MaxN = 128;

    private static readonly string[] Roles = ["system", "developer", "user", "assistant", "tool"];

    public static ChatRequest Chat(JsonElement body)
    {
        RequireObject(body);
        var messages = new List<ChatMessage>();
        if (!body.TryGetProperty("messages", out var list) || list.ValueKind != JsonValueKind.Array)
        {
            throw OpenAiError.Bad("messages", "required: an array of {role, content} objects");
        }

        if (list.GetArrayLength() == 0)
        {
            throw OpenAiError.Bad("messages", "empty: give at least one message");
        }

        var i = 0;
        foreach (var m in list.EnumerateArray())
        {
            var at = $"messages[{i}]";
            if (m.ValueKind != JsonValueKind.Object)
            {
                throw OpenAiError.Bad(at, "expected an object {role, content}");
            }

            var role = m.TryGetProperty("role", out var r) && r.ValueKind == JsonValueKind.String ? r.GetString()! : null;
            if (role is null || !Roles.Contains(role, StringComparer.Ordinal))
            {
                throw OpenAiError.Bad(at + ".role", $"expected one of {string.Join(", ", Roles)}");
            }

            messages.Add(new ChatMessage(new ChatRole(role == "developer" ? "system" : role), Content(m, at, role)));
            i++;
        }

        Refuse(body, "tools", "tool_choice", "functions", "function_call", "logit_bias", "audio", "prediction");
        if (body.TryGetProperty("response_format", out var format) && format.ValueKind != JsonValueKind.Null
            && !(format.ValueKind == JsonValueKind.Object && format.TryGetProperty("type", out var t) && t.ValueEquals("text")))
        {
            throw OpenAiError.Bad("response_format", "only {\"type\": \"text\"} is supported");
        }

        var logprobs = Bool(body, "logprobs") ?? false;
        var top = Int(body, "top_logprobs", 0, MaxTopLogProbsChat);
        if (top is not null && !logprobs)
        {
            throw OpenAiError.Bad("top_logprobs", "needs \"logprobs\": true");
        }

        var maxTokens = Int(body, "max_completion_tokens", 1, int.MaxValue) ?? Int(body, "max_tokens", 1, int.MaxValue);
        return new ChatRequest(Model(body), messages, Common(body, maxTokens), logprobs, top ?? 0);
    }

    public static CompletionRequest Completion(JsonElement body)
    {
        RequireObject(body);
        if (!body.TryGetProperty("prompt", out var prompt) || prompt.ValueKind == JsonValueKind.Null)
        {
            throw OpenAiError.Bad("prompt", "required: a string, an array of strings, an array of token ids or an array of such arrays");
        }

        var user = String(body, "user");
        var prompts = Prompts(prompt, user);
        Refuse(body, "logit_bias");
        if (body.TryGetProperty("suffix", out var suffix) && suffix.ValueKind != JsonValueKind.Null && !(suffix.ValueKind == JsonValueKind.String && suffix.GetString()!.Length == 0))
        {
            throw OpenAiError.Bad("suffix", "not supported (no fill-in-the-middle)");
        }

        var sampling = Common(body, Int(body, "max_tokens", 0, int.MaxValue) ?? 16);
        if (body.TryGetProperty("best_of", out var bestOf) && bestOf.ValueKind != JsonValueKind.Null
            && !(bestOf.ValueKind == JsonValueKind.Number && bestOf.TryGetInt32(out var b) && b == sampling.N))
        {
            throw OpenAiError.Bad("best_of", "only best_of equal to n is supported");
        }

        return new CompletionRequest(Model(body), prompts, sampling, Bool(body, "echo") ?? false, Int(body, "logprobs", 0, MaxTopLogProbsCompletion));
    }

    private static Sampling Common(JsonElement body, int? maxTokens)
    {
        var temperature = Number(body, "temperature", 0, 2) ?? 1.0;
        var topP = Number(body, "top_p", 0, 1) ?? 1.0;
        if (topP <= 0)
        {
            throw OpenAiError.Bad("top_p", "must be above 0");
        }

        foreach (var penalty in new[] { "frequency_penalty", "presence_penalty" })
        {
            if (Number(body, penalty, -2, 2) is { } value && value != 0)
            {
                throw OpenAiError.Bad(penalty, "not supported (only 0)");
            }
        }

        long? seed = null;
        if (body.TryGetProperty("seed", out var s) && s.ValueKind != JsonValueKind.Null)
        {
            seed = s.ValueKind == JsonValueKind.Number && s.TryGetInt64(out var v) ? v : throw OpenAiError.Bad("seed", "expected an integer");
        }

        var includeUsage = false;
        var stream = Bool(body, "stream") ?? false;
        if (body.TryGetProperty("stream_options", out var so) && so.ValueKind != JsonValueKind.Null)
        {
            if (so.ValueKind != JsonValueKind.Object)
            {
                throw OpenAiError.Bad("stream_options", "expected an object");
            }

            includeUsage = Bool(so, "include_usage", "stream_options.include_usage") ?? false;
        }

        return new Sampling(maxTokens, temperature, topP, seed, Stops(body), Int(body, "n", 1, MaxN) ?? 1, String(body, "user"), stream, includeUsage, Bool(body, "ignore_eos") ?? false);
    }

    private static List<string> Stops(JsonElement body)
    {
        if (!body.TryGetProperty("stop", out var stop) || stop.ValueKind == JsonValueKind.Null)
        {
            return [];
        }

        if (stop.ValueKind == JsonValueKind.String)
        {
            return [stop.GetString()!];
        }

        if (stop.ValueKind != JsonValueKind.Array || stop.GetArrayLength() > MaxStops || stop.EnumerateArray().Any(s => s.ValueKind != JsonValueKind.String))
        {
            throw OpenAiError.Bad("stop", $"expected a string or an array of at most {MaxStops} strings");
        }

        return [.. stop.EnumerateArray().Select(s => s.GetString()!)];
    }

    private static List<TokenPrompt> Prompts(JsonElement prompt, string? user)
    {
        const string Expected = "expected a string, an array of strings, an array of token ids or an array of such arrays";
        switch (prompt.ValueKind)
        {
            case JsonValueKind.String:
                return [TokenPrompt.Plain(prompt.GetString()!, user)];
            case JsonValueKind.Array when prompt.GetArrayLength() == 0:
                throw OpenAiError.Bad("prompt", "empty array");
            case JsonValueKind.Array when prompt.EnumerateArray().All(p => p.ValueKind == JsonValueKind.String):
                return [.. prompt.EnumerateArray().Select(p => TokenPrompt.Plain(p.GetString()!, user))];
            case JsonValueKind.Array when prompt.EnumerateArray().All(p => p.ValueKind == JsonValueKind.Number):
                return [TokenPrompt.Tokens(Ids(prompt, "prompt"), user)];
            case JsonValueKind.Array when prompt.EnumerateArray().All(p => p.ValueKind == JsonValueKind.Array):
                return [.. prompt.EnumerateArray().Select((p, i) => TokenPrompt.Tokens(Ids(p, $"prompt[{i}]"), user))];
            default:
                throw OpenAiError.Bad("prompt", Expected);
        }
    }

    private static int[] Ids(JsonElement array, string param)
    {
        var ids = new List<int>();
        foreach (var e in array.EnumerateArray())
        {
            if (e.ValueKind != JsonValueKind.Number || !e.TryGetInt32(out var id) || id < 0)
            {
                throw OpenAiError.Bad(param, "token ids must be non-negative integers");
            }

            ids.Add(id);
        }

        return ids.Count > 0 ? [.. ids] : throw OpenAiError.Bad(param, "no token ids");
    }

    private static string Content(JsonElement message, string at, string role)
    {
        if (!message.TryGetProperty("content", out var content) || content.ValueKind == JsonValueKind.Null)
        {
            return role == "assistant" ? "" : throw OpenAiError.Bad(at + ".content", "required");
        }

        if (content.ValueKind == JsonValueKind.String)
        {
            return content.GetString()!;
        }

        if (content.ValueKind != JsonValueKind.Array)
        {
            throw OpenAiError.Bad(at + ".content", "expected a string or an array of text parts");
        }

        var text = new System.Text.StringBuilder();
        var k = 0;
        foreach (var part in content.EnumerateArray())
        {
            if (part.ValueKind != JsonValueKind.Object || !part.TryGetProperty("type", out var type) || !type.ValueEquals("text")
                || !part.TryGetProperty("text", out var t) || t.ValueKind != JsonValueKind.String)
            {
                throw OpenAiError.Bad($"{at}.content[{k}]", "only text parts {\"type\": \"text\", \"text\": …} are supported");
            }

            text.Append(t.GetString());
            k++;
        }

        return text.ToString();
    }

    private static void RequireObject(JsonElement body)
    {
        if (body.ValueKind != JsonValueKind.Object)
        {
            throw new OpenAiError(400, "the request body must be a JSON object", OpenAiError.InvalidRequest, null, "invalid_body");
        }
    }

    private static string? Model(JsonElement body) => String(body, "model");

    private static void Refuse(JsonElement body, params string[] names)
    {
        foreach (var name in names)
        {
            if (body.TryGetProperty(name, out var v) && v.ValueKind != JsonValueKind.Null
                && !(v.ValueKind == JsonValueKind.Array && v.GetArrayLength() == 0)
                && !(v.ValueKind == JsonValueKind.Object && !v.EnumerateObject().Any()))
            {
                throw OpenAiError.Bad(name, "not supported by this server");
            }
        }
    }

    private static string? String(JsonElement body, string name)
    {
        if (!body.TryGetProperty(name, out var v) || v.ValueKind == JsonValueKind.Null)
        {
            return null;
        }

        return v.ValueKind == JsonValueKind.String ? v.GetString() : throw OpenAiError.Bad(name, "expected a string");
    }

    private static bool? Bool(JsonElement body, string name, string? param = null)
    {
        if (!body.TryGetProperty(name, out var v) || v.ValueKind == JsonValueKind.Null)
        {
            return null;
        }

        return v.ValueKind switch
        {
            JsonValueKind.True => true,
            JsonValueKind.False => false,
            _ => throw OpenAiError.Bad(param ?? name, "expected true or false"),
        };
    }

    private static int? Int(JsonElement body, string name, int min, int max)
    {
        if (!body.TryGetProperty(name, out var v) || v.ValueKind == JsonValueKind.Null)
        {
            return null;
        }

        if (v.ValueKind != JsonValueKind.Number || !v.TryGetInt32(out var value))
        {
            throw OpenAiError.Bad(name, "expected an integer");
        }

        return value >= min && value <= max ? value
            : throw OpenAiError.Bad(name, max == int.MaxValue ? $"must be at least {min}" : $"must be from {min} to {max}");
    }

    private static double? Number(JsonElement body, string name, double min, double max)
    {
        if (!body.TryGetProperty(name, out var v) || v.ValueKind == JsonValueKind.Null)
        {
            return null;
        }

        if (v.ValueKind != JsonValueKind.Number || !v.TryGetDouble(out var value) || !double.IsFinite(value))
        {
            throw OpenAiError.Bad(name, "expected a number");
        }

        return value >= min && value <= max ? value : throw OpenAiError.Bad(name, $"must be from {min} to {max}");
    }
}

using System.Buffers;
using System.Security.Cryptography;
using System.Text;
using System.Text.Json;
using Microsoft.Extensions.AI;

namespace Attune.Llm;

/// <summary>
/// The stable key of a chat request: SHA-256 (lower-case hex) of its canonical JSON, which holds
/// the messages (role, author, contents) and the options that change the answer (model id,
/// instructions, sampling settings, stop sequences, response format, tools, tool mode,
/// reasoning, conversation id, additional properties). Object keys inside free-form values
/// (schemas, arguments, additional properties) are sorted, so equal requests give equal keys
/// across runs and machines. Options that do not change the answer (raw representation
/// factories, continuation tokens, background responses) are left out.
/// </summary>
public static class ExchangeKey
{
    private static readonly JsonWriterOptions WriterOptions = new() { Indented = false };

    /// <summary>The key: 64 lower-case hex digits.</summary>
    public static string Compute(IEnumerable<ChatMessage> messages, ChatOptions? options) =>
        Hash(CanonicalJson(messages, options));

    /// <summary>The SHA-256 hex of canonical request bytes.</summary>
    public static string Hash(ReadOnlySpan<byte> canonicalJson) => Convert.ToHexStringLower(SHA256.HashData(canonicalJson));

    /// <summary>The canonical JSON (UTF-8) that <see cref="Compute"/> hashes: <c>{"messages":[…],"options":{…}}</c>.</summary>
    public static byte[] CanonicalJson(IEnumerable<ChatMessage> messages, ChatOptions? options)
    {
        ArgumentNullException.ThrowIfNull(messages);
        var buffer = new ArrayBufferWriter<byte>();
        using (var w = new Utf8JsonWriter(buffer, WriterOptions))
        {
            w.WriteStartObject();
            w.WriteStartArray("messages");
            foreach (var message in messages)
            {
                WriteMessage(w, message);
            }

            w.WriteEndArray();
            w.WriteStartObject("options");
            if (options is not null)
            {
                WriteOptions(w, options);
            }

            w.WriteEndObject();
            w.WriteEndObject();
        }

        return buffer.WrittenSpan.ToArray();
    }

    /// <summary>The last user message, whitespace collapsed, cut to <paramref name="maxChars"/>; for error messages.</summary>
    public static string Preview(IEnumerable<ChatMessage> messages, int maxChars = 60)
    {
        ArgumentNullException.ThrowIfNull(messages);
        var list = messages as IList<ChatMessage> ?? [.. messages];
        var last = list.LastOrDefault(m => m.Role == ChatRole.User) ?? list.LastOrDefault();
        if (last is null)
        {
            return "(no messages)";
        }

        var text = string.Join(' ', last.Text.Split((char[]?)null, StringSplitOptions.RemoveEmptyEntries));
        return text.Length <= maxChars ? text : string.Concat(text.AsSpan(0, maxChars), "…");
    }

    /// <summary>A one-line description of a request for error messages: short key and preview.</summary>
    public static string Describe(IEnumerable<ChatMessage> messages, ChatOptions? options)
    {
        var list = messages as IList<ChatMessage> ?? [.. messages];
        return $"request {Compute(list, options)[..12]} (last user message \"{Preview(list)}\")";
    }

    private static void WriteMessage(Utf8JsonWriter w, ChatMessage message)
    {
        w.WriteStartObject();
        w.WriteString("role", message.Role.Value);
        if (!string.IsNullOrEmpty(message.AuthorName))
        {
            w.WriteString("name", message.AuthorName);
        }

        w.WriteStartArray("contents");
        foreach (var content in message.Contents)
        {
            WriteContent(w, content);
        }

        w.WriteEndArray();
        w.WriteEndObject();
    }

    private static void WriteContent(Utf8JsonWriter w, AIContent content)
    {
        w.WriteStartObject();
        switch (content)
        {
            case TextContent text:
                w.WriteString("type", "text");
                w.WriteString("text", text.Text);
                break;
            case TextReasoningContent reasoning:
                w.WriteString("type", "reasoning");
                w.WriteString("text", reasoning.Text);
                break;
            case FunctionCallContent call:
                w.WriteString("type", "function_call");
                w.WriteString("callId", call.CallId);
                w.WriteString("name", call.Name);
                w.WritePropertyName("arguments");
                WriteValue(w, call.Arguments);
                break;
            case FunctionResultContent result:
                w.WriteString("type", "function_result");
                w.WriteString("callId", result.CallId);
                w.WritePropertyName("result");
                WriteValue(w, result.Result);
                break;
            case DataContent data:
                w.WriteString("type", "data");
                w.WriteString("mediaType", data.MediaType);
                w.WriteString("sha256", Convert.ToHexStringLower(SHA256.HashData(data.Data.Span)));
                break;
            case UriContent uri:
                w.WriteString("type", "uri");
                w.WriteString("mediaType", uri.MediaType);
                w.WriteString("uri", uri.Uri.ToString());
                break;
            default:
                w.WriteString("type", content.GetType().Name);
                w.WritePropertyName("value");
                WriteValue(w, content);
                break;
        }

        w.WriteEndObject();
    }

    private static void WriteOptions(Utf8JsonWriter w, ChatOptions o)
    {
        WriteIfSet(w, "modelId", o.ModelId);
        WriteIfSet(w, "conversationId", o.ConversationId);
        WriteIfSet(w, "instructions", o.Instructions);
        if (o.Temperature is { } temperature) w.WriteNumber("temperature", temperature);
        if (o.TopP is { } topP) w.WriteNumber("topP", topP);
        if (o.TopK is { } topK) w.WriteNumber("topK", topK);
        if (o.MaxOutputTokens is { } max) w.WriteNumber("maxOutputTokens", max);
        if (o.FrequencyPenalty is { } frequency) w.WriteNumber("frequencyPenalty", frequency);
        if (o.PresencePenalty is { } presence) w.WriteNumber("presencePenalty", presence);
        if (o.Seed is { } seed) w.WriteNumber("seed", seed);
        if (o.StopSequences is { Count: > 0 } stops)
        {
            w.WriteStartArray("stopSequences");
            foreach (var stop in stops)
            {
                w.WriteStringValue(stop);
            }

            w.WriteEndArray();
        }

        switch (o.ResponseFormat)
        {
            case null:
                break;
            case ChatResponseFormatJson json:
                w.WriteStartObject("responseFormat");
                w.WriteString("type", "json");
                WriteIfSet(w, "schemaName", json.SchemaName);
                WriteIfSet(w, "schemaDescription", json.SchemaDescription);
                if (json.Schema is { } schema)
                {
                    w.WritePropertyName("schema");
                    WriteCanonical(w, schema);
                }

                w.WriteEndObject();
                break;
            default:
                w.WriteStartObject("responseFormat");
                w.WriteString("type", "text");
                w.WriteEndObject();
                break;
        }

        if (o.Tools is { Count: > 0 } tools)
        {
            w.WriteStartArray("tools");
            foreach (var tool in tools)
            {
                w.WriteStartObject();
                w.WriteString("name", tool.Name);
                WriteIfSet(w, "description", tool.Description);
                if (tool is AIFunctionDeclaration function)
                {
                    w.WritePropertyName("schema");
                    WriteCanonical(w, function.JsonSchema);
                }
                else
                {
                    w.WriteString("kind", tool.GetType().Name);
                }

                w.WriteEndObject();
            }

            w.WriteEndArray();
        }

        switch (o.ToolMode)
        {
            case null:
                break;
            case RequiredChatToolMode required:
                w.WriteString("toolMode", "required:" + (required.RequiredFunctionName ?? "*"));
                break;
            case NoneChatToolMode:
                w.WriteString("toolMode", "none");
                break;
            default:
                w.WriteString("toolMode", "auto");
                break;
        }

        if (o.AllowMultipleToolCalls is { } multiple) w.WriteBoolean("allowMultipleToolCalls", multiple);
        if (o.Reasoning is { } reasoning)
        {
            w.WritePropertyName("reasoning");
            WriteValue(w, reasoning);
        }

        if (o.AdditionalProperties is { Count: > 0 } extra)
        {
            w.WriteStartObject("additionalProperties");
            foreach (var (name, value) in extra.OrderBy(p => p.Key, StringComparer.Ordinal))
            {
                w.WritePropertyName(name);
                WriteValue(w, value);
            }

            w.WriteEndObject();
        }
    }

    private static void WriteIfSet(Utf8JsonWriter w, string name, string? value)
    {
        if (!string.IsNullOrEmpty(value))
        {
            w.WriteString(name, value);
        }
    }

    /// <summary>Serializes a free-form value the way Microsoft.Extensions.AI does, then canonicalizes it.</summary>
    private static void WriteValue(Utf8JsonWriter w, object? value)
    {
        if (value is null)
        {
            w.WriteNullValue();
            return;
        }

        JsonElement element;
        try
        {
            element = JsonSerializer.SerializeToElement(value, value.GetType(), AIJsonUtilities.DefaultOptions);
        }
        catch (Exception ex) when (ex is NotSupportedException or JsonException or InvalidOperationException)
        {
            w.WriteStringValue(value.ToString());
            return;
        }

        WriteCanonical(w, element);
    }

    /// <summary>Writes <paramref name="element"/> with object keys sorted (ordinal), recursively.</summary>
    internal static void WriteCanonical(Utf8JsonWriter w, JsonElement element)
    {
        switch (element.ValueKind)
        {
            case JsonValueKind.Object:
                w.WriteStartObject();
                foreach (var property in element.EnumerateObject().OrderBy(p => p.Name, StringComparer.Ordinal))
                {
                    w.WritePropertyName(property.Name);
                    WriteCanonical(w, property.Value);
                }

                w.WriteEndObject();
                break;
            case JsonValueKind.Array:
                w.WriteStartArray();
                foreach (var item in element.EnumerateArray())
                {
                    WriteCanonical(w, item);
                }

                w.WriteEndArray();
                break;
            default:
                element.WriteTo(w);
                break;
        }
    }

    internal static string Utf8(ReadOnlySpan<byte> bytes) => Encoding.UTF8.GetString(bytes);
}

using System.Text.Json;
using System.Text.Json.Serialization;
using Attune.Core.Errors;
using Attune.Core.IO;
using Microsoft.Extensions.AI;

namespace Attune.Llm;

/// <summary>
/// One line of an exchange log (JSON lines, written by <c>UseRecording</c>, read by
/// <c>UseReplay</c> and <c>replay:FILE</c>).
/// </summary>
public sealed record ExchangeRecord
{
    /// <summary>The request's <see cref="ExchangeKey"/>: SHA-256 hex of <see cref="Request"/>.</summary>
    public required string Key { get; init; }

    /// <summary>When the answer arrived (UTC).</summary>
    public DateTimeOffset Time { get; init; }

    /// <summary>Whether the call was streaming (the response is then the aggregate of the updates).</summary>
    public bool Streaming { get; init; }

    /// <summary>The model that answered, as far as known (response, options, or the client's default).</summary>
    public string? Model { get; init; }

    /// <summary>Wall-clock time of the call, milliseconds.</summary>
    public double LatencyMs { get; init; }

    /// <summary>The canonical request: <c>{"messages":[…],"options":{…}}</c>, exactly what the key hashes.</summary>
    public JsonElement? Request { get; init; }

    public required ExchangeResponse Response { get; init; }

    /// <summary>
    /// True when the answer came from a scripted stand-in (a program playing the model, see
    /// <see cref="StandIn"/>), not a language model. Absent in logs of real models.
    /// </summary>
    [JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingDefault)]
    public bool Scripted { get; init; }
}

/// <summary>The answer part of an <see cref="ExchangeRecord"/>.</summary>
public sealed record ExchangeResponse
{
    /// <summary>The response text (all messages' text concatenated).</summary>
    public string Text { get; init; } = "";

    /// <summary>The response messages, as Microsoft.Extensions.AI serializes <see cref="ChatMessage"/>s; when absent, replay answers <see cref="Text"/> as one assistant message.</summary>
    public JsonElement? Messages { get; init; }

    public string? ResponseId { get; init; }

    public string? ModelId { get; init; }

    public string? FinishReason { get; init; }

    public ExchangeUsage? Usage { get; init; }

    internal static ExchangeResponse From(ChatResponse response)
    {
        JsonElement messages;
        try
        {
            messages = JsonSerializer.SerializeToElement(response.Messages, AIJsonUtilities.DefaultOptions);
        }
        catch (Exception ex) when (ex is NotSupportedException or JsonException or InvalidOperationException)
        {
            // Contents the serializer cannot handle: keep the text, which is what replay needs most.
            messages = JsonSerializer.SerializeToElement(
                response.Messages.Select(m => new ChatMessage(m.Role, m.Text)).ToList(), AIJsonUtilities.DefaultOptions);
        }

        return new ExchangeResponse
        {
            Text = response.Text,
            Messages = messages,
            ResponseId = response.ResponseId,
            ModelId = response.ModelId,
            FinishReason = response.FinishReason?.Value,
            Usage = response.Usage is { } u
                ? new ExchangeUsage { InputTokens = u.InputTokenCount, OutputTokens = u.OutputTokenCount, TotalTokens = u.TotalTokenCount }
                : null,
        };
    }

    internal ChatResponse ToChatResponse(string file, long line)
    {
        List<ChatMessage> messages;
        if (Messages is not { ValueKind: not (JsonValueKind.Undefined or JsonValueKind.Null) } element)
        {
            messages = [new ChatMessage(ChatRole.Assistant, Text)];
        }
        else
        {
            try
            {
                messages = element.Deserialize<List<ChatMessage>>(AIJsonUtilities.DefaultOptions) ?? [];
            }
            catch (JsonException ex)
            {
                throw new AttuneInputException($"not a list of chat messages ({ex.Message})", file, line, "response.messages", ex);
            }
        }

        return new ChatResponse(messages)
        {
            ResponseId = ResponseId,
            ModelId = ModelId,
            FinishReason = FinishReason is null ? null : new ChatFinishReason(FinishReason),
            Usage = Usage is null
                ? null
                : new UsageDetails { InputTokenCount = Usage.InputTokens, OutputTokenCount = Usage.OutputTokens, TotalTokenCount = Usage.TotalTokens },
        };
    }
}

public sealed record ExchangeUsage
{
    public long? InputTokens { get; init; }

    public long? OutputTokens { get; init; }

    public long? TotalTokens { get; init; }
}

/// <summary>Reads and writes exchange logs.</summary>
public static class ExchangeLog
{
    private static readonly Dictionary<string, object> Locks = new(StringComparer.Ordinal);

    /// <summary>Reads every record with its line; a malformed line is an <see cref="AttuneInputException"/> naming file and line.</summary>
    public static IEnumerable<(long Line, ExchangeRecord Record)> Read(string path)
    {
        foreach (var (line, record) in JsonLines.Read<ExchangeRecord>(path))
        {
            if (string.IsNullOrWhiteSpace(record.Key))
            {
                throw new AttuneInputException("empty", path, line, "key");
            }

            yield return (line, record);
        }
    }

    /// <summary>Appends one record as a whole line; appends to the same file from many threads are serialized.</summary>
    public static void Append(string path, ExchangeRecord record)
    {
        var full = Path.GetFullPath(path);
        object gate;
        lock (Locks)
        {
            if (!Locks.TryGetValue(full, out gate!))
            {
                gate = new object();
                Locks[full] = gate;
            }
        }

        lock (gate)
        {
            JsonLines.Append(full, record);
        }
    }
}

using System.Buffers;
using System.Text.Json;
using System.Threading.Channels;
using Microsoft.Extensions.Logging;
using ModelContextProtocol;
using ModelContextProtocol.Protocol;

namespace Attune.Agents.Mcp;

/// <summary>
/// An MCP server transport for newline-delimited JSON-RPC over a pair of streams (the stdio
/// transport of the MCP specification), built for latency: a dedicated thread does blocking reads
/// and hands each message to the SDK's session loop synchronously, and replies are written
/// synchronously by whichever thread produced them. The SDK's own stdio transport reads with async
/// I/O (completions pass through the thread pool) and its channel's consumer is scheduled on the
/// thread pool again; the server's side of a call was about 10% slower with it (docs/agents.md).
/// </summary>
/// <remarks>
/// A line that is not JSON gets a JSON-RPC "Parse error" (-32700) reply; valid JSON that is no JSON-RPC 2.0
/// message (a wrong or missing "jsonrpc", an array) an "Invalid Request" (-32600), with the request's id when it can
/// be recovered, and the transport goes on reading; so does a line longer than the size limit. The
/// input ending closes the transport (the server's run then returns).
/// </remarks>
public sealed class LineStreamServerTransport : ITransport
{
    /// <summary>The default longest message accepted (bytes, without the newline): 16 MiB.</summary>
    public const int DefaultMaxMessageBytes = 16 * 1024 * 1024;

    private readonly int _maxMessageBytes;
    private readonly Stream _input;
    private readonly Stream _output;
    private readonly Lock _writeLock = new();
    private readonly ArrayBufferWriter<byte> _outBuffer = new(4096);
    private readonly Channel<JsonRpcMessage> _messages = Channel.CreateUnbounded<JsonRpcMessage>(new UnboundedChannelOptions
    {
        SingleReader = true,
        SingleWriter = true,
        // The SDK's session loop runs on the reading thread up to its own hand-off to the thread pool.
        AllowSynchronousContinuations = true,
    });

    private readonly ILogger? _log;
    private readonly byte[] _readBuffer = new byte[64 * 1024];
    private readonly ArrayBufferWriter<byte> _line = new(4096);
    private bool _overlong;
    private volatile bool _disposed;

    public LineStreamServerTransport(Stream input, Stream output, string name, ILoggerFactory? loggerFactory = null, int maxMessageBytes = DefaultMaxMessageBytes)
    {
        ArgumentNullException.ThrowIfNull(input);
        ArgumentNullException.ThrowIfNull(output);
        ArgumentOutOfRangeException.ThrowIfLessThan(maxMessageBytes, 1);
        _maxMessageBytes = maxMessageBytes;
        _input = input;
        _output = output;
        Name = name;
        _log = loggerFactory?.CreateLogger<LineStreamServerTransport>();
        StartReading();
    }

    /// <summary>A transport over this process's standard input and output.</summary>
    public static LineStreamServerTransport ForStdio(string name, ILoggerFactory? loggerFactory = null) =>
        new(Console.OpenStandardInput(), Console.OpenStandardOutput(), name, loggerFactory);

    /// <summary>The name given at construction (for logs).</summary>
    public string Name { get; }

    /// <summary>Null: a stdio session has no id.</summary>
    public string? SessionId => null;

    public ChannelReader<JsonRpcMessage> MessageReader => _messages.Reader;

    public Task SendMessageAsync(JsonRpcMessage message, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(message);
        if (_disposed)
        {
            throw new InvalidOperationException($"the transport '{Name}' is closed");
        }

        Write(message);
        return Task.CompletedTask;
    }

    private void Write(JsonRpcMessage message)
    {
        lock (_writeLock)
        {
            _outBuffer.ResetWrittenCount();
            using (var writer = new Utf8JsonWriter(_outBuffer))
            {
                JsonSerializer.Serialize(writer, message, McpJsonUtilities.DefaultOptions.GetTypeInfo(typeof(JsonRpcMessage)));
            }

            _outBuffer.Write("\n"u8);
            _output.Write(_outBuffer.WrittenSpan);
            _output.Flush();
        }
    }

    /// <summary>Reads on a dedicated thread until the input ends (a blocking read never holds a thread-pool thread).</summary>
    private void StartReading() => new Thread(() =>
    {
        try
        {
            while (ReadOnce())
            {
            }
        }
        catch (Exception ex)
        {
            // E.g. the output gone while answering a malformed line: end the session, not the process.
            _log?.LogWarning(ex, "MCP transport '{Name}' stopped", Name);
            _messages.Writer.TryComplete(ex);
        }
    })
    { IsBackground = true, Name = "mcp-line-reader: " + Name }.Start();

    /// <summary>One blocking read; dispatches every complete line in it. False when the input has ended.</summary>
    private bool ReadOnce()
    {
        int n;
        try
        {
            n = _disposed ? 0 : _input.Read(_readBuffer, 0, _readBuffer.Length);
        }
        catch (Exception ex)
        {
            // Whatever the stream throws (IOException, ObjectDisposedException, a pipe's reader completed
            // under it) ends the input: an exception must not escape this thread (it would end the process).
            if (!_disposed)
            {
                _log?.LogWarning(ex, "MCP transport '{Name}': reading the input failed", Name);
            }

            _messages.Writer.TryComplete(_disposed ? null : ex);
            return false;
        }

        if (n == 0)
        {
            _messages.Writer.TryComplete();
            return false;
        }

        var start = 0;
        while (start < n)
        {
            var nl = Array.IndexOf(_readBuffer, (byte)'\n', start, n - start);
            var end = nl < 0 ? n : nl;
            if (!_overlong)
            {
                if (_line.WrittenCount + (end - start) > _maxMessageBytes)
                {
                    _overlong = true;
                    _line.ResetWrittenCount();
                }
                else
                {
                    _line.Write(_readBuffer.AsSpan(start, end - start));
                }
            }

            if (nl < 0)
            {
                break;
            }

            if (_overlong)
            {
                Reply(Error(null, McpErrorCode.ParseError, $"message longer than {_maxMessageBytes} bytes"));
                _overlong = false;
            }
            else
            {
                Dispatch(_line.WrittenSpan);
            }

            _line.ResetWrittenCount();
            start = nl + 1;
        }

        return true;
    }

    private void Dispatch(ReadOnlySpan<byte> json)
    {
        var trimmed = json.TrimEnd("\r"u8).Trim(" \t"u8);
        if (trimmed.IsEmpty)
        {
            return;
        }

        JsonRpcMessage? message;
        try
        {
            message = JsonSerializer.Deserialize(trimmed, McpJsonUtilities.DefaultOptions.GetTypeInfo(typeof(JsonRpcMessage))) as JsonRpcMessage;
        }
        catch (Exception ex) when (ex is JsonException or NotSupportedException or InvalidOperationException or FormatException or ArgumentException)
        {
            // JSON-RPC 2.0: a line that is not JSON is a parse error (-32700); valid JSON that is not a
            // request (no "jsonrpc": "2.0", an array, a bare value) is an invalid request (-32600).
            // Neither echoes the line (it may be binary) nor names .NET types.
            Reply(IsJson(trimmed)
                ? Error(RecoverId(trimmed), McpErrorCode.InvalidRequest, "invalid request: expected a JSON-RPC 2.0 object (\"jsonrpc\": \"2.0\", a method or a result or an error)")
                : Error(null, McpErrorCode.ParseError, "parse error: the message is not valid JSON"));
            return;
        }

        if (message is null)
        {
            Reply(Error(null, McpErrorCode.InvalidRequest, "invalid request: null"));
            return;
        }

        // An unbounded channel accepts at once; the session loop runs inline from here.
        _messages.Writer.TryWrite(message);
    }

    private void Reply(JsonRpcError error)
    {
        try
        {
            Write(error);
        }
        catch (IOException)
        {
            // The client is gone; the read loop ends on its own.
        }
    }

    private static JsonRpcError Error(RequestId? id, McpErrorCode code, string text) => new()
    {
        Id = id ?? default,
        JsonRpc = "2.0",
        Error = new JsonRpcErrorDetail { Code = (int)code, Message = text },
    };

    private static bool IsJson(ReadOnlySpan<byte> json)
    {
        var reader = new Utf8JsonReader(json);
        try
        {
            return JsonDocument.TryParseValue(ref reader, out var doc) && doc is not null && Dispose(doc);
        }
        catch (JsonException)
        {
            return false;
        }

        static bool Dispose(JsonDocument d)
        {
            d.Dispose();
            return true;
        }
    }

    /// <summary>The <c>id</c> of a message that failed to deserialize, when the line is at least a JSON object with one.</summary>
    private static RequestId? RecoverId(ReadOnlySpan<byte> json)
    {
        try
        {
            using var doc = JsonDocument.Parse(json.ToArray());
            if (doc.RootElement.ValueKind == JsonValueKind.Object && doc.RootElement.TryGetProperty("id", out var id))
            {
                return id.ValueKind switch
                {
                    JsonValueKind.String => new RequestId(id.GetString()!),
                    JsonValueKind.Number when id.TryGetInt64(out var n) => new RequestId(n),
                    _ => null,
                };
            }
        }
        catch (JsonException)
        {
        }

        return null;
    }

    public ValueTask DisposeAsync()
    {
        _disposed = true;
        _messages.Writer.TryComplete();
        return ValueTask.CompletedTask;
    }
}

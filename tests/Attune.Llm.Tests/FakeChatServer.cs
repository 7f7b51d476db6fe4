using System.Collections.Concurrent;
using System.Net;
using System.Net.Sockets;
using System.Text;
using System.Text.Json;

namespace Attune.Llm.Tests;

/// <summary>A request the fake server received.</summary>
internal sealed record ReceivedRequest(string Method, string Path, IReadOnlyDictionary<string, string> Headers, string Body)
{
    public JsonElement Json => JsonDocument.Parse(Body).RootElement;
}

/// <summary>What the fake server answers: a status and a body, or SSE chunks, after an optional delay.</summary>
internal sealed record FakeReply(int Status, string Body, IReadOnlyList<string>? SseData = null, TimeSpan Delay = default)
{
    public static FakeReply Completion(string text, string model = "fake-model") => new(200, CompletionJson(text, model));

    public static FakeReply Stream(params string[] pieces) => new(200, "", [.. StreamChunks(pieces)]);

    public static FakeReply Error(int status) =>
        new(status, JsonSerializer.Serialize(new { error = new { message = $"fake failure {status}", type = "server_error", code = (string?)null } }));

    public static string CompletionJson(string text, string model) => JsonSerializer.Serialize(new
    {
        id = "chatcmpl-fake",
        @object = "chat.completion",
        created = 1_700_000_000,
        model,
        choices = new[] { new { index = 0, message = new { role = "assistant", content = text }, finish_reason = "stop" } },
        usage = new { prompt_tokens = 7, completion_tokens = 2, total_tokens = 9 },
    });

    private static IEnumerable<string> StreamChunks(string[] pieces)
    {
        for (var i = 0; i < pieces.Length; i++)
        {
            yield return JsonSerializer.Serialize(new
            {
                id = "chatcmpl-fake",
                @object = "chat.completion.chunk",
                created = 1_700_000_000,
                model = "fake-model",
                choices = new[]
                {
                    new
                    {
                        index = 0,
                        delta = i == 0 ? (object)new { role = "assistant", content = pieces[i] } : new { content = pieces[i] },
                        finish_reason = i == pieces.Length - 1 ? "stop" : null,
                    },
                },
            });
        }

        yield return "[DONE]";
    }
}

/// <summary>
/// A minimal HTTP/1.1 server on 127.0.0.1 (port chosen by the OS) that speaks just enough of the
/// OpenAI chat-completions wire format: JSON answers, or SSE streams ending in <c>data: [DONE]</c>.
/// Every response closes its connection. It counts the requests in flight.
/// </summary>
internal sealed class FakeChatServer : IAsyncDisposable
{
    private readonly TcpListener _listener = new(IPAddress.Loopback, 0);
    private readonly Func<ReceivedRequest, int, FakeReply> _handler;
    private readonly CancellationTokenSource _stop = new();
    private readonly Task _accepting;
    private int _inFlight;
    private int _maxInFlight;
    private int _count;

    public FakeChatServer(Func<ReceivedRequest, int, FakeReply> handler)
    {
        _handler = handler;
        _listener.Start();
        _accepting = AcceptLoop();
    }

    public FakeChatServer(FakeReply reply) : this((_, _) => reply) { }

    public string BaseUrl => $"http://127.0.0.1:{((IPEndPoint)_listener.LocalEndpoint).Port}/v1";

    public string Spec(string model = "fake-model") => $"{BaseUrl}?model={model}";

    public ConcurrentQueue<ReceivedRequest> Requests { get; } = new();

    public int MaxInFlight => Volatile.Read(ref _maxInFlight);

    private async Task AcceptLoop()
    {
        while (!_stop.IsCancellationRequested)
        {
            TcpClient client;
            try
            {
                client = await _listener.AcceptTcpClientAsync(_stop.Token);
            }
            catch (Exception ex) when (ex is OperationCanceledException or ObjectDisposedException or SocketException)
            {
                return;
            }

            _ = Task.Run(() => Serve(client));
        }
    }

    private async Task Serve(TcpClient client)
    {
        using var _ = client;
        var inFlight = Interlocked.Increment(ref _inFlight);
        int seen;
        while (true)
        {
            seen = Volatile.Read(ref _maxInFlight);
            if (inFlight <= seen || Interlocked.CompareExchange(ref _maxInFlight, inFlight, seen) == seen)
            {
                break;
            }
        }

        try
        {
            var stream = client.GetStream();
            var request = await ReadRequest(stream);
            Requests.Enqueue(request);
            var reply = _handler(request, Interlocked.Increment(ref _count));
            if (reply.Delay > TimeSpan.Zero)
            {
                await Task.Delay(reply.Delay, _stop.Token);
            }

            await WriteReply(stream, reply);
        }
        catch (Exception ex) when (ex is IOException or OperationCanceledException or SocketException)
        {
            // The client went away or the server is stopping.
        }
        finally
        {
            Interlocked.Decrement(ref _inFlight);
        }
    }

    private static async Task<ReceivedRequest> ReadRequest(NetworkStream stream)
    {
        var buffer = new List<byte>();
        var one = new byte[1];
        while (!EndsWithBlankLine(buffer))
        {
            if (await stream.ReadAsync(one) == 0)
            {
                throw new IOException("connection closed in the headers");
            }

            buffer.Add(one[0]);
        }

        var head = Encoding.ASCII.GetString([.. buffer]).Split("\r\n", StringSplitOptions.RemoveEmptyEntries);
        var requestLine = head[0].Split(' ');
        var headers = head.Skip(1)
            .Select(h => h.Split(':', 2))
            .ToDictionary(p => p[0].Trim(), p => p[1].Trim(), StringComparer.OrdinalIgnoreCase);
        var length = headers.TryGetValue("Content-Length", out var value) ? int.Parse(value, System.Globalization.CultureInfo.InvariantCulture) : 0;
        var body = new byte[length];
        await stream.ReadExactlyAsync(body);
        return new ReceivedRequest(requestLine[0], requestLine[1], headers, Encoding.UTF8.GetString(body));
    }

    private static bool EndsWithBlankLine(List<byte> b) =>
        b.Count >= 4 && b[^4] == '\r' && b[^3] == '\n' && b[^2] == '\r' && b[^1] == '\n';

    private static async Task WriteReply(NetworkStream stream, FakeReply reply)
    {
        var reason = reply.Status switch { 200 => "OK", 400 => "Bad Request", 429 => "Too Many Requests", 500 => "Internal Server Error", _ => "Status" };
        if (reply.SseData is { } chunks)
        {
            var head = $"HTTP/1.1 {reply.Status} {reason}\r\nContent-Type: text/event-stream\r\nCache-Control: no-cache\r\nConnection: close\r\n\r\n";
            await stream.WriteAsync(Encoding.ASCII.GetBytes(head));
            foreach (var data in chunks)
            {
                await stream.WriteAsync(Encoding.UTF8.GetBytes($"data: {data}\n\n"));
                await stream.FlushAsync();
            }
        }
        else
        {
            var body = Encoding.UTF8.GetBytes(reply.Body);
            var head = $"HTTP/1.1 {reply.Status} {reason}\r\nContent-Type: application/json\r\nContent-Length: {body.Length}\r\nConnection: close\r\n\r\n";
            await stream.WriteAsync(Encoding.ASCII.GetBytes(head));
            await stream.WriteAsync(body);
        }

        await stream.FlushAsync();
        stream.Socket.Shutdown(SocketShutdown.Send);
    }

    public async ValueTask DisposeAsync()
    {
        await _stop.CancelAsync();
        _listener.Stop();
        await _accepting;
        _stop.Dispose();
    }
}

using System.IO.Pipelines;
using System.Text;
using System.Text.Json.Nodes;
using Attune.Agents.Mcp;
using ModelContextProtocol.Protocol;
using ModelContextProtocol.Server;

namespace Attune.Agents.Tests;

/// <summary>The stdio-style transport of <c>attune mcp serve</c>, with a real SDK server behind it, fed raw lines.</summary>
public sealed class LineStreamServerTransportTests : IAsyncDisposable
{
    private readonly Pipe _toServer = new();
    private readonly Pipe _toClient = new();
    private readonly LineStreamServerTransport _transport;
    private readonly McpServer _server;
    private readonly Task _run;
    private readonly StreamReader _replies;
    private readonly Stream _requests;

    public LineStreamServerTransportTests()
    {
        _transport = new LineStreamServerTransport(_toServer.Reader.AsStream(), _toClient.Writer.AsStream(), "test", null, maxMessageBytes: 1024);
        _server = McpServer.Create(_transport, new McpServerOptions { ServerInfo = new Implementation { Name = "t", Version = "1.0.0" } });
        _run = _server.RunAsync(CancellationToken.None);
        _replies = new StreamReader(_toClient.Reader.AsStream(), new UTF8Encoding(false));
        _requests = _toServer.Writer.AsStream();
    }

    private async Task SendAsync(string text)
    {
        await _requests.WriteAsync(Encoding.UTF8.GetBytes(text));
        await _requests.FlushAsync();
    }

    private async Task<JsonObject> ReplyAsync()
    {
        var line = await _replies.ReadLineAsync().WaitAsync(TimeSpan.FromSeconds(20));
        Assert.NotNull(line);
        return JsonNode.Parse(line)!.AsObject();
    }

    private const string Initialize =
        """{"jsonrpc":"2.0","id":1,"method":"initialize","params":{"protocolVersion":"2025-06-18","capabilities":{},"clientInfo":{"name":"raw","version":"0"}}}""";

    [Fact]
    public async Task Answers_requests_line_by_line_including_two_in_one_write_and_one_split_across_writes()
    {
        await SendAsync(Initialize + "\n");
        var init = await ReplyAsync();
        Assert.Equal(1, init["id"]!.GetValue<int>());
        Assert.Equal("t", init["result"]!["serverInfo"]!["name"]!.GetValue<string>());

        await SendAsync("""{"jsonrpc":"2.0","method":"notifications/initialized"}""" + "\n" + """{"jsonrpc":"2.0","id":2,"method":"ping"}""" + "\n");
        Assert.Equal(2, (await ReplyAsync())["id"]!.GetValue<int>());

        await SendAsync("""{"jsonrpc":"2.0","id":"th""");
        await SendAsync("""ree","method":"ping"}""" + "\r\n");
        var split = await ReplyAsync();
        Assert.Equal("three", split["id"]!.GetValue<string>());
        Assert.NotNull(split["result"]);
        Assert.Null(split["error"]);
    }

    [Fact]
    public async Task Malformed_lines_get_parse_errors_and_the_session_goes_on()
    {
        await SendAsync("this is not JSON\n");
        var garbage = await ReplyAsync();
        Assert.Equal(-32700, garbage["error"]!["code"]!.GetValue<int>());
        Assert.Equal("parse error: the message is not valid JSON", garbage["error"]!["message"]!.GetValue<string>());
        Assert.True(garbage.ContainsKey("id"), garbage.ToJsonString());
        Assert.Null(garbage["id"]); // JSON-RPC: "id": null when the request's id cannot be known

        // Valid JSON, not a valid message, with an id the error can name: an invalid request (-32600).
        await SendAsync("""{"jsonrpc":"2.0","id":7,"method":5}""" + "\n");
        var wrongType = await ReplyAsync();
        Assert.Equal(-32600, wrongType["error"]!["code"]!.GetValue<int>());
        Assert.Equal(7, wrongType["id"]!.GetValue<int>());

        // Valid JSON of other shapes: arrays (JSON-RPC batches are not MCP), a string, objects that are
        // no message, a wrong or missing "jsonrpc": each an invalid request, in words without .NET type names.
        foreach (var other in new[] { "[]", "[1,2]", "\"text\"", "{\"jsonrpc\":\"2.0\"}", "{\"jsonrpc\":\"2.0\",\"id\":9}", "{\"jsonrpc\":\"1.0\",\"id\":10,\"method\":\"ping\"}", "{\"id\":11,\"method\":\"ping\"}" })
        {
            await SendAsync(other + "\n");
            var reply = await ReplyAsync();
            Assert.True(reply["error"]?["code"]?.GetValue<int>() == -32600, other + " -> " + reply.ToJsonString());
            Assert.DoesNotMatch(@"System\.[A-Z]|ModelContextProtocol\.", reply["error"]!["message"]!.GetValue<string>());
        }

        // Longer than the limit (1024 bytes here), sent in pieces.
        await SendAsync("""{"jsonrpc":"2.0","id":8,"method":"ping","params":{"pad":" """ + new string('x', 800));
        await SendAsync(new string('y', 800) + "\"}}\n");
        var tooLong = await ReplyAsync();
        Assert.Equal(-32700, tooLong["error"]!["code"]!.GetValue<int>());
        Assert.Contains("longer than 1024 bytes", tooLong["error"]!["message"]!.GetValue<string>(), StringComparison.Ordinal);

        await SendAsync("\n   \n" + Initialize + "\n");
        var init = await ReplyAsync();
        Assert.Equal(1, init["id"]!.GetValue<int>());
        Assert.NotNull(init["result"]);
    }

    [Fact]
    public async Task The_input_ending_ends_the_run()
    {
        await SendAsync(Initialize + "\n");
        _ = await ReplyAsync();
        await _toServer.Writer.CompleteAsync();
        await _run.WaitAsync(TimeSpan.FromSeconds(20));
        Assert.True(_transport.MessageReader.Completion.IsCompleted);
        await Assert.ThrowsAsync<InvalidOperationException>(async () =>
        {
            await _transport.DisposeAsync();
            await _transport.SendMessageAsync(new JsonRpcNotification { Method = "x" });
        });
    }

    public async ValueTask DisposeAsync()
    {
        await _toServer.Writer.CompleteAsync();
        try
        {
            await _run.WaitAsync(TimeSpan.FromSeconds(20));
        }
        catch (OperationCanceledException)
        {
        }

        await _server.DisposeAsync();
        await _transport.DisposeAsync();
        _replies.Dispose();
    }
}

using System.IO.Pipelines;
using Attune.Agents.Box;
using Attune.Agents.Sandbox;
using ModelContextProtocol.Client;
using ModelContextProtocol.Protocol;

namespace Attune.Agents.Mcp;

/// <summary>
/// An MCP client connected to a box's MCP server. <see cref="InProcessAsync"/> runs the server in
/// this process and connects over a pair of in-memory pipes (the real protocol, no child process);
/// <see cref="StdioAsync"/> launches a server command (e.g. <c>attune mcp serve --box DIR</c>).
/// </summary>
public sealed class BoxConnection : IAsyncDisposable
{
    private readonly CancellationTokenSource _stop;
    private readonly Task? _server;
    private readonly ToolSandbox? _sandbox;
    private readonly Pipe[] _pipes;

    private BoxConnection(McpClient client, Task? server, ToolSandbox? sandbox, Pipe[] pipes, CancellationTokenSource? stop = null)
    {
        _stop = stop ?? new CancellationTokenSource();
        Client = client;
        _server = server;
        _sandbox = sandbox;
        _pipes = pipes;
    }

    public McpClient Client { get; }

    public static async Task<BoxConnection> InProcessAsync(McpBox box, IToolRunner? sandbox, CancellationToken ct)
    {
        ArgumentNullException.ThrowIfNull(box);
        var owned = sandbox is null ? new ToolSandbox() : null;
        var toServer = new Pipe();
        var toClient = new Pipe();
        var stop = new CancellationTokenSource();
        var server = Task.Run(() => BoxServer.RunStreamsAsync(box, sandbox ?? owned!, toServer.Reader.AsStream(), toClient.Writer.AsStream(), null, stop.Token), CancellationToken.None);
        var transport = new StreamClientTransport(toServer.Writer.AsStream(), toClient.Reader.AsStream(), null);
        var client = await McpClient.CreateAsync(transport, new McpClientOptions { ClientInfo = new Implementation { Name = "attune-student", Version = "1.0.0" } }, null, ct).ConfigureAwait(false);
        return new BoxConnection(client, server, owned, [toServer, toClient], stop);
    }

    public static async Task<BoxConnection> StdioAsync(string command, IList<string> arguments, CancellationToken ct)
    {
        var transport = new StdioClientTransport(new StdioClientTransportOptions { Name = "box", Command = command, Arguments = arguments });
        var client = await McpClient.CreateAsync(transport, null, null, ct).ConfigureAwait(false);
        return new BoxConnection(client, null, null, []);
    }

    public async ValueTask DisposeAsync()
    {
        await Client.DisposeAsync().ConfigureAwait(false);
        await _stop.CancelAsync().ConfigureAwait(false);
        foreach (var p in _pipes)
        {
            await p.Writer.CompleteAsync().ConfigureAwait(false);
            await p.Reader.CompleteAsync().ConfigureAwait(false);
        }

        if (_server is not null)
        {
            try
            {
                await _server.WaitAsync(TimeSpan.FromSeconds(5)).ConfigureAwait(false);
            }
            catch (Exception ex) when (ex is OperationCanceledException or TimeoutException or IOException or InvalidOperationException)
            {
            }
        }

        _sandbox?.Dispose();
        _stop.Dispose();
    }
}

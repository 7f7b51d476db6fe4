using System.Text.Json;
using System.Text.Json.Nodes;
using Attune.Agents.Box;
using Attune.Agents.Sandbox;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Hosting.Server;
using Microsoft.AspNetCore.Hosting.Server.Features;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using ModelContextProtocol.Protocol;
using ModelContextProtocol.Server;

namespace Attune.Agents.Mcp;

/// <summary>
/// A box tool as an MCP tool: name, description and input schema from its manifest; calls run
/// in the <see cref="ToolSandbox"/>. The result is returned twice, as MCP recommends for tools
/// with an output schema: as text (a string result as itself, any other value as compact JSON)
/// and as structured content <c>{"result": value}</c>. Sandbox failures are tool errors
/// (<c>isError: true</c>) with the reason as text, never protocol errors.
/// </summary>
public sealed class SandboxedMcpTool : McpServerTool
{
    private readonly BoxTool _tool;
    private readonly IToolRunner _sandbox;

    public SandboxedMcpTool(BoxTool tool, IToolRunner sandbox)
    {
        ArgumentNullException.ThrowIfNull(tool);
        _tool = tool;
        _sandbox = sandbox;
        ProtocolTool = new Tool
        {
            Name = tool.Name,
            Description = tool.Manifest.Description,
            InputSchema = JsonSerializer.SerializeToElement(tool.Manifest.InputSchema),
            OutputSchema = JsonSerializer.SerializeToElement(new JsonObject
            {
                ["type"] = "object",
                ["properties"] = new JsonObject { ["result"] = tool.Manifest.OutputSchema.DeepClone() },
                ["required"] = new JsonArray("result"),
            }),
        };
    }

    public override Tool ProtocolTool { get; }

    public override IReadOnlyList<object> Metadata => [];

    public override async ValueTask<CallToolResult> InvokeAsync(RequestContext<CallToolRequestParams> request, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(request);
        var args = new JsonObject();
        if (request.Params?.Arguments is { } given)
        {
            foreach (var (name, value) in given)
            {
                args[name] = JsonNode.Parse(value.GetRawText());
            }
        }

        var result = await _sandbox.CallAsync(_tool.Compiled, args, cancellationToken).ConfigureAwait(false);
        return ToCallToolResult(result);
    }

    internal static CallToolResult ToCallToolResult(SandboxResult result)
    {
        if (!result.Ok)
        {
            return new CallToolResult { IsError = true, Content = [new TextContentBlock { Text = result.Error ?? "error" }] };
        }

        var text = result.Result is JsonValue v && v.TryGetValue<string>(out var s) ? s : result.ResultJson ?? "null";
        return new CallToolResult
        {
            Content = [new TextContentBlock { Text = text }],
            StructuredContent = JsonSerializer.SerializeToElement(new JsonObject { ["result"] = result.Result?.DeepClone() }),
        };
    }
}

/// <summary>Serves an <see cref="McpBox"/> over MCP (stdio or streamable HTTP) with the official SDK.</summary>
public static class BoxServer
{
    public static Implementation ServerInfo(McpBox box)
    {
        ArgumentNullException.ThrowIfNull(box);
        return new Implementation { Name = box.Manifest.Name, Version = box.Manifest.Version };
    }

    /// <summary>The box's tools as MCP tools over <paramref name="sandbox"/>.</summary>
    public static IReadOnlyList<McpServerTool> Tools(McpBox box, IToolRunner sandbox)
    {
        ArgumentNullException.ThrowIfNull(box);
        return [.. box.Tools.Select(t => (McpServerTool)new SandboxedMcpTool(t, sandbox))];
    }

    /// <summary>Options of a server that lists and calls the box's tools.</summary>
    public static McpServerOptions Options(McpBox box, IToolRunner sandbox)
    {
        var collection = new McpServerPrimitiveCollection<McpServerTool>();
        foreach (var tool in Tools(box, sandbox))
        {
            collection.Add(tool);
        }

        return new McpServerOptions
        {
            ServerInfo = ServerInfo(box),
            ToolCollection = collection,
            ServerInstructions = box.Manifest.Description,
            // No per-request DI scope: the tools need no services (one less allocation and hop per call).
            ScopeRequests = false,
        };
    }

    /// <summary>Serves over a pair of streams (e.g. in-process pipes); returns when the input ends or <paramref name="ct"/> fires.</summary>
    public static async Task RunStreamsAsync(McpBox box, IToolRunner sandbox, Stream input, Stream output, ILoggerFactory? logs, CancellationToken ct)
    {
        await using var transport = new LineStreamServerTransport(input, output, box.Manifest.Name, logs);
        await using var server = McpServer.Create(transport, Options(box, sandbox), logs);
        await server.RunAsync(ct).ConfigureAwait(false);
    }

    /// <summary>Serves over this process's stdin/stdout (the protocol only; logs go to stderr).</summary>
    public static async Task RunStdioAsync(McpBox box, IToolRunner sandbox, ILoggerFactory? logs, CancellationToken ct)
    {
        var options = Options(box, sandbox);
        // Not the SDK's StdioServerTransport: this one reads on a dedicated thread and hands messages
        // to the session synchronously (lower latency, see LineStreamServerTransport and docs/agents.md).
        await using var transport = LineStreamServerTransport.ForStdio(box.Manifest.Name, logs);
        await using var server = McpServer.Create(transport, options, logs);
        await server.RunAsync(ct).ConfigureAwait(false);
    }

    /// <summary>Serves over streamable HTTP at <paramref name="urls"/> (path <c>/mcp</c>); calls <paramref name="started"/> with the bound addresses.</summary>
    public static async Task RunHttpAsync(McpBox box, IToolRunner sandbox, string urls, TextWriter log, Action<IReadOnlyList<string>>? started, bool verbose, CancellationToken ct)
    {
        ArgumentNullException.ThrowIfNull(log);
        var builder = WebApplication.CreateSlimBuilder();
        builder.WebHost.UseUrls(urls);
        builder.Logging.ClearProviders();
        builder.Logging.AddConsole(o => o.LogToStandardErrorThreshold = LogLevel.Trace);
        builder.Logging.SetMinimumLevel(verbose ? LogLevel.Information : LogLevel.Warning);
        // A failed start (a port in use) is thrown to the caller, which reports it in one line.
        builder.Logging.AddFilter("Microsoft.Extensions.Hosting.Internal.Host", LogLevel.None);
        builder.Services.AddMcpServer(o =>
            {
                o.ServerInfo = ServerInfo(box);
                o.ServerInstructions = box.Manifest.Description;
            })
            .WithHttpTransport(o => o.Stateless = true)
            .WithTools(Tools(box, sandbox));
        await using var app = builder.Build();
        app.MapMcp("/mcp");
        await app.StartAsync(ct).ConfigureAwait(false);
        var addresses = app.Services.GetRequiredService<IServer>().Features.Get<IServerAddressesFeature>()?.Addresses.ToList() ?? [];
        foreach (var a in addresses)
        {
            await log.WriteLineAsync($"serving MCP box '{box.Manifest.Name}' ({box.Tools.Count} tools) at {a}/mcp").ConfigureAwait(false);
        }

        await log.FlushAsync(ct).ConfigureAwait(false);
        started?.Invoke(addresses);
        try
        {
            await Task.Delay(Timeout.Infinite, ct).ConfigureAwait(false);
        }
        catch (OperationCanceledException)
        {
        }

        await app.StopAsync(CancellationToken.None).ConfigureAwait(false);
    }
}

using System.CommandLine;
using System.Text.Json;
using System.Text.Json.Nodes;
using Attune.Agents.Box;
using Attune.Agents.Mcp;
using Attune.Agents.Sandbox;
using Attune.Core.Errors;
using Attune.Core.Reproductions;
using Microsoft.Extensions.Logging;

namespace Attune.Cli.Commands;

/// <summary>
/// <c>attune mcp serve</c> (an MCP box as an MCP server) and <c>attune agent teach | distill |
/// solve | bench</c> (AgentDistill, Attune.Agents), and the <c>agentdistill</c> reproduction.
/// </summary>
public sealed partial class AgentCommands : ICommandModule
{
    public void AddCommands(CliApp app)
    {
        ArgumentNullException.ThrowIfNull(app);
        var mcp = app.AddGroup("mcp", "Model Context Protocol: serve an MCP box's tools.");
        mcp.Subcommands.Add(ServeCommand(app));
        mcp.Subcommands.Add(CheckCommand(app));
        AddAgentCommands(app);
    }

    private static Command CheckCommand(CliApp app)
    {
        var box = new Option<string>("--box") { Description = "The MCP box folder (box.json + tools/).", Required = true };
        var command = new Command("check", "Serve the box in process and call every tool with each of its manifest examples through an MCP client; exit 1 when any output differs. Also says which isolation layers the tool sandbox has here.") { box };
        app.SetAction(command, async (ctx, ct) =>
        {
            var loaded = McpBox.Load(ctx.Get(box)!);
            using var sandbox = new ToolSandbox();
            await using var connection = await BoxConnection.InProcessAsync(loaded, sandbox, ct);
            var results = new List<object>();
            var failed = 0;
            foreach (var tool in loaded.Tools)
            {
                foreach (var example in tool.Manifest.Examples)
                {
                    var args = example.Input.ToDictionary(p => p.Key, p => (object?)JsonSerializer.Deserialize<JsonElement>(p.Value?.ToJsonString() ?? "null"));
                    var call = await connection.Client.CallToolAsync(tool.Name, args, cancellationToken: ct);
                    var got = call.StructuredContent is { } sc ? JsonNode.Parse(sc.GetRawText())?["result"] : null;
                    var ok = call.IsError != true && JsonNode.DeepEquals(got, example.Output);
                    failed += ok ? 0 : 1;
                    var text = string.Concat(call.Content.OfType<ModelContextProtocol.Protocol.TextContentBlock>().Select(c => c.Text));
                    results.Add(new { tool = tool.Name, input = example.Input, expected = example.Output, got = call.IsError == true ? null : got, error = call.IsError == true ? text : null, ok });
                    if (!ctx.Json)
                    {
                        ctx.Out.WriteLine($"{(ok ? "ok  " : "FAIL")} {tool.Name}({example.Input.ToJsonString()}) -> {(call.IsError == true ? "error: " + text : got?.ToJsonString())}{(ok ? "" : ", expected " + example.Output?.ToJsonString())}");
                    }
                }
            }

            var isolation = sandbox.Isolation;
            if (ctx.Json)
            {
                var layers = new
                {
                    summary = isolation.Summary, emptyEnvironment = isolation.EmptyEnvironment, networkNamespace = isolation.NetworkNamespace,
                    unprivilegedUser = isolation.UnprivilegedUser, serverIsRoot = isolation.ServerIsRoot, hostUserId = isolation.HostUserId, unavailable = isolation.Unavailable,
                };
                ctx.WriteJson(new { box = loaded.Manifest.Name, tools = loaded.Tools.Count, examples = results.Count, failed, results, sandbox = layers });
            }
            else
            {
                ctx.Out.WriteLine($"{results.Count - failed} of {results.Count} examples reproduced ({loaded.Tools.Count} tools)");
                ctx.Out.WriteLine($"tool sandbox: {isolation.Summary}");
            }

            return failed == 0 ? CliApp.Success : CliApp.InternalFailure;
        });
        return command;
    }

    private static Command ServeCommand(CliApp app)
    {
        var box = new Option<string>("--box") { Description = "The MCP box folder (box.json + tools/).", Required = true };
        var transport = new Option<string>("--transport") { Description = "stdio (default) or http (streamable HTTP at /mcp).", DefaultValueFactory = _ => "stdio" };
        var urls = new Option<string>("--urls") { Description = "With --transport http: where to listen (e.g. http://127.0.0.1:5000; port 0 picks a free one).", DefaultValueFactory = _ => "http://127.0.0.1:5000" }.Urls();
        var hosts = new Option<int>("--hosts") { Description = "Tool host processes: calls run side by side on up to this many (default 1).", DefaultValueFactory = _ => 1 };
        var command = new Command("serve", "Serve an MCP box: each tool (name, description, input schema) over MCP; tool code runs in the sandboxed tool host. With stdio, stdout carries only the protocol.") { box, transport, urls, hosts };
        app.SetAction(command, async (ctx, ct) =>
        {
            var kind = ctx.Get(transport) ?? "stdio";
            if (kind is not ("stdio" or "http"))
            {
                throw new AttuneInputException($"--transport: '{kind}' is not one of stdio, http");
            }

            var n = ctx.Get(hosts);
            if (n is < 1 or > 64)
            {
                throw new AttuneInputException($"--hosts: '{n}' is not between 1 and 64");
            }

            var loaded = McpBox.Load(ctx.Get(box)!);
            using var sandbox = new ToolSandboxPool(n);
            await sandbox.WarmUpAsync(ct);
            if (kind == "stdio")
            {
                using var logs = LoggerFactory.Create(b => b
                    .AddConsole(o => o.LogToStandardErrorThreshold = LogLevel.Trace)
                    .SetMinimumLevel(ctx.Verbose ? LogLevel.Information : LogLevel.Warning));
                ctx.Log($"serving MCP box '{loaded.Manifest.Name}' ({loaded.Tools.Count} tools) on stdio; tool sandbox: {SandboxIsolation.Current.Summary}");
                await BoxServer.RunStdioAsync(loaded, sandbox, logs, ct);
            }
            else
            {
                await Listening.ServeAsync(ctx.Get(urls)!, () => BoxServer.RunHttpAsync(loaded, sandbox, ctx.Get(urls)!, ctx.Err, null, ctx.Verbose, ct));
            }

            return CliApp.Success;
        });
        return command;
    }
}

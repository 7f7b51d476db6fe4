using System.Diagnostics;
using System.Text.Json;
using System.Text.Json.Nodes;
using Attune.Agents.Box;
using Attune.Agents.Sandbox;
using ModelContextProtocol.Client;
using ModelContextProtocol.Protocol;

namespace Attune.Agents.Tests;

/// <summary>
/// The example box served by the real <c>attune mcp serve</c>, launched as a child process, and
/// called by MCP clients: the C# SDK over stdio and over HTTP, and the official TypeScript SDK
/// (node) over both. Every tool is listed and called with each of its manifest examples.
/// </summary>
[Collection(ProcessTests.Name)]
public sealed class McpServerTests
{
    private static readonly McpBox Box = McpBox.Load(Paths.ExampleBox);

    [Fact]
    public async Task Csharp_client_over_stdio_lists_and_calls_every_tool()
    {
        var transport = new StdioClientTransport(new StdioClientTransportOptions
        {
            Name = "attune-box",
            Command = DotnetHost.Path,
            Arguments = [Paths.AttuneDll, "mcp", "serve", "--box", Paths.ExampleBox],
        });
        await using var client = await McpClient.CreateAsync(transport);
        await CheckAsync(client);
    }

    [Fact]
    public async Task Csharp_client_over_http_lists_and_calls_every_tool()
    {
        using var server = await HttpServer.StartAsync(Paths.ExampleBox);
        var transport = new HttpClientTransport(new HttpClientTransportOptions { Endpoint = new Uri(server.Url) });
        await using var client = await McpClient.CreateAsync(transport);
        await CheckAsync(client);
    }

    [Fact]
    public async Task Typescript_sdk_client_over_stdio_lists_and_calls_every_tool()
    {
        var plan = new JsonObject
        {
            ["transport"] = "stdio",
            ["command"] = DotnetHost.Path,
            ["args"] = new JsonArray(Paths.AttuneDll, "mcp", "serve", "--box", Paths.ExampleBox),
            ["calls"] = Calls(),
        };
        CheckTypescriptResult(await TsClient.RunAsync(plan));
    }

    [Fact]
    public async Task Typescript_sdk_client_over_http_lists_and_calls_every_tool()
    {
        using var server = await HttpServer.StartAsync(Paths.ExampleBox);
        var plan = new JsonObject { ["transport"] = "http", ["url"] = server.Url, ["calls"] = Calls() };
        CheckTypescriptResult(await TsClient.RunAsync(plan));
    }

    [Fact]
    public async Task Server_survives_a_hostile_tool_and_answers_the_next_call()
    {
        // A box whose second tool loops forever: the call fails with a limit error, the host is replaced, the server keeps serving.
        var dir = Paths.TempDir();
        var hostile = "public static class Spin { public static int Run(int n) { while (true) { n++; } } }";
        var compiled = ToolCompiler.Compile(hostile);
        var good = Box.Tools[0];
        var spin = new BoxTool(new ToolManifest
        {
            Name = "spin",
            Description = "loops forever",
            InputSchema = ToolSchema.ForInput(compiled),
            OutputSchema = ToolSchema.ForOutput(compiled),
            Provenance = new ToolProvenance([], "red-team"),
            Source = "spin.cs",
        }, hostile, compiled);
        new McpBox(new BoxManifest { Name = "mixed", Version = "0.0.1", Tools = [good.Name, "spin"] }, [good, spin]).Save(dir);

        var transport = new StdioClientTransport(new StdioClientTransportOptions
        {
            Name = "attune-box",
            Command = DotnetHost.Path,
            Arguments = [Paths.AttuneDll, "mcp", "serve", "--box", dir],
        });
        await using var client = await McpClient.CreateAsync(transport);
        var clock = Stopwatch.StartNew();
        var bad = await client.CallToolAsync("spin", new Dictionary<string, object?> { ["n"] = 1 });
        Assert.True(bad.IsError);
        Assert.Contains("limit exceeded", Text(bad), StringComparison.Ordinal);
        Assert.True(clock.Elapsed < TimeSpan.FromSeconds(20));
        var example = good.Manifest.Examples[0];
        var ok = await client.CallToolAsync(good.Name, ToArguments(example.Input));
        Assert.NotEqual(true, ok.IsError);
        Assert.Equal(example.Output!.ToJsonString(), Structured(ok)!.ToJsonString());
    }

    private static async Task CheckAsync(McpClient client)
    {
        Assert.Equal("game24", client.ServerInfo?.Name);
        var tools = await client.ListToolsAsync();
        Assert.Equal(Box.Manifest.Tools.OrderBy(n => n), tools.Select(t => t.Name).OrderBy(n => n));
        foreach (var tool in Box.Tools)
        {
            var listed = tools.Single(t => t.Name == tool.Name);
            Assert.Equal(tool.Manifest.Description, listed.Description);
            Assert.True(JsonNode.DeepEquals(tool.Manifest.InputSchema, JsonNode.Parse(listed.JsonSchema.GetRawText())));
            Assert.NotEmpty(tool.Manifest.Examples);
            foreach (var example in tool.Manifest.Examples)
            {
                var result = await client.CallToolAsync(tool.Name, ToArguments(example.Input));
                Assert.NotEqual(true, result.IsError);
                Assert.Equal(example.Output!.ToJsonString(), Structured(result)!.ToJsonString());
                Assert.Equal(example.Output.GetValue<string>(), Text(result));
            }
        }

        // A bad argument is a tool error, not a dead server.
        var wrong = await client.CallToolAsync("evaluate_expression", new Dictionary<string, object?> { ["expression"] = "1/0" });
        Assert.True(wrong.IsError);
        Assert.Contains("DivideByZero", Text(wrong), StringComparison.Ordinal);
    }

    private static JsonArray Calls() =>
        [.. Box.Tools.SelectMany(t => t.Manifest.Examples.Select(e => (JsonNode)new JsonObject { ["name"] = t.Name, ["arguments"] = e.Input.DeepClone() }))];

    private static void CheckTypescriptResult(JsonObject result)
    {
        Assert.Equal("game24", result["server"]!["name"]!.GetValue<string>());
        var names = result["tools"]!.AsArray().Select(t => t!["name"]!.GetValue<string>()).OrderBy(n => n);
        Assert.Equal(Box.Manifest.Tools.OrderBy(n => n), names);
        var expected = Box.Tools.SelectMany(t => t.Manifest.Examples.Select(e => (t.Name, e.Output!))).ToList();
        var results = result["results"]!.AsArray();
        Assert.Equal(expected.Count, results.Count);
        for (var i = 0; i < expected.Count; i++)
        {
            var r = results[i]!;
            Assert.Equal(expected[i].Name, r["name"]!.GetValue<string>());
            Assert.False(r["isError"]!.GetValue<bool>(), r["text"]?.ToJsonString());
            Assert.Equal(expected[i].Item2.ToJsonString(), r["structured"]!["result"]!.ToJsonString());
            Assert.Equal(expected[i].Item2.GetValue<string>(), r["text"]!.GetValue<string>());
        }
    }

    internal static Dictionary<string, object?> ToArguments(JsonObject input) =>
        input.ToDictionary(p => p.Key, p => (object?)JsonSerializer.Deserialize<JsonElement>(p.Value?.ToJsonString() ?? "null"));

    internal static string Text(CallToolResult result) => string.Concat(result.Content.OfType<TextContentBlock>().Select(c => c.Text));

    internal static JsonNode? Structured(CallToolResult result) =>
        result.StructuredContent is { } s ? JsonNode.Parse(s.GetRawText())!["result"] : null;
}

/// <summary><c>attune mcp serve --transport http --urls http://127.0.0.1:0</c> as a child process.</summary>
internal sealed class HttpServer : IDisposable
{
    private readonly Process _process;

    private HttpServer(Process process, string url)
    {
        _process = process;
        Url = url;
    }

    public string Url { get; }

    public static async Task<HttpServer> StartAsync(string box)
    {
        var start = new ProcessStartInfo(DotnetHost.Path)
        {
            RedirectStandardError = true,
            RedirectStandardOutput = true,
            UseShellExecute = false,
        };
        foreach (var a in new[] { Paths.AttuneDll, "mcp", "serve", "--box", box, "--transport", "http", "--urls", "http://127.0.0.1:0" })
        {
            start.ArgumentList.Add(a);
        }

        var process = Process.Start(start)!;
        var found = new TaskCompletionSource<string>(TaskCreationOptions.RunContinuationsAsynchronously);
        var log = new System.Text.StringBuilder();
        process.ErrorDataReceived += (_, e) =>
        {
            if (e.Data is null)
            {
                found.TrySetException(new InvalidOperationException("server exited: " + log));
                return;
            }

            lock (log)
            {
                log.AppendLine(e.Data);
            }

            var at = e.Data.IndexOf(" at http", StringComparison.Ordinal);
            if (at >= 0)
            {
                found.TrySetResult(e.Data[(at + 4)..].Trim());
            }
        };
        process.BeginErrorReadLine();
        process.OutputDataReceived += (_, _) => { };
        process.BeginOutputReadLine();
        var done = await Task.WhenAny(found.Task, Task.Delay(TimeSpan.FromSeconds(180)));
        if (done != found.Task)
        {
            process.Kill(true);
            throw new TimeoutException("the HTTP server did not report its address: " + log);
        }

        return new HttpServer(process, await found.Task);
    }

    public void Dispose()
    {
        if (!_process.HasExited)
        {
            _process.Kill(entireProcessTree: true);
            _process.WaitForExit(5000);
        }

        _process.Dispose();
    }
}

/// <summary>Runs tests/Attune.Agents.Tests/TsClient/client.mjs with node; installs its packages with npm ci when missing.</summary>
internal static class TsClient
{
    public static string Folder => Path.Combine(Paths.Repo, "tests", "Attune.Agents.Tests", "TsClient");

    public static async Task<JsonObject> RunAsync(JsonObject plan)
    {
        var planFile = Path.Combine(Paths.TempDir(), "plan.json");
        await File.WriteAllTextAsync(planFile, plan.ToJsonString());
        var (exit, stdout, stderr) = await Attune.Tests.Shared.NodeScripts.RunAsync(Folder, Path.Combine("@modelcontextprotocol", "sdk"), "client.mjs", [planFile], TimeSpan.FromMinutes(2));
        Assert.True(exit == 0, $"node client.mjs exited {exit}: {stderr}");
        return JsonNode.Parse(stdout)!.AsObject();
    }
}

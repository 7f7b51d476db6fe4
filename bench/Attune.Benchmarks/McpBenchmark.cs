using System.Diagnostics;
using System.Globalization;
using System.Text.Json;
using Attune.Agents.Box;
using Attune.Agents.Sandbox;
using ModelContextProtocol.Client;

namespace Attune.Benchmarks;

/// <summary>
/// <c>-- mcp [--calls N] [--warmup N]</c>: tools/call round-trip latency (p50, p99) and calls per
/// second over stdio for a trivial tool, add(a, b), served (1) by <c>attune mcp serve</c> (the tool's
/// C# runs in the sandboxed tool host, a second process) and (2) by the equivalent server written with
/// the MCP TypeScript SDK on Node.js (bench/peers/mcp_ts_server). The same C# SDK client drives both,
/// one call at a time, after a warm-up.
/// </summary>
public static class McpBenchmark
{
    public static async Task<int> RunAsync(string[] args)
    {
        var calls = BenchArgs.Int(args, "--calls", 3000);
        var warmup = BenchArgs.Int(args, "--warmup", 500);
        var repo = FindRepo();
        var box = Path.Combine(Path.GetTempPath(), "attune-mcp-bench-box");
        WriteTrivialBox(box);
        var peer = Path.Combine(repo, "bench", "peers", "mcp_ts_server");
        if (!Directory.Exists(Path.Combine(peer, "node_modules")))
        {
            Console.Error.WriteLine($"installing the peer's packages: npm ci in {peer}");
            using var npm = Process.Start(new ProcessStartInfo("npm", "ci --no-audit --no-fund") { WorkingDirectory = peer })!;
            await npm.WaitForExitAsync();
            if (npm.ExitCode != 0)
            {
                Console.Error.WriteLine("npm ci failed");
                return 1;
            }
        }

        var attune = Path.Combine(AppContext.BaseDirectory, "attune.dll");
        var servers = new (string Name, string Command, string[] Args)[]
        {
            ("attune mcp serve (C#, sandboxed tool host)", DotnetHost.Path, [attune, "mcp", "serve", "--box", box]),
            ("MCP TypeScript SDK on Node.js " + NodeVersion(), "node", [Path.Combine(peer, "server.mjs")]),
        };
        Console.WriteLine($"tools/call round trips over stdio, trivial tool add(a, b); {warmup} warm-up calls, then {calls} timed calls, one at a time; {Environment.ProcessorCount} logical CPUs");
        Console.WriteLine($"{"server",-46} {"p50 µs",9} {"p99 µs",9} {"mean µs",9} {"calls/s",9}");
        foreach (var (name, command, arguments) in servers)
        {
            var transport = new StdioClientTransport(new StdioClientTransportOptions { Name = "bench", Command = command, Arguments = arguments });
            await using var client = await McpClient.CreateAsync(transport);
            var rng = new Random(1);
            for (var i = 0; i < warmup; i++)
            {
                await CallAsync(client, rng);
            }

            var times = new double[calls];
            var total = Stopwatch.StartNew();
            for (var i = 0; i < calls; i++)
            {
                var t = Stopwatch.GetTimestamp();
                await CallAsync(client, rng);
                times[i] = Stopwatch.GetElapsedTime(t).TotalMicroseconds;
            }

            var seconds = total.Elapsed.TotalSeconds;
            Array.Sort(times);
            Console.WriteLine(string.Create(CultureInfo.InvariantCulture,
                $"{name,-46} {Pct(times, 0.50),9:F0} {Pct(times, 0.99),9:F0} {times.Average(),9:F0} {calls / seconds,9:F0}"));
        }

        // Where the time goes (1): the C# SDK client and server in one process over in-memory pipes, tool in the sandbox.
        {
            var trivial = McpBox.Load(box);
            using var sandbox = new ToolSandbox();
            await using var connection = await Attune.Agents.Mcp.BoxConnection.InProcessAsync(trivial, sandbox, CancellationToken.None);
            var rng = new Random(1);
            var times = new double[calls];
            for (var i = 0; i < warmup + calls; i++)
            {
                var t = Stopwatch.GetTimestamp();
                await CallAsync(connection.Client, rng);
                if (i >= warmup)
                {
                    times[i - warmup] = Stopwatch.GetElapsedTime(t).TotalMicroseconds;
                }
            }

            Array.Sort(times);
            Console.WriteLine(string.Create(CultureInfo.InvariantCulture,
                $"{"(C# client+server in one process, pipes)",-46} {Pct(times, 0.50),9:F0} {Pct(times, 0.99),9:F0} {times.Average(),9:F0} {calls / (times.Sum() / 1e6),9:F0}"));
        }

        // Where the time goes (2): the sandbox hop alone (this process -> tool host -> back), no MCP.
        {
            const string source = "public static class Add { public static int Run(int a, int b) => a + b; }";
            using var sandbox = new ToolSandbox();
            var tool = ToolCompiler.Compile(source);
            var rng = new Random(1);
            var times = new double[calls];
            for (var i = 0; i < warmup + calls; i++)
            {
                var t = Stopwatch.GetTimestamp();
                var r = await sandbox.CallAsync(tool, new System.Text.Json.Nodes.JsonObject { ["a"] = rng.Next(1000), ["b"] = rng.Next(1000) });
                if (!r.Ok)
                {
                    throw new InvalidOperationException(r.Error);
                }

                if (i >= warmup)
                {
                    times[i - warmup] = Stopwatch.GetElapsedTime(t).TotalMicroseconds;
                }
            }

            Array.Sort(times);
            Console.WriteLine(string.Create(CultureInfo.InvariantCulture,
                $"{"(part of the first) sandbox hop alone, no MCP",-46} {Pct(times, 0.50),9:F0} {Pct(times, 0.99),9:F0} {times.Average(),9:F0} {calls / (times.Sum() / 1e6),9:F0}"));
        }

        return 0;
    }

    private static async Task CallAsync(McpClient client, Random rng)
    {
        int a = rng.Next(1000), b = rng.Next(1000);
        var r = await client.CallToolAsync("add", new Dictionary<string, object?> { ["a"] = a, ["b"] = b });
        var text = ((ModelContextProtocol.Protocol.TextContentBlock)r.Content[0]).Text;
        if (r.IsError == true || text != (a + b).ToString(CultureInfo.InvariantCulture))
        {
            throw new InvalidOperationException($"add({a}, {b}) answered '{text}'");
        }
    }

    private static void WriteTrivialBox(string dir)
    {
        const string source = "public static class Add { public static int Run(int a, int b) => a + b; }";
        var tool = ToolCompiler.Compile(source);
        new McpBox(new BoxManifest { Name = "trivial", Version = "1.0.0", Tools = ["add"] },
        [
            new BoxTool(new ToolManifest
            {
                Name = "add",
                Description = "Adds two integers.",
                InputSchema = ToolSchema.ForInput(tool),
                OutputSchema = ToolSchema.ForOutput(tool),
                Provenance = new ToolProvenance([], "benchmark"),
                Examples = [new ToolExample(new() { ["a"] = 2, ["b"] = 3 }, 5)],
                Source = "add.cs",
            }, source, tool),
        ]).Save(dir);
    }

    private static double Pct(double[] sorted, double q) => sorted[Math.Min(sorted.Length - 1, (int)Math.Ceiling(q * sorted.Length) - 1)];

    private static string NodeVersion()
    {
        try
        {
            using var p = Process.Start(new ProcessStartInfo("node", "--version") { RedirectStandardOutput = true })!;
            var v = p.StandardOutput.ReadToEnd().Trim();
            p.WaitForExit();
            return v;
        }
        catch (System.ComponentModel.Win32Exception)
        {
            return "(node not found)";
        }
    }

    private static string FindRepo()
    {
        var dir = new DirectoryInfo(AppContext.BaseDirectory);
        while (dir is not null && !File.Exists(Path.Combine(dir.FullName, "Attune.slnx")))
        {
            dir = dir.Parent;
        }

        return dir?.FullName ?? Directory.GetCurrentDirectory();
    }
}

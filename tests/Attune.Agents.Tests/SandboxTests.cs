using System.Text.Json.Nodes;
using Attune.Agents.Sandbox;
using Xunit.Abstractions;

namespace Attune.Agents.Tests;

public sealed class SandboxTests(ITestOutputHelper output)
{
    [Fact]
    public async Task Example_tools_compile_and_run_in_the_host()
    {
        using var sandbox = new ToolSandbox();
        var dir = Path.Combine(Paths.ExampleBox, "tools");
        var solve = ToolCompiler.Compile(File.ReadAllText(Path.Combine(dir, "solve24.cs")));
        Assert.Equal("string Solve24(int[] numbers, int target)", solve.Signature);
        foreach (var nums in new[] { "[1,1,1,8]", "[4,9,10,13]", "[1,1,1,1]", "[3,3,8,8]" })
        {
            var r = await sandbox.CallAsync(solve, new JsonObject { ["numbers"] = JsonNode.Parse(nums) });
            output.WriteLine($"solve24 {nums} -> {r.ResultJson} {r.Error} {r.Milliseconds:F1} ms");
            Assert.True(r.Ok, r.Error);
        }

        var eval = ToolCompiler.Compile(File.ReadAllText(Path.Combine(dir, "evaluate_expression.cs")));
        foreach (var e in new[] { "8/(3-8/3)", "(1+2)*7-4/3", "1/0" })
        {
            var r = await sandbox.CallAsync(eval, new JsonObject { ["expression"] = e });
            output.WriteLine($"eval {e} -> {r.ResultJson} {r.Error}");
        }

        var check = ToolCompiler.Compile(File.ReadAllText(Path.Combine(dir, "check_answer.cs")));
        foreach (var (n, e) in new[] { ("[3,3,8,8]", "8/(3-8/3)"), ("[1,1,1,8]", "(1+1+1)*8"), ("[1,2,3,4]", "1+2+3+4"), ("[1,2,3,4]", "(1+2+3)*4+4") })
        {
            var r = await sandbox.CallAsync(check, new JsonObject { ["numbers"] = JsonNode.Parse(n), ["expression"] = e });
            output.WriteLine($"check {n} {e} -> {r.ResultJson} {r.Error}");
        }
    }
}

using System.Text.Json.Nodes;
using Attune.Agents.Game24;
using Attune.Agents.Sandbox;

namespace Attune.Agents.Tests;

/// <summary>The example box's tools, compiled under the allow-list and run in the tool host, checked against the program grader.</summary>
public sealed class SandboxTests
{
    [Fact]
    public async Task Example_tools_compile_and_run_in_the_host()
    {
        using var sandbox = new ToolSandbox();
        var dir = Path.Combine(Paths.ExampleBox, "tools");
        var solve = ToolCompiler.Compile(File.ReadAllText(Path.Combine(dir, "solve24.cs")));
        Assert.Equal("string Solve24(int[] numbers, int target)", solve.Signature);
        foreach (var numbers in new[] { new[] { 1, 1, 1, 8 }, [4, 9, 10, 13], [3, 3, 8, 8], [1, 5, 5, 5], [2, 7, 9, 13] })
        {
            var r = await sandbox.CallAsync(solve, new JsonObject { ["numbers"] = new JsonArray([.. numbers.Select(n => (JsonNode)n)]) });
            Assert.True(r.Ok, r.Error);
            var expression = r.Result!.GetValue<string>();
            Assert.Equal(Game24Solver.Solve(numbers) is null, expression == "no solution");
            if (expression != "no solution")
            {
                Assert.True(Game24Grader.Grade(numbers, expression).Correct, expression);
            }
        }

        var none = await sandbox.CallAsync(solve, new JsonObject { ["numbers"] = new JsonArray(1, 1, 1, 1) });
        Assert.Equal("no solution", none.Result!.GetValue<string>());
        var ten = await sandbox.CallAsync(solve, new JsonObject { ["numbers"] = new JsonArray(1, 2, 3, 4), ["target"] = 10 });
        Assert.Equal(10, EvaluateExactly(ten.Result!.GetValue<string>()));

        var eval = ToolCompiler.Compile(File.ReadAllText(Path.Combine(dir, "evaluate_expression.cs")));
        foreach (var (e, want) in new[] { ("8/(3-8/3)", "24"), ("(1+2)*7-4/3", "59/3"), ("6 ÷ 4", "3/2"), ("2-7", "-5") })
        {
            var r = await sandbox.CallAsync(eval, new JsonObject { ["expression"] = e });
            Assert.True(r.Ok, r.Error);
            Assert.Equal(want, r.Result!.GetValue<string>());
        }

        var byZero = await sandbox.CallAsync(eval, new JsonObject { ["expression"] = "1/(2-2)" });
        Assert.False(byZero.Ok);
        Assert.Contains("DivideByZero", byZero.Error, StringComparison.Ordinal);

        var check = ToolCompiler.Compile(File.ReadAllText(Path.Combine(dir, "check_answer.cs")));
        foreach (var (numbers, e) in new[] { (new[] { 3, 3, 8, 8 }, "8/(3-8/3)"), ([1, 1, 1, 8], "(1+1+1)*8"), ([1, 2, 3, 4], "1+2+3+4"), ([1, 2, 3, 4], "(1+2+3)*4+4"), ([1, 2, 3, 4], "2^3*3") })
        {
            var r = await sandbox.CallAsync(check, new JsonObject { ["numbers"] = new JsonArray([.. numbers.Select(n => (JsonNode)n)]), ["expression"] = e });
            Assert.True(r.Ok, r.Error);
            Assert.Equal(Game24Grader.Grade(numbers, e).Correct, r.Result!.GetValue<string>() == "correct");
        }
    }

    private static int EvaluateExactly(string expression)
    {
        var digits = new string([.. expression.Where(char.IsAsciiDigit)]);
        Assert.Equal("1234", string.Concat(digits.Order()));
        var numbers = digits.Select(c => c - '0').ToList();
        // The grader checks 24; here the target is 10, so check the value through the grader's own parser on (expr)+14 = 24.
        Assert.True(Game24Grader.Grade([.. numbers, 14], "(" + expression + ")+14").Correct, expression);
        return 10;
    }
}

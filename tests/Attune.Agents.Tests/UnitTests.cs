using System.Text.Json.Nodes;
using Attune.Agents.Agent;
using Attune.Agents.Box;
using Attune.Agents.Distill;
using Attune.Agents.Game24;
using Attune.Agents.Mcp;
using Attune.Agents.Sandbox;
using Attune.Core.Errors;
using Microsoft.Extensions.AI;

namespace Attune.Agents.Tests;

public sealed class GraderTests
{
    [Theory]
    [InlineData(new[] { 3, 3, 8, 8 }, "8/(3-8/3)", true)]
    [InlineData(new[] { 3, 3, 8, 8 }, "8÷(3−8÷3)", true)]
    [InlineData(new[] { 1, 1, 1, 8 }, "(1+1+1)×8", true)]
    [InlineData(new[] { 1, 1, 1, 8 }, "(1+1+1)*8 = 24", true)]
    [InlineData(new[] { 4, 9, 10, 13 }, "(10-4)*(13-9)", true)]
    [InlineData(new[] { 1, 2, 3, 4 }, "1*2*3*4", true)]
    [InlineData(new[] { 1, 2, 3, 4 }, "1+2+3+4", false)]          // 10
    [InlineData(new[] { 1, 2, 3, 4 }, "2*3*4", false)]            // 1 unused
    [InlineData(new[] { 1, 2, 3, 4 }, "(1+2+3)*4*1", false)]      // 1 used twice
    [InlineData(new[] { 1, 2, 3, 4 }, "24", false)]
    [InlineData(new[] { 2, 2, 2, 3 }, "2^3*(2+2-3)", false)]     // ^ is not allowed
    [InlineData(new[] { 1, 2, 3, 4 }, "-1+2+3*4+... ", false)]
    [InlineData(new[] { 1, 2, 3, 4 }, "4/(1-1)*2*3", false)]      // divide by zero / wrong numbers
    [InlineData(new[] { 5, 5, 5, 1 }, "5*(5-1/5)", true)]         // exact fractions: 24
    public void Grades_by_program(int[] numbers, string answer, bool correct) =>
        Assert.Equal(correct, Game24Grader.Grade(numbers, answer).Correct);

    [Fact]
    public void Solver_finds_only_true_solutions()
    {
        foreach (var numbers in new[] { new[] { 1, 1, 1, 8 }, [3, 3, 8, 8], [1, 5, 5, 5], [4, 4, 10, 10] })
        {
            var expression = Game24Solver.Solve(numbers);
            Assert.NotNull(expression);
            Assert.True(Game24Grader.Grade(numbers, expression).Correct, expression);
        }

        Assert.Null(Game24Solver.Solve([1, 1, 1, 1]));
        Assert.All(Game24Data.Generate(10, 3), t => Assert.NotNull(Game24Solver.Solve(t.Numbers!)));
    }

    [Game24DataFact]
    public void Reads_the_OctoTools_data()
    {
        var path = Paths.RequireGame24Data();

        var tasks = Game24Data.Load(path);
        Assert.Equal(300, tasks.Count);
        Assert.All(tasks, t => Assert.Equal(4, t.Numbers!.Count));
        // Every reference answer shipped with the data is graded correct by the program.
        using var doc = System.Text.Json.JsonDocument.Parse(File.ReadAllText(path));
        var checkedAnswers = 0;
        foreach (var item in doc.RootElement.EnumerateArray().Take(60))
        {
            var numbers = item.GetProperty("question").EnumerateArray().Select(n => n.GetInt32()).ToList();
            foreach (var answer in item.GetProperty("answer").EnumerateArray())
            {
                Assert.True(Game24Grader.Grade(numbers, answer.GetString()).Correct, answer.GetString());
                checkedAnswers++;
            }
        }

        Assert.True(checkedAnswers >= 60);
    }
}

public sealed class ClusteringTests
{
    [Fact]
    public void Agglomerative_merges_within_the_threshold_only()
    {
        float[] A(double angle) => [(float)Math.Cos(angle), (float)Math.Sin(angle)];
        var vectors = new[] { A(0), A(0.1), A(1.5), A(1.55), A(3.0) };
        var clusters = Agglomerative.Cluster(vectors, 0.05);
        Assert.Equal([[0, 1], [2, 3], [4]], clusters.Select(c => c.ToArray()).ToArray());
        Assert.Single(Agglomerative.Cluster(vectors, 2.0));
        Assert.Equal(5, Agglomerative.Cluster(vectors, 0.0001).Count);
    }

    [Fact]
    public void MiniLm_puts_paraphrases_closer_than_unrelated_text()
    {
        var v = MiniLmEmbedder.Instance.Embed([
            "find an arithmetic expression of four numbers that equals 24",
            "search for a way to combine the numbers with + - * / to make 24",
            "count the vowels in an English word"]);
        Assert.Equal(384, v[0].Length);
        Assert.True(Similarity.Cosine(v[0], v[1]) > Similarity.Cosine(v[0], v[2]) + 0.2);
    }
}

public sealed class BoxAndSandboxTests
{
    [Fact]
    public void Box_errors_name_the_file_and_field()
    {
        var dir = Paths.TempDir();
        var e = Assert.Throws<AttuneInputException>(() => McpBox.Load(dir));
        Assert.Contains("box.json", e.Message, StringComparison.Ordinal);

        File.WriteAllText(Path.Combine(dir, "box.json"), "{\"name\":\"b\",\"version\":\"1\",\"tools\":[\"t\"]}");
        e = Assert.Throws<AttuneInputException>(() => McpBox.Load(dir));
        Assert.Contains("t.json", e.Message, StringComparison.Ordinal);

        Directory.CreateDirectory(Path.Combine(dir, "tools"));
        File.WriteAllText(Path.Combine(dir, "tools", "t.json"),
            "{\"name\":\"t\",\"description\":\"d\",\"inputSchema\":{\"type\":\"object\",\"properties\":{}},\"outputSchema\":{},\"provenance\":{\"tasks\":[],\"method\":\"m\"},\"source\":\"t.cs\"}");
        File.WriteAllText(Path.Combine(dir, "tools", "t.cs"), "public static class T { public static int Run(int x) => x; }");
        e = Assert.Throws<AttuneInputException>(() => McpBox.Load(dir));
        Assert.Equal("inputSchema", e.Field);

        File.WriteAllText(Path.Combine(dir, "tools", "t.json"), "{\"name\":\"t\"");
        e = Assert.Throws<AttuneInputException>(() => McpBox.Load(dir));
        Assert.Contains("t.json", e.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void Box_saves_and_loads_back()
    {
        var box = McpBox.Load(Paths.ExampleBox);
        var dir = Path.Combine(Paths.TempDir(), "copy");
        box.Save(dir);
        box.Save(dir); // replacing an existing box
        var again = McpBox.Load(dir);
        Assert.Equal(box.Manifest.Tools, again.Manifest.Tools);
        Assert.All(box.Tools.Zip(again.Tools), p => Assert.Equal(p.First.Source, p.Second.Source));
    }

    [Fact]
    public async Task Cpu_limit_and_wall_clock_limit_are_told_apart_and_hosts_are_replaced()
    {
        using var sandbox = new ToolSandbox(new SandboxLimits { WallClock = TimeSpan.FromSeconds(10), CpuTime = TimeSpan.FromSeconds(0.5) });
        var spin = await sandbox.RunSourceAsync("public static class S { public static int Run() { long i = 0; while (true) { i++; } } }", []);
        Assert.False(spin.Ok);
        Assert.Contains("CPU-time limit", spin.Error, StringComparison.Ordinal);
        Assert.True(spin.Milliseconds < 9500, $"{spin.Milliseconds} ms");
        Assert.True(spin.HostReplaced);
        var ok = await sandbox.RunSourceAsync("public static class S { public static string Run(string s, int n = 2) => string.Concat(System.Linq.Enumerable.Repeat(s, n)); }", new JsonObject { ["s"] = "ab" });
        Assert.True(ok.Ok, ok.Error);
        Assert.Equal("abab", ok.Result!.GetValue<string>());
        Assert.Equal(2, sandbox.HostsStarted);

        var wrongType = await sandbox.RunSourceAsync("public static class S { public static int Run(int n) => n; }", new JsonObject { ["n"] = "seven" });
        Assert.False(wrongType.Ok);
        Assert.Contains("argument 'n'", wrongType.Error, StringComparison.Ordinal);
        var missing = await sandbox.RunSourceAsync("public static class S { public static int Run(int n) => n; }", []);
        Assert.Contains("missing argument 'n'", missing.Error, StringComparison.Ordinal);
        Assert.Equal(2, sandbox.HostsStarted); // argument errors do not cost a host
    }

    [Fact]
    public async Task Working_set_watchdog_kills_a_host_that_grows_past_its_cap()
    {
        // The GC heap cap is set high here so that only the working-set watchdog can stop it.
        using var sandbox = new ToolSandbox(new SandboxLimits
        {
            HeapBytes = 1L << 30, WorkingSetBytes = 200L << 20, CpuTime = TimeSpan.FromSeconds(20), WallClock = TimeSpan.FromSeconds(30),
        });
        var grow = await sandbox.RunSourceAsync(
            "public static class G { public static int Run() { var a = new byte[600_000_000]; for (int i = 0; i < a.Length; i += 4096) a[i] = 1; long n = 0; while (true) { n += a[(int)(n % a.Length)]; } } }", []);
        Assert.False(grow.Ok);
        Assert.Contains("memory limit exceeded", grow.Error, StringComparison.Ordinal);
        var next = await sandbox.RunSourceAsync("public static class S { public static int Run() => 7; }", []);
        Assert.True(next.Ok, next.Error);
    }

    [Fact]
    public async Task A_cancelled_call_replaces_the_busy_host()
    {
        using var sandbox = new ToolSandbox();
        using var cts = new CancellationTokenSource(TimeSpan.FromMilliseconds(300));
        await Assert.ThrowsAnyAsync<OperationCanceledException>(() =>
            sandbox.RunSourceAsync("public static class L { public static int Run(int n) { while (true) { n++; } } }", new JsonObject { ["n"] = 1 }, cts.Token));
        var next = await sandbox.RunSourceAsync("public static class S { public static int Run(int n) => n * 2; }", new JsonObject { ["n"] = 21 });
        Assert.True(next.Ok, next.Error);
        Assert.Equal(42, next.Result!.GetValue<int>());
        Assert.Equal(2, sandbox.HostsStarted);
    }

    [Fact]
    public async Task A_pool_keeps_answering_while_one_host_is_stuck()
    {
        using var pool = new ToolSandboxPool(2, new SandboxLimits { WallClock = TimeSpan.FromSeconds(4), CpuTime = TimeSpan.FromSeconds(4) });
        await pool.WarmUpAsync();
        var spin = ToolCompiler.Compile("public static class L { public static int Run(int n) { while (true) { n++; } } }");
        var add = ToolCompiler.Compile("public static class A { public static int Run(int a, int b) => a + b; }");
        var stuck = pool.CallAsync(spin, new JsonObject { ["n"] = 1 });
        await Task.Delay(100);
        var quick = await pool.CallAsync(add, new JsonObject { ["a"] = 40, ["b"] = 2 });
        Assert.True(quick.Ok, quick.Error);
        Assert.Equal(42, quick.Result!.GetValue<int>());
        Assert.False(stuck.IsCompleted, "the stuck call should still be running while the other host answers");
        var killed = await stuck;
        Assert.False(killed.Ok);
        Assert.Contains("limit exceeded", killed.Error, StringComparison.Ordinal);
    }

    [Fact]
    public void Entry_method_rules()
    {
        Assert.Throws<ToolRejectedException>(() => ToolCompiler.Compile("public static class S { public static int A() => 1; public static int B() => 2; }"));
        Assert.Throws<ToolRejectedException>(() => ToolCompiler.Compile("public static class S { public static void A() { } }"));
        Assert.Throws<ToolRejectedException>(() => ToolCompiler.Compile("public static class S { public static int A( => 1; }"));
        var t = ToolCompiler.Compile("using System.Collections.Generic; public static class S { public static List<int> Evens(int[] xs, int limit = 10) { var r = new List<int>(); foreach (var x in xs) if (x % 2 == 0 && x < limit) r.Add(x); return r; } private static int Helper() => 1; }");
        Assert.Equal("Evens", t.MethodName);
        var schema = ToolSchema.ForInput(t);
        Assert.Equal("array", schema["properties"]!["xs"]!["type"]!.GetValue<string>());
        Assert.Equal(["xs"], schema["required"]!.AsArray().Select(x => x!.GetValue<string>()));
        Assert.Equal("array", ToolSchema.ForOutput(t)["type"]!.GetValue<string>());
    }
}

public sealed class StudentTests
{
    [Fact]
    public async Task Large_box_offers_only_the_top_k_tools_by_meaning()
    {
        // A box of 7 tools: the example's 3 and 4 unrelated ones; k = 3.
        var example = McpBox.Load(Paths.ExampleBox);
        var extra = new[] { ("count_vowels", "Counts the vowels in an English word."), ("reverse_text", "Reverses the characters of a string."),
            ("celsius_to_fahrenheit", "Converts a temperature in degrees Celsius to Fahrenheit."), ("word_lengths", "Lists the length of each word in a sentence.") };
        var tools = example.Tools.ToList();
        foreach (var (name, description) in extra)
        {
            var source = $"public static class T_{name} {{ public static int Run(string text) => text.Length; }}";
            var compiled = ToolCompiler.Compile(source);
            tools.Add(new BoxTool(new ToolManifest
            {
                Name = name, Description = description, InputSchema = ToolSchema.ForInput(compiled), OutputSchema = ToolSchema.ForOutput(compiled),
                Provenance = new ToolProvenance([], "test"), Source = name + ".cs",
            }, source, compiled));
        }

        var box = new McpBox(new BoxManifest { Name = "big", Version = "1", Tools = [.. tools.Select(t => t.Name)] }, tools);
        using var sandbox = new ToolSandbox();
        await using var connection = await BoxConnection.InProcessAsync(box, sandbox, CancellationToken.None);
        var student = new Student(new ScriptedAgentModel(), connection, MiniLmEmbedder.Instance, topK: 3);
        var chosen = await student.SelectToolsAsync(Game24Data.Text([4, 9, 10, 13]), CancellationToken.None);
        Assert.Equal(3, chosen.Count);
        Assert.Contains(chosen, t => t.Name == "solve24");
        Assert.DoesNotContain(chosen, t => t.Name is "count_vowels" or "reverse_text" or "celsius_to_fahrenheit");
    }

    [Fact]
    public async Task Step_limit_stops_a_model_that_never_answers()
    {
        using var chatty = new LoopingModel();
        using var sandbox = new ToolSandbox();
        var teacher = new Teacher(chatty, sandbox, maxSteps: 3);
        var t = await teacher.SolveAsync(new AgentTask("t", "Using the numbers [1, 2, 3, 4] make 24", [1, 2, 3, 4]), CancellationToken.None);
        Assert.Equal("step-limit", t.Stop);
        Assert.Null(t.Answer);
        Assert.False(t.Correct);
        Assert.Equal(3, t.Steps.Count(s => s.Kind == "model"));
        // Unknown tools are answered with an error, which the trajectory records.
        Assert.All(t.Steps.Where(s => s.Kind == "tool"), s => Assert.Contains("unknown tool", s.Error, StringComparison.Ordinal));
    }

    private sealed class LoopingModel : IChatClient
    {
        private int _n;

        public Task<ChatResponse> GetResponseAsync(IEnumerable<ChatMessage> messages, ChatOptions? options = null, CancellationToken cancellationToken = default) =>
            Task.FromResult(new ChatResponse(new ChatMessage(ChatRole.Assistant, [new FunctionCallContent($"c{++_n}", "no_such_tool", new Dictionary<string, object?>())])));

        public IAsyncEnumerable<ChatResponseUpdate> GetStreamingResponseAsync(IEnumerable<ChatMessage> messages, ChatOptions? options = null, CancellationToken cancellationToken = default) =>
            throw new NotSupportedException();

        public object? GetService(Type serviceType, object? serviceKey = null) => null;

        public void Dispose()
        {
        }
    }
}

public sealed class RobustnessTests
{
    [Theory]
    [InlineData("Solve 24!", "solve_24")]
    [InlineData("24 solver", "tool_24_solver")]
    [InlineData("check_answer", "check_answer")]
    public void Proposed_tool_names_become_valid_mcp_names(string raw, string expected)
    {
        Assert.Equal(expected, Attune.Agents.Distill.Distiller.ToolName(raw));
        Assert.True(McpBox.IsToolName(Attune.Agents.Distill.Distiller.ToolName(raw)));
    }

    [Fact]
    public void Arguments_sent_as_a_json_string_are_read()
    {
        Assert.Equal(3, Teacher.Arguments(JsonValue.Create("{\"n\": 3}"))!["n"]!.GetValue<int>());
        Assert.Empty(Teacher.Arguments(null)!);
        Assert.Null(Teacher.Arguments(JsonValue.Create("not json")));
        Assert.Null(Teacher.Arguments(new JsonArray(1)));
    }
}

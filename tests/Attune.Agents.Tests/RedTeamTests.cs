using System.Text.Json.Nodes;
using Attune.Agents.Sandbox;

namespace Attune.Agents.Tests;

/// <summary>
/// Hostile tool sources. Each must be refused by the allow-list check (Rejected) or stopped at
/// run time by the tool host's limits (Contained) — and the very next call of an ordinary tool
/// must be answered normally.
/// </summary>
public sealed class RedTeamTests : IClassFixture<RedTeamTests.SandboxFixture>
{
    private readonly SandboxFixture _fixture;

    public RedTeamTests(SandboxFixture fixture) => _fixture = fixture;

    public sealed class SandboxFixture : IDisposable
    {
        public ToolSandbox Sandbox { get; } = new(new SandboxLimits
        {
            WallClock = TimeSpan.FromSeconds(3),
            CpuTime = TimeSpan.FromSeconds(2),
            HeapBytes = 192L << 20,
            WorkingSetBytes = 640L << 20,
            OutputChars = 16 * 1024,
        });

        public void Dispose() => Sandbox.Dispose();
    }

    private const string Ordinary = "public static class Add { public static int Run(int a, int b) => a + b; }";

    private static string Tool(string body, string usings = "") =>
        usings + "\npublic static class Hostile {\n    public static string Run() {\n" + body + "\n    }\n}\n";

    /// <summary>Sources the allow-list must refuse, with a word the refusal must contain.</summary>
    public static TheoryData<string, string, string> Rejected => new()
    {
        { "read /etc/passwd", Tool("return System.IO.File.ReadAllText(\"/etc/passwd\");"), "System.IO.File" },
        { "write a file", Tool("System.IO.File.WriteAllText(\"/tmp/attune-pwned\", \"x\"); return \"ok\";"), "System.IO.File" },
        { "file stream", Tool("using var s = new System.IO.FileStream(\"/etc/passwd\", System.IO.FileMode.Open); return s.Length.ToString();"), "FileStream" },
        { "socket", Tool("var c = new System.Net.Sockets.TcpClient(\"127.0.0.1\", 22); return \"connected\";"), "TcpClient" },
        { "http", Tool("return new System.Net.Http.HttpClient().GetStringAsync(\"http://example.com\").Result;"), "HttpClient" },
        { "Process.Start", Tool("System.Diagnostics.Process.Start(\"/bin/sh\", \"-c 'touch /tmp/attune-pwned'\"); return \"ok\";"), "Process" },
        { "reflection via typeof", Tool("var t = typeof(string).Assembly.GetType(\"System.IO.File\"); return t.ToString();"), "typeof" },
        { "reflection via GetType", Tool("var t = \"x\".GetType().Assembly.GetType(\"System.IO.File\"); return t.GetMethod(\"ReadAllText\", new[] { t }).Invoke(null, new object[] { \"/etc/passwd\" }).ToString();"), "GetType" },
        { "Type.GetType + Invoke", Tool("var t = System.Type.GetType(\"System.IO.File\"); return (string)t.GetMethod(\"ReadAllText\", new[] { typeof(string) }).Invoke(null, new object[] { \"/etc/passwd\" });"), "System.Type" },
        { "Activator", Tool("var o = System.Activator.CreateInstance(\"System.Private.CoreLib\", \"System.IO.FileInfo\"); return o.ToString();"), "Activator" },
        { "delegate Method", Tool("System.Func<string> f = () => \"a\"; return f.Method.DeclaringType.Assembly.Location;"), "Delegate" },
        { "Environment.Exit", Tool("System.Environment.Exit(3); return \"\";"), "Environment" },
        { "environment variables", Tool("return System.Environment.GetEnvironmentVariable(\"HOME\");"), "Environment" },
        { "unsafe pointers", "public static class Hostile { public static unsafe string Run() { int x = 1; int* p = &x; return (*(p + 100000)).ToString(); } }", "unsafe" },
        { "P/Invoke", "public static class Hostile { [System.Runtime.InteropServices.DllImport(\"libc\")] private static extern int system(string cmd); public static string Run() => system(\"touch /tmp/attune-pwned\").ToString(); }", "attributes" },
        { "Marshal", Tool("var p = System.Runtime.InteropServices.Marshal.AllocHGlobal(100); return p.ToString();"), "Marshal" },
        { "threads", Tool("var t = new System.Threading.Thread(() => { while (true) { } }); t.Start(); return \"started\";"), "Thread" },
        { "tasks", Tool("System.Threading.Tasks.Task.Run(() => { while (true) { } }); return \"started\";"), "Task" },
        { "thread pool", Tool("System.Threading.ThreadPool.QueueUserWorkItem(_ => { while (true) { } }); return \"queued\";"), "ThreadPool" },
        { "dynamic", Tool("dynamic d = \"x\"; return d.GetType().Assembly.Location;"), "dynamic" },
        { "GC", Tool("System.GC.Collect(); System.GC.KeepAlive(null); return \"ok\";"), "GC" },
        { "console flood", Tool("for (int i = 0; i < 1000000; i++) System.Console.WriteLine(\"flood\"); return \"ok\";"), "Console" },
        { "AppDomain", Tool("return System.AppDomain.CurrentDomain.BaseDirectory;"), "AppDomain" },
        { "Unsafe.As", Tool("object o = \"x\"; return System.Runtime.CompilerServices.Unsafe.As<string>(o);"), "Unsafe" },
        { "expression tree compile", Tool("System.Linq.Expressions.Expression<System.Func<int>> e = () => 1; return e.Compile()().ToString();"), "Expression" },
        { "using static File", Tool("return ReadAllText(\"/etc/passwd\");", "using static System.IO.File;"), "System.IO.File" },
        { "using alias of File", Tool("return F.ReadAllText(\"/etc/passwd\");", "using F = System.IO.File;"), "System.IO.File" },
        { "PLINQ threads", Tool("return System.Linq.ParallelEnumerable.AsParallel(new[] { 1, 2 }).Sum().ToString();", "using System.Linq;"), "ParallelEnumerable" },
        { "stackalloc", Tool("System.Span<byte> b = stackalloc byte[1 << 30]; return b.Length.ToString();"), "stackalloc" },
        { "lock", Tool("lock (\"x\") { return \"locked\"; }"), "lock" },
        { "finalizer", "public class Evil { ~Evil() { } } public static class Hostile { public static string Run() => new Evil().ToString(); }", "finalizers" },
        { "assembly loading", Tool("return System.Reflection.Assembly.Load(\"System.IO.FileSystem\").FullName;"), "Assembly" },
        { "runtime interop services", Tool("return System.Runtime.InteropServices.RuntimeInformation.OSDescription;"), "RuntimeInformation" },
    };

    [Theory]
    [MemberData(nameof(Rejected))]
    public async Task Hostile_source_is_rejected_at_analysis_and_the_next_call_works(string name, string source, string expected)
    {
        var ex = Assert.Throws<ToolRejectedException>(() => ToolCompiler.Compile(source));
        Assert.Contains(expected, ex.Message, StringComparison.Ordinal);
        var result = await _fixture.Sandbox.RunSourceAsync(source, []);
        Assert.False(result.Ok, name);
        await AssertNextCallWorks();
    }

    /// <summary>Sources that pass the allow-list (pure computation) but attack the host's resources.</summary>
    public static TheoryData<string, string, string> Contained => new()
    {
        { "infinite loop", Tool("long i = 0; while (true) { i++; }"), "limit exceeded" },
        { "infinite loop in finally", Tool("try { return \"x\"; } finally { while (true) { } }"), "limit exceeded" },
        { "allocate 10 GB at once", Tool("var a = new long[1_250_000_000]; return a.Length.ToString();"), "OutOfMemory" },
        { "allocate until out of memory", Tool("var keep = new System.Collections.Generic.List<long[]>(); while (true) keep.Add(new long[1 << 20]);", ""), "" },
        { "stack overflow", "public static class Hostile { private static int Down(int n) => Down(n + 1) + 1; public static string Run() => Down(0).ToString(); }", "crashed" },
        { "output flood", Tool("return new string('x', 1_000_000);"), "output" },
        { "string doubling", Tool("var s = \"x\"; while (true) s = s + s;"), "" },
        { "exception", Tool("throw new System.InvalidOperationException(\"boom\");"), "boom" },
    };

    [Theory]
    [MemberData(nameof(Contained))]
    public async Task Hostile_computation_is_contained_at_run_time_and_the_next_call_works(string name, string source, string expected)
    {
        ToolCompiler.Compile(source); // passes analysis: only the run-time limits can stop it
        var result = await _fixture.Sandbox.RunSourceAsync(source, []);
        Assert.False(result.Ok, name);
        Assert.Contains(expected, result.Error, StringComparison.Ordinal);
        Assert.True(result.Milliseconds < 15_000, $"{name} took {result.Milliseconds} ms");
        await AssertNextCallWorks();
    }

    [Fact]
    public void The_suite_has_at_least_twenty_hostile_sources() =>
        Assert.True(Rejected.Count + Contained.Count >= 20);

    private async Task AssertNextCallWorks()
    {
        var next = await _fixture.Sandbox.RunSourceAsync(Ordinary, new JsonObject { ["a"] = 20, ["b"] = 22 });
        Assert.True(next.Ok, next.Error);
        Assert.Equal(42, next.Result!.GetValue<int>());
    }
}

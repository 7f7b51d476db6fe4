using System.Text.Json.Nodes;
using Attune.Agents.Sandbox;
using Microsoft.CodeAnalysis;
using Microsoft.CodeAnalysis.CSharp;

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

        // Raw memory through members that take a plain `ref` and check no bounds (issue 16, item 1).
        { "Vector.LoadUnsafe reads past an array", Tool("var a = new long[1]; return Vector.LoadUnsafe(ref a[0]).ToString();", "using System.Numerics;"), "LoadUnsafe" },
        { "Vector.StoreUnsafe writes past an array", Tool("var a = new long[1]; Vector.StoreUnsafe(new Vector<long>(-1L), ref a[0]); return a[0].ToString();", "using System.Numerics;"), "StoreUnsafe" },
        { "Vector4.LoadUnsafe reads past an array", Tool("var a = new float[1]; return System.Numerics.Vector4.LoadUnsafe(ref a[0]).ToString();"), "LoadUnsafe" },
        { "Vector2 stored past an array", Tool("var a = new float[1]; System.Numerics.Vector.StoreUnsafe(new System.Numerics.Vector2(1f, 2f), ref a[0]); return a[0].ToString();"), "StoreUnsafe" },
        { "SIMD vector types are off the list", Tool("var v = new System.Numerics.Vector<int>(new int[64]); return v.ToString();"), "System.Numerics.Vector<T>" },
        { "Vector128.LoadUnsafe", Tool("var a = new long[1]; return System.Runtime.Intrinsics.Vector128.LoadUnsafe(ref a[0]).ToString();"), "Vector128" },
        { "Unsafe.Add past an array", Tool("var a = new long[1]; return System.Runtime.CompilerServices.Unsafe.Add(ref a[0], 1).ToString();"), "Unsafe" },
        { "MemoryMarshal.GetArrayDataReference", Tool("var a = new long[1]; return System.Runtime.InteropServices.MemoryMarshal.GetArrayDataReference(a).ToString();"), "MemoryMarshal" },
        { "MemoryMarshal.CreateSpan past an array", Tool("var a = new long[1]; var s = System.Runtime.InteropServices.MemoryMarshal.CreateSpan(ref a[0], 1000); return s[999].ToString();"), "MemoryMarshal" },
        { "MemoryMarshal.Cast reinterprets", Tool("var a = new long[1]; var s = System.Runtime.InteropServices.MemoryMarshal.Cast<long, byte>(a); return s.Length.ToString();"), "MemoryMarshal" },
        { "CollectionsMarshal.AsSpan", Tool("var l = new System.Collections.Generic.List<long> { 1 }; return System.Runtime.InteropServices.CollectionsMarshal.AsSpan(l)[0].ToString();"), "CollectionsMarshal" },
        { "Marshal.ReadInt64 at an address", Tool("return System.Runtime.InteropServices.Marshal.ReadInt64(new System.IntPtr(4096)).ToString();"), "Marshal" },
        { "NativeMemory.Alloc", "public static class Hostile { public static unsafe string Run() { var p = System.Runtime.InteropServices.NativeMemory.Alloc(16); return ((long)p).ToString(); } }", "NativeMemory" },
        { "GCHandle exposes an address", Tool("var h = System.Runtime.InteropServices.GCHandle.Alloc(new long[1], System.Runtime.InteropServices.GCHandleType.Pinned); return h.AddrOfPinnedObject().ToString();"), "GCHandle" },
        { "function pointer", "public static class Hostile { private static int F() => 1; public static unsafe string Run() { delegate*<int> p = &F; return p().ToString(); } }", "pointer" },
        { "stackalloc, implicitly typed", Tool("System.Span<int> s = stackalloc[] { 1, 2, 3 }; return s[0].ToString();"), "stackalloc" },
        { "ref local into an array", Tool("var a = new long[1]; ref long r = ref a[0]; r = 7; return a[0].ToString();"), "ref local" },
        { "ref readonly local", Tool("var a = new long[1]; ref readonly long r = ref a[0]; return r.ToString();"), "ref local" },
        { "ref return", "public static class Hostile { private static ref long At(long[] a) => ref a[0]; public static string Run() { var a = new long[1]; At(a) = 7; return a[0].ToString(); } }", "ref return" },
        { "ref foreach over a span", Tool("var a = new long[2]; System.Span<long> s = a; foreach (ref long x in s) x = 7; return a[1].ToString();"), "ref local" },
        { "scoped local", Tool("scoped System.Span<long> s = new long[1]; return s.Length.ToString();"), "scoped" },
        { "ref struct", "public ref struct Holder { public long V; } public static class Hostile { public static string Run() { var h = new Holder(); return h.V.ToString(); } }", "ref struct" },
        { "ref field", "public ref struct Holder { public ref long R; public Holder(ref long r) { R = ref r; } } public static class Hostile { public static string Run() { var a = new long[1]; var h = new Holder(ref a[0]); h.R = 5; return a[0].ToString(); } }", "ref field" },
        { "Span.GetPinnableReference", Tool("System.Span<long> s = new long[1]; return s.GetPinnableReference().ToString();"), "GetPinnableReference" },
        { "string.GetPinnableReference", Tool("return \"abc\".GetPinnableReference().ToString();"), "GetPinnableReference" },
        { "string.Create with a SpanAction", Tool("return string.Create(3, 'x', (span, c) => span.Fill(c));"), "SpanAction" },
        { "ArrayPool hands out another call's bytes", Tool("var b = System.Buffers.ArrayPool<byte>.Shared.Rent(1024); return b[0].ToString();"), "ArrayPool" },
        { "changes the culture of later calls", Tool("System.Globalization.CultureInfo.DefaultThreadCurrentCulture = new System.Globalization.CultureInfo(\"fr-FR\"); return \"ok\";"), "DefaultThreadCurrentCulture" },
    };

    [Theory]
    [MemberData(nameof(Rejected))]
    public async Task Hostile_source_is_rejected_at_analysis_and_the_next_call_works(string name, string source, string expected)
    {
        Assert.False(string.IsNullOrWhiteSpace(expected), $"{name}: a refusal case must name the word its refusal has to contain");
        var ex = Assert.Throws<ToolRejectedException>(() => ToolCompiler.Compile(source));
        Assert.StartsWith(ToolCompiler.RefusedByAllowList, ex.Message, StringComparison.Ordinal);
        Assert.Contains(expected, string.Join("\n", ex.Reasons), StringComparison.Ordinal);
        var result = await _fixture.Sandbox.RunSourceAsync(source, []);
        Assert.False(result.Ok, name);
        Assert.Contains(expected, result.Error, StringComparison.Ordinal);
        await AssertNextCallWorks();
    }

    /// <summary>
    /// Every refused source is real C# (it compiles when unsafe code is allowed and nothing is checked), so
    /// each case is refused for what it does and not for a typo; and the word each case expects is specific:
    /// it is not found in the refusal of an unrelated type, so "allow-list" or "line" would not do.
    /// </summary>
    [Fact]
    public void Every_rejected_case_is_valid_csharp_and_expects_a_specific_word()
    {
        var control = Assert.Throws<ToolRejectedException>(() => ToolCompiler.Compile(Tool("return System.TimeZoneInfo.Local.Id;")));
        var controlText = string.Join("\n", control.Reasons);
        var cases = Rejected.Select(row => ((string)row[0], (string)row[1], (string)row[2])).ToList();
        Assert.Equal(cases.Count, cases.Select(c => c.Item1).Distinct().Count());
        foreach (var (name, source, expected) in cases)
        {
            Assert.False(string.IsNullOrWhiteSpace(expected), name);
            Assert.DoesNotContain(expected, controlText, StringComparison.Ordinal);
            var errors = Unchecked(source).GetDiagnostics().Where(d => d.Severity == DiagnosticSeverity.Error)
                // `dynamic` needs Microsoft.CSharp, which tool code is never given.
                .Where(d => d.Id != "CS0656").Select(d => d.ToString()).ToList();
            Assert.True(errors.Count == 0, $"{name}: {string.Join("; ", errors)}");
        }
    }

    /// <summary>Sources that pass the allow-list (pure computation) but attack the host's resources; the error must contain one of the |-separated words.</summary>
    public static TheoryData<string, string, string> Contained => new()
    {
        { "infinite loop", Tool("long i = 0; while (true) { i++; }"), "limit exceeded" },
        { "infinite loop in finally", Tool("try { return \"x\"; } finally { while (true) { } }"), "limit exceeded" },
        { "allocate 10 GB at once", Tool("var a = new long[1_250_000_000]; return a.Length.ToString();"), "OutOfMemory" },
        { "allocate until out of memory", Tool("var keep = new System.Collections.Generic.List<long[]>(); while (true) keep.Add(new long[1 << 20]);"), "OutOfMemory|memory limit exceeded" },
        { "stack overflow", "public static class Hostile { private static int Down(int n) => Down(n + 1) + 1; public static string Run() => Down(0).ToString(); }", "crashed" },
        { "output flood", Tool("return new string('x', 1_000_000);"), "output" },
        { "string doubling", Tool("var s = \"x\"; while (true) s = s + s;"), "OutOfMemory|memory limit exceeded" },
        { "exception", Tool("throw new System.InvalidOperationException(\"boom\");"), "boom" },
    };

    [Theory]
    [MemberData(nameof(Contained))]
    public async Task Hostile_computation_is_contained_at_run_time_and_the_next_call_works(string name, string source, string expected)
    {
        var words = expected.Split('|');
        Assert.All(words, w => Assert.False(string.IsNullOrWhiteSpace(w), $"{name}: an empty expected word matches any error"));
        ToolCompiler.Compile(source); // passes analysis: only the run-time limits can stop it
        var result = await _fixture.Sandbox.RunSourceAsync(source, []);
        Assert.False(result.Ok, name);
        Assert.True(words.Any(w => result.Error!.Contains(w, StringComparison.Ordinal)), $"{name}: '{result.Error}' has none of {expected}");
        Assert.True(result.Milliseconds < 15_000, $"{name} took {result.Milliseconds} ms");
        await AssertNextCallWorks();
    }

    private async Task AssertNextCallWorks()
    {
        var next = await _fixture.Sandbox.RunSourceAsync(Ordinary, new JsonObject { ["a"] = 20, ["b"] = 22 });
        Assert.True(next.Ok, next.Error);
        Assert.Equal(42, next.Result!.GetValue<int>());
    }

    /// <summary>A source compiled as the tool compiler does (same framework references), but with unsafe code allowed and no allow-list check.</summary>
    private static CSharpCompilation Unchecked(string source)
    {
        var compilation = ToolCompiler.CreateCompilation(source);
        return compilation.WithOptions(compilation.Options.WithAllowUnsafe(true));
    }
}

/// <summary>
/// The operating-system layers around the tool host, checked from outside at the process level
/// (/proc of the host): the environment it was started with, its user, its network namespace.
/// An independent probe of the platform decides what must be available; in CI (CI=true) as root
/// on Linux every layer must be, and a missing one fails the test rather than skipping it.
/// </summary>
[Collection(ProcessTests.Name)]
public sealed class SandboxIsolationTests
{
    private static bool Ci => string.Equals(Environment.GetEnvironmentVariable("CI"), "true", StringComparison.OrdinalIgnoreCase);

    [Fact]
    public async Task The_host_does_not_see_the_servers_environment()
    {
        if (!OperatingSystem.IsLinux())
        {
            return; // /proc/PID/environ is Linux's
        }

        Environment.SetEnvironmentVariable("ATTUNE_REDTEAM_SECRET", "sk-redteam-0123456789");
        try
        {
            using var sandbox = new ToolSandbox();
            await sandbox.WarmUpAsync();
            var environ = File.ReadAllText($"/proc/{sandbox.HostProcessId}/environ").Split('\0', StringSplitOptions.RemoveEmptyEntries);
            var names = environ.Select(e => e.Split('=', 2)[0]).ToList();
            Assert.DoesNotContain(environ, e => e.Contains("sk-redteam-0123456789", StringComparison.Ordinal));
            Assert.DoesNotContain("ATTUNE_REDTEAM_SECRET", names);
            Assert.DoesNotContain("HOME", names); // set in this process (as in any login), not passed on
            Assert.All(names, n => Assert.True(n == "PATH" || n.StartsWith("DOTNET_", StringComparison.Ordinal), $"the host got '{n}' from its parent"));
            Assert.True(sandbox.Isolation.EmptyEnvironment);
            var ok = await sandbox.RunSourceAsync("public static class S { public static int Run(int n) => n + 1; }", new JsonObject { ["n"] = 41 });
            Assert.True(ok.Ok, ok.Error);
        }
        finally
        {
            Environment.SetEnvironmentVariable("ATTUNE_REDTEAM_SECRET", null);
        }
    }

    [Fact]
    public async Task The_host_runs_as_an_unprivileged_user_when_the_server_is_root()
    {
        if (!OperatingSystem.IsLinux())
        {
            return;
        }

        using var sandbox = new ToolSandbox();
        await sandbox.WarmUpAsync();
        var self = Ids("self");
        var host = Ids(sandbox.HostProcessId!.Value.ToString(System.Globalization.CultureInfo.InvariantCulture));
        if (self.Uid != 0)
        {
            Assert.Equal(self.Uid, host.Uid); // not root: nothing to drop, and no way to switch
            Assert.False(sandbox.Isolation.UnprivilegedUser);
            return;
        }

        var platform = Probe("setpriv", "--reuid=65534", "--regid=65534", "--clear-groups", "--", "setpriv", "--version");
        Assert.True(platform || !Ci, "CI runs as root on Linux: setpriv must be able to drop to uid 65534 there");
        if (!platform)
        {
            Assert.False(sandbox.Isolation.UnprivilegedUser);
            Assert.NotEmpty(sandbox.Isolation.Unavailable);
            return;
        }

        Assert.True(sandbox.Isolation.UnprivilegedUser, string.Join("; ", sandbox.Isolation.Unavailable));
        Assert.All(host.Uids, u => Assert.NotEqual(0, u));
        Assert.All(host.Gids, g => Assert.NotEqual(0, g));
        Assert.DoesNotContain(0, host.Groups);
        Assert.Equal("0000000000000000", host.CapEff);
        var ok = await sandbox.RunSourceAsync("public static class S { public static int Run(int n) => n * 2; }", new JsonObject { ["n"] = 21 });
        Assert.True(ok.Ok, ok.Error);
        Assert.Equal(42, ok.Result!.GetValue<int>());
    }

    [Fact]
    public async Task The_host_has_its_own_network_namespace_where_the_platform_allows_it()
    {
        if (!OperatingSystem.IsLinux())
        {
            return;
        }

        using var sandbox = new ToolSandbox();
        await sandbox.WarmUpAsync();
        var root = Ids("self").Uid == 0;
        var platform = root ? Probe("unshare", "--net", "--", "unshare", "--version") : Probe("unshare", "--user", "--net", "--", "unshare", "--version");
        Assert.True(platform || !(Ci && root), "CI runs as root on Linux: unshare --net must work there");
        if (!platform)
        {
            Assert.False(sandbox.Isolation.NetworkNamespace);
            Assert.NotEmpty(sandbox.Isolation.Unavailable);
            return;
        }

        Assert.True(sandbox.Isolation.NetworkNamespace, string.Join("; ", sandbox.Isolation.Unavailable));
        var mine = new FileInfo("/proc/self/ns/net").LinkTarget;
        var its = new FileInfo($"/proc/{sandbox.HostProcessId}/ns/net").LinkTarget;
        Assert.StartsWith("net:[", mine, StringComparison.Ordinal);
        Assert.StartsWith("net:[", its, StringComparison.Ordinal);
        Assert.NotEqual(mine, its);
        var ok = await sandbox.RunSourceAsync("public static class S { public static int Run(int n) => n - 1; }", new JsonObject { ["n"] = 43 });
        Assert.True(ok.Ok, ok.Error);
    }

    private sealed record ProcIds(int[] Uids, int[] Gids, int[] Groups, string CapEff)
    {
        public int Uid => Uids[0];
    }

    private static ProcIds Ids(string pid)
    {
        var lines = File.ReadAllLines($"/proc/{pid}/status");
        int[] Field(string name) => [.. lines.Single(l => l.StartsWith(name + ":", StringComparison.Ordinal))[(name.Length + 1)..]
            .Split((char[])['\t', ' '], StringSplitOptions.RemoveEmptyEntries).Select(x => int.Parse(x, System.Globalization.CultureInfo.InvariantCulture))];
        return new ProcIds(Field("Uid"), Field("Gid"), Field("Groups"), lines.Single(l => l.StartsWith("CapEff:", StringComparison.Ordinal))[7..].Trim());
    }

    /// <summary>Whether a util-linux tool runs with these arguments here (exit code 0), found on PATH independently of the sandbox.</summary>
    private static bool Probe(string tool, params string[] args)
    {
        var path = (Environment.GetEnvironmentVariable("PATH") ?? "/usr/bin:/bin").Split(':').Select(d => Path.Combine(d, tool)).FirstOrDefault(File.Exists);
        if (path is null)
        {
            return false;
        }

        var start = new System.Diagnostics.ProcessStartInfo(path) { RedirectStandardOutput = true, RedirectStandardError = true };
        foreach (var a in args)
        {
            start.ArgumentList.Add(a);
        }

        using var p = System.Diagnostics.Process.Start(start)!;
        p.StandardOutput.ReadToEnd();
        p.StandardError.ReadToEnd();
        p.WaitForExit();
        return p.ExitCode == 0;
    }
}

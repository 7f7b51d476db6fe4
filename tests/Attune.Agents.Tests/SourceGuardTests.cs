using System.Text.Json.Nodes;
using Attune.Agents.Sandbox;

namespace Attune.Agents.Tests;

/// <summary>
/// The allow-list itself: every name on it is a real type and none is refused by the denials;
/// the denials hold even when the list is widened; and ordinary pure-computation tool code (what
/// the example box and the distilled tools use, and the idioms around it) still compiles and runs.
/// </summary>
public sealed class SourceGuardTests : IClassFixture<SourceGuardTests.SandboxFixture>
{
    private readonly SandboxFixture _fixture;

    public SourceGuardTests(SandboxFixture fixture) => _fixture = fixture;

    public sealed class SandboxFixture : IDisposable
    {
        public ToolSandbox Sandbox { get; } = new();

        public void Dispose() => Sandbox.Dispose();
    }

    [Fact]
    public void Every_allowed_type_exists_and_none_is_denied()
    {
        var compilation = ToolCompiler.CreateCompilation("public static class Empty { }");
        var missing = SourceGuard.AllowedTypes.Where(n => compilation.GetTypeByMetadataName(n) is null).ToList();
        Assert.True(missing.Count == 0, "not a type: " + string.Join(", ", missing));
        Assert.DoesNotContain(SourceGuard.AllowedTypes, n => SourceGuard.DeniedBecause(n) is not null);
        Assert.DoesNotContain(SourceGuard.AllowedTypes, n => n.StartsWith("System.Numerics.Vector", StringComparison.Ordinal) || n.Contains("Marshal", StringComparison.Ordinal));
        foreach (var member in SourceGuard.DeniedMembers)
        {
            var type = member[..member.LastIndexOf('.')];
            Assert.True(compilation.GetTypeByMetadataName(type)?.GetMembers(member[(member.LastIndexOf('.') + 1)..]).Length > 0, member + " is not a member");
        }
    }

    /// <summary>Someone adding a namespace's worth of types back to the list still cannot reach the raw-memory members.</summary>
    [Theory]
    [InlineData("var a = new long[1]; return System.Numerics.Vector.LoadUnsafe(ref a[0]).ToString();", "System.Numerics.Vector", "Vector.LoadUnsafe' is refused")]
    [InlineData("var a = new float[1]; return System.Numerics.Vector2.LoadUnsafe(ref a[0]).ToString();", "System.Numerics.Vector2", "Vector2.LoadUnsafe' is refused")]
    [InlineData("var a = new long[1]; return System.Runtime.CompilerServices.Unsafe.Add(ref a[0], 1).ToString();", "System.Runtime.CompilerServices.Unsafe", "Unsafe' is refused")]
    [InlineData("var a = new long[1]; return System.Runtime.InteropServices.MemoryMarshal.CreateSpan(ref a[0], 9)[8].ToString();", "System.Runtime.InteropServices.MemoryMarshal", "MemoryMarshal' is refused")]
    [InlineData("return System.Runtime.Intrinsics.Vector128.Create(1).ToString();", "System.Runtime.Intrinsics.Vector128", "Vector128' is refused")]
    public void Denials_hold_when_the_list_is_widened(string body, string added, string expected)
    {
        var source = "public static class Hostile { public static string Run() { " + body + " } }";
        var wider = new HashSet<string>(SourceGuard.AllowedTypes, StringComparer.Ordinal) { added, "System.Numerics.Vector`1", "System.IntPtr", "System.UIntPtr" };
        var compilation = ToolCompiler.CreateCompilation(source);
        var text = string.Join("\n", SourceGuard.Check(compilation, wider));
        Assert.Contains(expected, text, StringComparison.Ordinal);
    }

    /// <summary>Ordinary tool code: compiled under the allow-list, run in the host, result compared.</summary>
    public static TheoryData<string, string, string, string> Ordinary => new()
    {
        {
            "collections", """
            using System.Collections.Generic;
            public static class T { public static string Run(int[] xs) {
                var list = new List<int>(xs); var set = new HashSet<int>(xs); var q = new Queue<int>(xs); var st = new Stack<int>(xs);
                var d = new Dictionary<int, int>(); foreach (var x in xs) d[x] = d.GetValueOrDefault(x) + 1;
                var sd = new SortedDictionary<string, int> { ["b"] = 2, ["a"] = 1 }; var ss = new SortedSet<int>(xs);
                var ll = new LinkedList<int>(xs); ll.AddFirst(0); var pq = new PriorityQueue<string, int>(); pq.Enqueue("late", 5); pq.Enqueue("early", 1);
                var keys = new List<int>(); foreach (var k in d.Keys) keys.Add(k); int total = 0; foreach (var v in d.Values) total += v;
                foreach (var kv in sd) total += kv.Value;
                return $"{list.Count} {set.Count} {q.Peek()} {st.Peek()} {d[2]} {string.Join(",", sd.Keys)} {ss.Min} {ll.First.Value} {pq.Dequeue()} {keys.Count} {total}";
            } }
            """, """{"xs":[3,2,2,7]}""", "\"4 3 3 7 2 a,b 2 0 early 3 7\""
        },
        {
            "linq", """
            using System.Linq;
            public static class T { public static string Run(string[] words) {
                var groups = words.GroupBy(w => w.Length).OrderByDescending(g => g.Key).Select(g => g.Key + ":" + string.Join("/", g.OrderBy(w => w)));
                var lookup = words.ToLookup(w => w[0]);
                return string.Join(" ", groups) + " " + lookup['a'].Count() + " " + words.Zip(Enumerable.Range(1, 9)).Sum(p => p.Second) + " " + words.Chunk(2).Count();
            } }
            """, """{"words":["apple","ant","bee","cat","avocado"]}""", "\"7:avocado 5:apple 3:ant/bee/cat 3 15 3\""
        },
        {
            "strings, StringBuilder, Regex, culture", """
            using System.Text;
            using System.Text.RegularExpressions;
            using System.Globalization;
            public static class T { public static string Run(string text) {
                var sb = new StringBuilder();
                foreach (Match m in Regex.Matches(text, @"(\d+)([a-z]?)")) sb.Append($"[{m.Groups[1].Value}{m.Groups[2].Value}]");
                var parts = text.Split(',', ' ');
                double.TryParse("2.5", NumberStyles.Float, CultureInfo.InvariantCulture, out var half);
                return sb.ToString() + " " + parts.Length + " " + (half * 2).ToString(CultureInfo.InvariantCulture) + " " + Regex.Replace(text, "[0-9]", "#") + " " + char.ToUpperInvariant(text[0]);
            } }
            """, """{"text":"a12b, 7c 300"}""", "\"[12b][7c][300] 4 5 a##b, #c ### A\""
        },
        {
            "exact numbers", """
            using System.Numerics;
            public static class T { public static string Run(int n) {
                BigInteger f = 1; for (int i = 2; i <= n; i++) f *= i;
                var z = new Complex(3, 4);
                return f + " " + z.Magnitude + " " + BitOperations.PopCount(255u) + " " + System.Math.Round(System.Math.PI, 3) + " " + (decimal)1 / 8 + " " + System.Int128.MaxValue.ToString().Length;
            } }
            """, """{"n":25}""", "\"15511210043330985984000000 5 8 3.142 0.125 39\""
        },
        {
            "ref and out parameters, spans, tuples, iterators", """
            using System.Collections.Generic;
            public static class T {
                private static void Swap(ref int a, ref int b) { (a, b) = (b, a); }
                private static IEnumerable<int> Evens(int n) { for (int i = 0; i < n; i += 2) yield return i; }
                private record struct P(int X, int Y);
                public static string Run(string n) {
                    int.TryParse(n, out var k); int x = 1, y = 2; Swap(ref x, ref y);
                    var a = new[] { 5, 1, 4 }; System.Array.Resize(ref a, 4); System.Array.Sort(a);
                    System.Span<int> s = a; s[0] = 9; var (min, max) = (a[1], a[^1]);
                    var p = new P(1, 2) with { Y = 5 };
                    return $"{k} {x}{y} {string.Join(",", a)} {min} {max} {string.Join(",", Evens(7))} {p.Y} {System.HashCode.Combine(1, 2) == System.HashCode.Combine(1, 2)}";
                }
            }
            """, """{"n":"42"}""", "\"42 21 9,1,4,5 1 5 0,2,4,6 5 True\""
        },
    };

    [Theory]
    [MemberData(nameof(Ordinary))]
    public async Task Ordinary_tool_code_compiles_and_runs(string name, string source, string arguments, string expected)
    {
        var tool = ToolCompiler.Compile(source);
        var result = await _fixture.Sandbox.CallAsync(tool, JsonNode.Parse(arguments)!.AsObject());
        Assert.True(result.Ok, $"{name}: {result.Error}");
        Assert.Equal(expected, result.ResultJson);
    }
}

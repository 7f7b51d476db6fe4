using System.Text.Json.Nodes;
using System.Text.RegularExpressions;
using Attune.Agents.Agent;
using Attune.Llm;
using Attune.Agents.Distill;
using Attune.Agents.Game24;
using Microsoft.Extensions.AI;

namespace Attune.Agents.Tests;

/// <summary>
/// A scripted stand-in for the language models of the AgentDistill pipeline — not a model: a
/// program that plays the teacher, the distiller and the student by fixed rules, so that the
/// pipeline can be recorded (UseRecording) into the replay log shipped under
/// examples/agentdistill/ and replayed without any endpoint. What it "writes" is fixed C# below.
/// Rules: the teacher proposes a solver (two variants, alternating by task) and a checker, then
/// answers with the solver's output; on every fourth task it instead proposes a tool that adds the
/// numbers and answers with the sum (a failed trajectory). The distiller generalises the solvers
/// (adds a target parameter), rewrites the checker wrongly (returns a bool: it must fail
/// verification), and merges by returning the first solver's generalisation. The student with
/// tools calls the first tool that takes only numbers and answers with its result; without tools
/// it tries three fixed patterns and otherwise answers the sum.
/// </summary>
internal sealed partial class ScriptedAgentModel : IChatClient
{
    public const string ModelName = "scripted-agentdistill (not a language model)";

    private int _calls;

    public Task<ChatResponse> GetResponseAsync(IEnumerable<ChatMessage> messages, ChatOptions? options = null, CancellationToken cancellationToken = default)
    {
        var list = messages.ToList();
        var system = list.First(m => m.Role == ChatRole.System).Text;
        var task = list.First(m => m.Role == ChatRole.User).Text;
        var results = list.SelectMany(m => m.Contents).OfType<FunctionResultContent>().Select(r => r.Result?.ToString() ?? "").ToList();
        var message = system switch
        {
            Teacher.SystemPrompt => TeacherTurn(task, results),
            Distiller.AbstractPrompt => Text(Abstract(task)),
            Distiller.MergePrompt => Text(Reply("solve_target_expression", "Finds an arithmetic expression over the given numbers (each used once; + - * / and parentheses, exact fractions) that equals the target, or says there is none.", SolverA(withTarget: true))),
            Student.SystemPromptWithTools => StudentTurn(task, results, options),
            Student.SystemPromptWithoutTools => Call("final_answer", new JsonObject { ["answer"] = Guess(Numbers(task)) }),
            _ => throw new InvalidOperationException("unscripted system prompt: " + system[..Math.Min(60, system.Length)]),
        };
        return Task.FromResult(new ChatResponse(message) { ModelId = ModelName, FinishReason = ChatFinishReason.Stop });
    }

    private ChatMessage TeacherTurn(string task, List<string> results)
    {
        var numbers = Numbers(task);
        var failing = numbers.Sum() % 4 == 0 && numbers.Sum() != 24;
        var numbersJson = new JsonArray([.. numbers.Select(n => (JsonNode)n)]);
        if (failing)
        {
            return results.Count == 0
                ? Call(Teacher.ProposeTool, new JsonObject { ["name"] = "sum_numbers", ["description"] = "Adds up a list of whole numbers.", ["source"] = SumSource, ["arguments"] = new JsonObject { ["numbers"] = numbersJson } })
                : Call("final_answer", new JsonObject { ["answer"] = string.Join("+", numbers) });
        }

        var variantB = numbers.Sum() % 2 == 1;
        switch (results.Count)
        {
            case 0:
                return Call(Teacher.ProposeTool, variantB
                    ? new JsonObject { ["name"] = "find_expression_24", ["description"] = "Searches all ways to combine four numbers with + - * / for one that makes 24.", ["source"] = SolverB(), ["arguments"] = new JsonObject { ["numbers"] = numbersJson } }
                    : new JsonObject { ["name"] = "solve_24", ["description"] = "Finds an expression using each number once with + - * / and parentheses that equals 24.", ["source"] = SolverA(withTarget: false), ["arguments"] = new JsonObject { ["numbers"] = numbersJson } });
            case 1:
                return Call(Teacher.ProposeTool, new JsonObject
                {
                    ["name"] = "check_24", ["description"] = "Checks that an expression uses the given numbers once each and equals 24.",
                    ["source"] = CheckerSource, ["arguments"] = new JsonObject { ["numbers"] = numbersJson, ["expression"] = Unquote(results[0]) },
                });
            default:
                return Call("final_answer", new JsonObject { ["answer"] = Unquote(results[0]) });
        }
    }

    private static string Abstract(string request)
    {
        var name = NameLine().Match(request).Groups[1].Value;
        return name switch
        {
            "solve_24" => Reply("solve_arithmetic_target", "Finds an expression that uses each given number exactly once with + - * / and parentheses and equals the target (default 24), searching exactly over fractions; returns \"no solution\" when there is none.", SolverA(withTarget: true)),
            "find_expression_24" => Reply("search_target_expression", "Searches every way to combine the numbers with + - * / (exact fractions) for an expression equal to the target (default 24); returns the expression or \"no solution\".", SolverB(withTarget: true)),
            "check_24" => Reply("is_valid_24", "Returns whether the expression is a valid Game of 24 answer.", CheckerBroken),
            _ => Reply(name, "Unchanged.", SumSource),
        };
    }

    private ChatMessage StudentTurn(string task, List<string> results, ChatOptions? options)
    {
        if (results.Count > 0)
        {
            return Call("final_answer", new JsonObject { ["answer"] = results[0] });
        }

        var solver = options?.Tools?.OfType<AIFunctionDeclaration>()
            .FirstOrDefault(t => t.Name != AgentLoop.FinalAnswer && t.JsonSchema.GetProperty("required").GetArrayLength() == 1 && t.JsonSchema.GetProperty("properties").TryGetProperty("numbers", out _));
        var numbers = Numbers(task);
        return solver is null
            ? Call("final_answer", new JsonObject { ["answer"] = Guess(numbers) })
            : Call(solver.Name, new JsonObject { ["numbers"] = new JsonArray([.. numbers.Select(n => (JsonNode)n)]) });
    }

    /// <summary>Without tools: the first of three fixed patterns that happens to make 24, else the sum.</summary>
    private static string Guess(IReadOnlyList<int> n)
    {
        foreach (var e in new[] { $"{n[0]}+{n[1]}+{n[2]}+{n[3]}", $"{n[0]}*{n[1]}+{n[2]}+{n[3]}", $"({n[0]}+{n[1]})*({n[2]}+{n[3]})" })
        {
            if (Game24Grader.Grade(n, e).Correct)
            {
                return e;
            }
        }

        return string.Join("+", n);
    }

    private ChatMessage Call(string name, JsonObject args)
    {
        _calls++;
        var arguments = args.ToDictionary(p => p.Key, p => (object?)p.Value?.DeepClone());
        return new ChatMessage(ChatRole.Assistant, [new FunctionCallContent($"call_{_calls}", name, arguments)]);
    }

    private static ChatMessage Text(string text) => new(ChatRole.Assistant, text);

    private static string Reply(string name, string description, string source) =>
        new JsonObject { ["name"] = name, ["description"] = description, ["useCases"] = new JsonArray("Game of 24 puzzles", "reaching a target number from a few numbers"), ["source"] = source }.ToJsonString();

    private static string Unquote(string result)
    {
        var text = result.StartsWith("result: ", StringComparison.Ordinal) ? result["result: ".Length..] : result;
        return JsonNode.Parse(text) is JsonValue v && v.TryGetValue<string>(out var s) ? s : text;
    }

    private static List<int> Numbers(string task)
    {
        var m = NumberList().Match(task);
        return [.. m.Groups[1].Value.Split(',').Select(s => int.Parse(s.Trim(), System.Globalization.CultureInfo.InvariantCulture))];
    }

    [GeneratedRegex(@"\[(\d+(?:\s*,\s*\d+)*)\]")]
    private static partial Regex NumberList();

    [GeneratedRegex(@"Name: (\S+)")]
    private static partial Regex NameLine();

    IAsyncEnumerable<ChatResponseUpdate> IChatClient.GetStreamingResponseAsync(IEnumerable<ChatMessage> messages, ChatOptions? options, CancellationToken cancellationToken) =>
        throw new NotSupportedException("the scripted model does not stream");

    /// <summary>Reports itself as a scripted stand-in (<see cref="StandIn.ProviderName"/>), so that recordings of it say so.</summary>
    public object? GetService(Type serviceType, object? serviceKey = null) =>
        serviceKey is null && serviceType == typeof(ChatClientMetadata) ? new ChatClientMetadata(StandIn.ProviderName, defaultModelId: "scripted-agentdistill (not a language model)") : null;

    public void Dispose()
    {
    }

    // ---- the C# the scripted teacher and distiller "write" ----

    private static string SolverA(bool withTarget) => $$"""
        using System.Collections.Generic;
        using System.Linq;
        using System.Numerics;

        public static class {{(withTarget ? "SolveArithmeticTarget" : "Solve24")}}
        {
            public static string Run(int[] numbers{{(withTarget ? ", int target = 24" : "")}})
            {
                var items = numbers.Select(n => (N: (BigInteger)n, D: BigInteger.One, T: n.ToString())).ToList();
                return Search(items, {{(withTarget ? "target" : "24")}}) ?? "no solution";
            }

            private static string Search(List<(BigInteger N, BigInteger D, string T)> items, int target)
            {
                if (items.Count == 1) return items[0].D * target == items[0].N ? items[0].T : null;
                for (int i = 0; i < items.Count; i++)
                    for (int j = 0; j < items.Count; j++)
                    {
                        if (i == j) continue;
                        var a = items[i]; var b = items[j];
                        var rest = items.Where((_, k) => k != i && k != j).ToList();
                        var next = new List<(BigInteger, BigInteger, string)>
                        {
                            (a.N * b.D + b.N * a.D, a.D * b.D, "(" + a.T + "+" + b.T + ")"),
                            (a.N * b.D - b.N * a.D, a.D * b.D, "(" + a.T + "-" + b.T + ")"),
                            (a.N * b.N, a.D * b.D, "(" + a.T + "*" + b.T + ")"),
                        };
                        if (!b.N.IsZero) next.Add((a.N * b.D, a.D * b.N, "(" + a.T + "/" + b.T + ")"));
                        foreach (var (n, d, t) in next)
                        {
                            var g = BigInteger.GreatestCommonDivisor(n, d);
                            if (g.IsZero) g = BigInteger.One;
                            if (d.Sign < 0) g = -g;
                            var found = Search(new List<(BigInteger, BigInteger, string)>(rest) { (n / g, d / g, t) }, target);
                            if (found != null) return found;
                        }
                    }
                return null;
            }
        }
        """;

    private static string SolverB(bool withTarget = false) => $$"""
        using System.Collections.Generic;
        using System.Linq;
        using System.Numerics;

        public static class {{(withTarget ? "SearchTargetExpression" : "FindExpression24")}}
        {
            // Depth-first over pairs of remaining values, exact fractions.
            public static string Find(int[] numbers{{(withTarget ? ", int target = 24" : "")}})
            {
                var pool = new List<(BigInteger Num, BigInteger Den, string Text)>();
                foreach (var n in numbers) pool.Add(((BigInteger)n, BigInteger.One, n.ToString()));
                var result = Go(pool, {{(withTarget ? "target" : "24")}});
                return result == null ? "no solution" : result;
            }

            private static string Go(List<(BigInteger Num, BigInteger Den, string Text)> pool, int goal)
            {
                if (pool.Count == 1) return pool[0].Num == pool[0].Den * goal ? pool[0].Text : null;
                for (int x = 0; x < pool.Count; x++)
                {
                    for (int y = 0; y < pool.Count; y++)
                    {
                        if (x == y) continue;
                        var p = pool[x];
                        var q = pool[y];
                        var others = new List<(BigInteger, BigInteger, string)>();
                        for (int k = 0; k < pool.Count; k++) if (k != x && k != y) others.Add(pool[k]);
                        var moves = new List<(BigInteger, BigInteger, string)>();
                        moves.Add((p.Num * q.Den + q.Num * p.Den, p.Den * q.Den, "(" + p.Text + "+" + q.Text + ")"));
                        moves.Add((p.Num * q.Den - q.Num * p.Den, p.Den * q.Den, "(" + p.Text + "-" + q.Text + ")"));
                        moves.Add((p.Num * q.Num, p.Den * q.Den, "(" + p.Text + "*" + q.Text + ")"));
                        if (q.Num != 0) moves.Add((p.Num * q.Den, p.Den * q.Num, "(" + p.Text + "/" + q.Text + ")"));
                        foreach (var m in moves)
                        {
                            var g = BigInteger.GreatestCommonDivisor(m.Item1, m.Item2);
                            if (g == 0) g = 1;
                            if (m.Item2 < 0) g = -g;
                            var next = new List<(BigInteger, BigInteger, string)>(others);
                            next.Add((m.Item1 / g, m.Item2 / g, m.Item3));
                            var r = Go(next, goal);
                            if (r != null) return r;
                        }
                    }
                }
                return null;
            }
        }
        """;

    private const string CheckerSource = """
        using System.Linq;

        public static class Check24
        {
            public static string Check(int[] numbers, string expression)
            {
                var digits = new System.Collections.Generic.List<int>();
                int i = 0;
                while (i < expression.Length)
                {
                    if (char.IsDigit(expression[i]))
                    {
                        int s = i;
                        while (i < expression.Length && char.IsDigit(expression[i])) i++;
                        digits.Add(int.Parse(expression.Substring(s, i - s)));
                    }
                    else i++;
                }
                if (!digits.OrderBy(d => d).SequenceEqual(numbers.OrderBy(d => d))) return "wrong numbers";
                int pos = 0;
                var v = Sum(expression, ref pos);
                return v.Item1 == 24 * v.Item2 ? "correct" : "not 24";
            }

            private static (long, long) Sum(string s, ref int p)
            {
                var v = Prod(s, ref p);
                while (p < s.Length && (s[p] == '+' || s[p] == '-'))
                {
                    char op = s[p++];
                    var r = Prod(s, ref p);
                    v = op == '+' ? (v.Item1 * r.Item2 + r.Item1 * v.Item2, v.Item2 * r.Item2) : (v.Item1 * r.Item2 - r.Item1 * v.Item2, v.Item2 * r.Item2);
                }
                return v;
            }

            private static (long, long) Prod(string s, ref int p)
            {
                var v = Atom(s, ref p);
                while (p < s.Length && (s[p] == '*' || s[p] == '/'))
                {
                    char op = s[p++];
                    var r = Atom(s, ref p);
                    v = op == '*' ? (v.Item1 * r.Item1, v.Item2 * r.Item2) : (v.Item1 * r.Item2, v.Item2 * r.Item1);
                    if (v.Item2 < 0) v = (-v.Item1, -v.Item2);
                }
                return v;
            }

            private static (long, long) Atom(string s, ref int p)
            {
                if (s[p] == '(') { p++; var v = Sum(s, ref p); p++; return v; }
                int st = p;
                while (p < s.Length && char.IsDigit(s[p])) p++;
                return (long.Parse(s.Substring(st, p - st)), 1);
            }
        }
        """;

    private const string CheckerBroken = """
        public static class IsValid24
        {
            public static bool Check(int[] numbers, string expression) => expression.Length > 0 && numbers.Length == 4;
        }
        """;

    private const string SumSource = """
        using System.Linq;

        public static class SumNumbers
        {
            public static int Sum(int[] numbers) => numbers.Sum();
        }
        """;
}

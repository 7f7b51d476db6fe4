using System.Text.Json;
using Attune.Agents.Agent;
using Attune.Core.Errors;
using Attune.Core.IO;
using Attune.Core.Randomness;

namespace Attune.Agents.Game24;

/// <summary>Game-of-24 tasks: from the OctoTools data file (<c>gameof24/data.json</c>), or generated.</summary>
public static class Game24Data
{
    public const string Instruction = "Using the numbers {0}, create an expression that equals 24. You must use basic arithmetic operations (+, -, ×, /) and parentheses; use each number exactly once.";

    /// <summary>Reads <c>data.json</c>: a JSON array of {pid, question: [4 ints], query, …}.</summary>
    public static IReadOnlyList<AgentTask> Load(string path)
    {
        using var doc = JsonFile.Parse(path);
        if (doc.RootElement.ValueKind != JsonValueKind.Array)
        {
            throw new AttuneInputException("expected a JSON array of problems", path);
        }

        var tasks = new List<AgentTask>();
        var i = 0;
        foreach (var item in doc.RootElement.EnumerateArray())
        {
            i++;
            if (!item.TryGetProperty("question", out var q) || q.ValueKind != JsonValueKind.Array || q.GetArrayLength() == 0)
            {
                throw new AttuneInputException($"problem {i}: missing the numbers", path, field: "question");
            }

            var numbers = q.EnumerateArray().Select(n => n.GetInt32()).ToList();
            var id = item.TryGetProperty("pid", out var pid) ? pid.ToString() : i.ToString(System.Globalization.CultureInfo.InvariantCulture);
            var query = item.TryGetProperty("query", out var text) && text.GetString() is { Length: > 0 } s ? s : Text(numbers);
            tasks.Add(new AgentTask("game24-" + id, query, numbers));
        }

        return tasks;
    }

    /// <summary>The task text for <paramref name="numbers"/>.</summary>
    public static string Text(IReadOnlyList<int> numbers) =>
        string.Format(System.Globalization.CultureInfo.InvariantCulture, Instruction, "[" + string.Join(", ", numbers) + "]");

    /// <summary><paramref name="count"/> solvable puzzles of four numbers in 1..13, drawn with <paramref name="seed"/> (not the OctoTools set).</summary>
    public static IReadOnlyList<AgentTask> Generate(int count, int seed)
    {
        var rng = Seeds.Create(seed);
        var tasks = new List<AgentTask>();
        var seen = new HashSet<string>(StringComparer.Ordinal);
        while (tasks.Count < count)
        {
            var numbers = Enumerable.Range(0, 4).Select(_ => rng.Next(1, 14)).Order().ToList();
            var key = string.Join(",", numbers);
            if (seen.Add(key) && Game24Solver.Solve(numbers) is not null)
            {
                tasks.Add(new AgentTask($"gen-{seed}-{tasks.Count}", Text(numbers), numbers));
            }
        }

        return tasks;
    }

    /// <summary>The data file: <paramref name="explicitPath"/>, else the data cache (<c>attune data pull gameof24</c>); null when it is not there.</summary>
    public static string? Find(string? explicitPath = null)
    {
        if (explicitPath is not null)
        {
            return File.Exists(explicitPath) ? explicitPath : throw new AttuneInputException("Game-of-24 data file not found", explicitPath);
        }

        var cached = Path.Combine(Attune.Core.Data.DataSettings.FromEnvironment().CacheRoot, "gameof24", "data.json");
        return File.Exists(cached) ? cached : null;
    }
}

/// <summary>An exact Game-of-24 solver (used to generate solvable puzzles and to check the data).</summary>
public static class Game24Solver
{
    public static string? Solve(IReadOnlyList<int> numbers, int target = 24)
    {
        ArgumentNullException.ThrowIfNull(numbers);
        return Search([.. numbers.Select(n => (new Rational(n, 1), n.ToString(System.Globalization.CultureInfo.InvariantCulture)))], new Rational(target, 1));
    }

    private static string? Search(List<(Rational Value, string Text)> items, Rational target)
    {
        if (items.Count == 1)
        {
            return items[0].Value == target ? items[0].Text : null;
        }

        for (var i = 0; i < items.Count; i++)
        {
            for (var j = 0; j < items.Count; j++)
            {
                if (i == j)
                {
                    continue;
                }

                var (a, at) = items[i];
                var (b, bt) = items[j];
                var rest = items.Where((_, k) => k != i && k != j).ToList();
                var options = new List<(Rational, string)> { (a + b, $"({at}+{bt})"), (a - b, $"({at}-{bt})"), (a * b, $"({at}*{bt})") };
                if (!b.Numerator.IsZero)
                {
                    options.Add((a / b, $"({at}/{bt})"));
                }

                foreach (var option in options)
                {
                    if (Search([.. rest, option], target) is { } found)
                    {
                        return found;
                    }
                }
            }
        }

        return null;
    }
}

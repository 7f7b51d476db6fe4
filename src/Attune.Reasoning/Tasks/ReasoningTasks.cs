using Attune.Core.Errors;

namespace Attune.Reasoning.Tasks;

/// <summary>The registered tasks, and what is shared across them: finding a task by name or by its instruction, and reading answers.</summary>
public static class ReasoningTasks
{
    private static readonly List<ReasoningTask> Registered =
        [new LetterConcatenation(), new NextLetter(), new AsciiMultiply(), new ConcatThenNext(), new NextThenAscii(), new ConcatThenAscii()];

    /// <summary>Every task, atomic ones first.</summary>
    public static IReadOnlyList<ReasoningTask> All
    {
        get
        {
            lock (Registered)
            {
                return [.. Registered];
            }
        }
    }

    /// <summary>Adds a task; its name must be new.</summary>
    public static void Register(ReasoningTask task)
    {
        ArgumentNullException.ThrowIfNull(task);
        lock (Registered)
        {
            if (Registered.Any(t => t.Name == task.Name))
            {
                throw new ArgumentException($"a task named '{task.Name}' is registered already", nameof(task));
            }

            Registered.Add(task);
        }
    }

    /// <summary>The task named <paramref name="name"/>; an unknown name is bad input listing the known ones.</summary>
    public static ReasoningTask Find(string name) =>
        All.FirstOrDefault(t => t.Name == name)
        ?? throw new AttuneInputException($"unknown task '{name}' (known: {string.Join(", ", All.Select(t => t.Name))})");

    /// <summary>The task whose template <paramref name="instruction"/> follows (a trailing proxy prefix of the suffix form is ignored), or null.</summary>
    public static ReasoningTask? Recognise(string instruction)
    {
        var bare = CotFormats.StripProxyPrefix(instruction);
        return All.FirstOrDefault(t => t.Solve(bare) is not null);
    }

    /// <summary>The answer to <paramref name="instruction"/> by the oracle of its task, or null when no template matches.</summary>
    public static string? Solve(string instruction)
    {
        var bare = CotFormats.StripProxyPrefix(instruction);
        foreach (var t in All)
        {
            if (t.Solve(bare) is { } answer)
            {
                return answer;
            }
        }

        return null;
    }

    /// <summary>
    /// The answer a model's output states, as the paper's evaluation reads it: the text after the last
    /// "the answer is" (else after the last "gives us"), cut at the first period; end-of-text markers
    /// (<c>&lt;|endoftext|&gt;</c>, <c>&lt;/s&gt;</c>, the format's closing tags) are removed first.
    /// </summary>
    public static string ExtractAnswer(string output)
    {
        ArgumentNullException.ThrowIfNull(output);
        var text = CotFormats.StripMarkers(output);
        foreach (var marker in new[] { "the answer is", "gives us" })
        {
            var at = text.LastIndexOf(marker, StringComparison.OrdinalIgnoreCase);
            if (at >= 0)
            {
                var rest = text[(at + marker.Length)..];
                var period = rest.IndexOf('.', StringComparison.Ordinal);
                return (period >= 0 ? rest[..period] : rest).Trim();
            }
        }

        return text.Trim();
    }
}

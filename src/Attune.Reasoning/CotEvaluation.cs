using System.Text.Json.Nodes;
using System.Text.Json.Serialization;
using System.Text.RegularExpressions;
using Attune.Core.Errors;
using Attune.Core.Statistics;
using Attune.Reasoning.Tasks;

namespace Attune.Reasoning;

/// <summary>A question to answer: the bare instruction (no proxy prefix), its task, the letter position k where the task has one, and the right answer.</summary>
public sealed record CotQuestion(string Instruction, string Task, string? K, string Answer);

/// <summary>One evaluated question, as <c>attune cot eval --out</c> writes it.</summary>
public sealed record EvaluatedAnswer(
    [property: JsonPropertyName("index")] int Index,
    [property: JsonPropertyName("task")] string Task,
    [property: JsonPropertyName("k")] string? K,
    [property: JsonPropertyName("instruction")] string Instruction,
    [property: JsonPropertyName("output")] string Output,
    [property: JsonPropertyName("predicted")] string Predicted,
    [property: JsonPropertyName("answer")] string Answer,
    [property: JsonPropertyName("correct")] bool Correct,
    [property: JsonPropertyName("stop_reason")] string StopReason);

/// <summary>Accuracy of a group of questions with its 95% Wilson interval.</summary>
public sealed record AccuracyRow(
    [property: JsonPropertyName("task")] string Task,
    [property: JsonPropertyName("k")] string? K,
    [property: JsonPropertyName("correct")] int Correct,
    [property: JsonPropertyName("total")] int Total,
    [property: JsonPropertyName("accuracy")] double Accuracy,
    [property: JsonPropertyName("low")] double Low,
    [property: JsonPropertyName("high")] double High)
{
    public static AccuracyRow Of(string task, string? k, int correct, int total)
    {
        var p = Proportions.Of(correct, total);
        return new AccuracyRow(task, k, correct, total, p.Value, p.Low, p.High);
    }
}

/// <summary>What an evaluation measured: overall, per task, per task and k, and every answer.</summary>
public sealed record CotEvaluationReport(
    [property: JsonPropertyName("overall")] AccuracyRow Overall,
    [property: JsonPropertyName("per_task")] IReadOnlyList<AccuracyRow> PerTask,
    [property: JsonPropertyName("per_k")] IReadOnlyList<AccuracyRow> PerK,
    [property: JsonIgnore] IReadOnlyList<EvaluatedAnswer> Answers);

/// <summary>Exact-match accuracy of decoded answers against the tasks' oracles, as the paper scores them.</summary>
public static partial class CotEvaluation
{
    /// <summary>
    /// The questions of a data file: each example's instruction (plus <c>input</c>) without a trailing proxy
    /// prefix; the answer from the task's oracle, or <c>answer_label</c> for an instruction of no
    /// registered template (an example with neither is bad input naming it, 1-based).
    /// </summary>
    public static IReadOnlyList<CotQuestion> Questions(IReadOnlyList<JsonObject> examples, string source)
    {
        ArgumentNullException.ThrowIfNull(examples);
        var result = new List<CotQuestion>(examples.Count);
        for (var i = 0; i < examples.Count; i++)
        {
            var instruction = (string)examples[i]["instruction"]!;
            if (examples[i]["input"] is JsonValue input && (string?)input is { Length: > 0 } extra)
            {
                instruction += extra;
            }

            instruction = CotFormats.StripProxyPrefix(instruction);
            var task = ReasoningTasks.Recognise(instruction);
            var label = examples[i]["answer_label"] is JsonValue l && (string?)l is { } given ? given.Trim() : null;
            var answer = task?.Solve(instruction) ?? label
                ?? throw new AttuneInputException($"example {i + 1}: the instruction follows no task template and has no answer_label", source);
            var name = task?.Name ?? (examples[i]["task"] is JsonValue t && (string?)t is { } named ? named : "other");
            result.Add(new CotQuestion(instruction, name, Position(instruction), answer));
        }

        return result;
    }

    /// <summary>The letter position k an instruction names (first, second, second-to-the-last, last), or null.</summary>
    public static string? Position(string instruction)
    {
        ArgumentNullException.ThrowIfNull(instruction);
        var m = PositionPattern().Match(instruction);
        return m.Success ? m.Groups[1].Value : null;
    }

    /// <summary>Decodes every question in <paramref name="format"/> and scores the answers.</summary>
    public static CotEvaluationReport Evaluate(CotDecoder decoder, IReadOnlyList<CotQuestion> questions, CotFormat format, CotDecodeOptions options, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(decoder);
        ArgumentNullException.ThrowIfNull(questions);
        var completions = decoder.Decode([.. questions.Select(q => q.Instruction)], format, options, cancellationToken);
        return Score(questions, completions);
    }

    /// <summary>Scores completions (in the questions' order): the answer read from each output must equal the question's exactly.</summary>
    public static CotEvaluationReport Score(IReadOnlyList<CotQuestion> questions, IReadOnlyList<CotCompletion> completions)
    {
        ArgumentNullException.ThrowIfNull(questions);
        ArgumentNullException.ThrowIfNull(completions);
        if (questions.Count != completions.Count)
        {
            throw new ArgumentException($"{questions.Count} questions but {completions.Count} completions");
        }

        var answers = questions.Select((q, i) =>
        {
            var predicted = ReasoningTasks.ExtractAnswer(completions[i].Output);
            return new EvaluatedAnswer(i, q.Task, q.K, q.Instruction, completions[i].Output, predicted, q.Answer, string.Equals(predicted, q.Answer, StringComparison.Ordinal), completions[i].StopReason);
        }).ToList();
        var order = ReasoningTasks.All.Select(t => t.Name).ToList();
        int Rank(string task) => order.IndexOf(task) is var i and >= 0 ? i : order.Count;
        var perTask = answers.GroupBy(a => a.Task).OrderBy(g => Rank(g.Key)).ThenBy(g => g.Key, StringComparer.Ordinal)
            .Select(g => AccuracyRow.Of(g.Key, null, g.Count(a => a.Correct), g.Count())).ToList();
        var perK = answers.Where(a => a.K is not null).GroupBy(a => (a.Task, K: a.K!)).OrderBy(g => Rank(g.Key.Task)).ThenBy(g => ReasoningTask.Positions.ToList().IndexOf(g.Key.K))
            .Select(g => AccuracyRow.Of(g.Key.Task, g.Key.K, g.Count(a => a.Correct), g.Count())).ToList();
        return new CotEvaluationReport(AccuracyRow.Of("all", null, answers.Count(a => a.Correct), answers.Count), perTask, perK, answers);
    }

    [GeneratedRegex(@"^Take the (first|second|second-to-the-last|last) letter of each word")]
    private static partial Regex PositionPattern();
}

using System.Text.Json.Serialization;
using Attune.Agents.Agent;
using Attune.Agents.Box;
using Attune.Agents.Distill;
using Attune.Agents.Mcp;
using Attune.Agents.Sandbox;
using Microsoft.Extensions.AI;

namespace Attune.Agents.Game24;

/// <summary>One setting's score on the benchmark.</summary>
public sealed record BenchRow(
    [property: JsonPropertyName("setting")] string Setting,
    [property: JsonPropertyName("correct")] int Correct,
    [property: JsonPropertyName("total")] int Total,
    [property: JsonPropertyName("accuracy")] double Accuracy,
    [property: JsonPropertyName("meanSteps")] double MeanSteps,
    [property: JsonPropertyName("toolCalls")] int ToolCalls,
    [property: JsonPropertyName("stepLimitHits")] int StepLimitHits);

/// <summary>The benchmark's result: rows per setting and every trajectory.</summary>
public sealed record BenchResult(
    [property: JsonPropertyName("rows")] IReadOnlyList<BenchRow> Rows,
    [property: JsonPropertyName("trajectories")] IReadOnlyList<Trajectory> Trajectories);

/// <summary>
/// Game of 24 with a student model, with and without an MCP box: each task is solved by the
/// student (through an MCP client connected to the box's server when there is a box), and its
/// final answer is graded by <see cref="Game24Grader"/>.
/// </summary>
public static class Game24Bench
{
    public static async Task<BenchResult> RunAsync(IChatClient student, McpBox? box, IReadOnlyList<AgentTask> tasks, bool withoutBox, TextWriter? log,
        ToolSandbox? sandbox, int maxSteps, int topK, ITextEmbedder? embedder, CancellationToken ct)
    {
        ArgumentNullException.ThrowIfNull(tasks);
        var rows = new List<BenchRow>();
        var all = new List<Trajectory>();
        if (withoutBox)
        {
            var plain = new Student(student, null, embedder, maxSteps, topK);
            rows.Add(await RunSettingAsync("student", plain, tasks, all, log, ct).ConfigureAwait(false));
        }

        if (box is not null)
        {
            await using var connection = await BoxConnection.InProcessAsync(box, sandbox, ct).ConfigureAwait(false);
            var withBox = new Student(student, connection, embedder, maxSteps, topK);
            rows.Add(await RunSettingAsync("student+box", withBox, tasks, all, log, ct).ConfigureAwait(false));
        }

        return new BenchResult(rows, all);
    }

    private static async Task<BenchRow> RunSettingAsync(string setting, Student student, IReadOnlyList<AgentTask> tasks, List<Trajectory> all, TextWriter? log, CancellationToken ct)
    {
        var correct = 0;
        var steps = 0;
        var calls = 0;
        var limit = 0;
        foreach (var task in tasks)
        {
            var t = await student.SolveAsync(task, ct).ConfigureAwait(false);
            all.Add(t);
            correct += t.Correct == true ? 1 : 0;
            steps += t.Steps.Count(s => s.Kind == "model");
            calls += t.Steps.Count(s => s.Kind == "tool" && s.Tool != AgentLoop.FinalAnswer);
            limit += t.Stop == "step-limit" ? 1 : 0;
            log?.WriteLine($"{setting} {task.Id} [{string.Join(", ", task.Numbers ?? [])}]: {t.Answer ?? "(none)"} -> {(t.Correct == true ? "correct" : t.GradeReason)}");
        }

        var n = Math.Max(1, tasks.Count);
        return new BenchRow(setting, correct, tasks.Count, (double)correct / n, (double)steps / n, calls, limit);
    }
}

using System.Text.Json.Nodes;
using System.Text.Json.Serialization;

namespace Attune.Agents.Agent;

/// <summary>One step of an agent's trajectory: a model turn, or a tool call with its outcome.</summary>
public sealed record TrajectoryStep
{
    [JsonPropertyName("index")] public int Index { get; init; }

    /// <summary><c>model</c> (the model's turn: text and the calls it asked for) or <c>tool</c> (one call and its result).</summary>
    [JsonPropertyName("kind")] public required string Kind { get; init; }

    [JsonPropertyName("text")] public string? Text { get; init; }

    [JsonPropertyName("callId")] public string? CallId { get; init; }

    [JsonPropertyName("tool")] public string? Tool { get; init; }

    [JsonPropertyName("arguments")] public JsonObject? Arguments { get; init; }

    [JsonPropertyName("ok")] public bool? Ok { get; init; }

    /// <summary>The tool's result as JSON (for sandboxed C#: the entry method's return value).</summary>
    [JsonPropertyName("output")] public JsonNode? Output { get; init; }

    [JsonPropertyName("error")] public string? Error { get; init; }

    [JsonPropertyName("ms")] public double Milliseconds { get; init; }
}

/// <summary>A whole trajectory: the task, every step, the final answer and its grade. One JSON line per trajectory.</summary>
public sealed record Trajectory
{
    [JsonPropertyName("taskId")] public required string TaskId { get; init; }

    [JsonPropertyName("task")] public required string Task { get; init; }

    [JsonPropertyName("numbers")] public IReadOnlyList<int>? Numbers { get; init; }

    [JsonPropertyName("role")] public required string Role { get; init; }

    [JsonPropertyName("steps")] public required IReadOnlyList<TrajectoryStep> Steps { get; init; }

    [JsonPropertyName("answer")] public string? Answer { get; init; }

    /// <summary>How the run ended: <c>answer</c>, <c>step-limit</c> or <c>no-tool-call</c> (the model answered in text).</summary>
    [JsonPropertyName("stop")] public required string Stop { get; init; }

    /// <summary>The program's grade when the task can be graded (Game of 24), else null.</summary>
    [JsonPropertyName("correct")] public bool? Correct { get; init; }

    [JsonPropertyName("gradeReason")] public string? GradeReason { get; init; }

    /// <summary>Graded correct, or (ungradable task) answered.</summary>
    [JsonIgnore] public bool Success => Correct ?? Answer is not null;
}

/// <summary>A task for an agent: an id, the text, and the numbers when it is a Game-of-24 puzzle (for grading).</summary>
public sealed record AgentTask(
    [property: JsonPropertyName("id")] string Id,
    [property: JsonPropertyName("task")] string Task,
    [property: JsonPropertyName("numbers")] IReadOnlyList<int>? Numbers = null);

using System.Diagnostics;
using System.Text.Json;
using System.Text.Json.Nodes;
using Attune.Agents.Game24;
using Microsoft.Extensions.AI;

namespace Attune.Agents.Agent;

/// <summary>What a tool call returned to the agent: text for the model, plus the structured outcome for the trajectory.</summary>
public sealed record ToolOutcome(bool Ok, JsonNode? Output, string? Error, string Text);

/// <summary>A tool the agent may call: its declaration (name, description, JSON schema) and what runs it.</summary>
public sealed record AgentTool(AIFunctionDeclaration Declaration, Func<JsonObject, CancellationToken, Task<ToolOutcome>> Invoke)
{
    public string Name => Declaration.Name;

    /// <summary>A declaration from a name, a description and a JSON schema.</summary>
    public static AIFunctionDeclaration Declare(string name, string description, JsonObject schema) =>
        AIFunctionFactory.CreateDeclaration(name, description, JsonSerializer.SerializeToElement(schema));
}

/// <summary>
/// The function-calling agent loop shared by the teacher and the student: system prompt and task,
/// then model turns through <see cref="IChatClient"/> with the tools declared (temperature 0), each
/// requested call run and its result sent back, until the model calls <c>final_answer</c>, answers
/// in plain text, or the step limit is reached. Every model turn and every call is a step of the
/// returned <see cref="Trajectory"/>. Calls are invoked here, not by a FunctionInvokingChatClient,
/// so that each one is recorded and counted.
/// </summary>
public sealed class AgentLoop(IChatClient llm, int maxSteps = 8)
{
    public const string FinalAnswer = "final_answer";

    public static AIFunctionDeclaration FinalAnswerDeclaration { get; } = AgentTool.Declare(FinalAnswer,
        "Give the final answer to the task and stop. For Game of 24: the arithmetic expression only, e.g. (1+2+3)*4.",
        new JsonObject
        {
            ["type"] = "object",
            ["properties"] = new JsonObject { ["answer"] = new JsonObject { ["type"] = "string", ["description"] = "The final answer." } },
            ["required"] = new JsonArray("answer"),
        });

    public int MaxSteps { get; } = maxSteps > 0 ? maxSteps : throw new ArgumentOutOfRangeException(nameof(maxSteps));

    public async Task<Trajectory> RunAsync(string role, string systemPrompt, AgentTask task, IReadOnlyList<AgentTool> tools, CancellationToken ct)
    {
        ArgumentNullException.ThrowIfNull(task);
        ArgumentNullException.ThrowIfNull(tools);
        var messages = new List<ChatMessage> { new(ChatRole.System, systemPrompt), new(ChatRole.User, task.Task) };
        var options = new ChatOptions
        {
            Temperature = 0,
            MaxOutputTokens = 2048,
            Tools = [.. tools.Select(t => (AITool)t.Declaration), FinalAnswerDeclaration],
            ToolMode = ChatToolMode.Auto,
            AllowMultipleToolCalls = false,
        };
        var steps = new List<TrajectoryStep>();
        string? answer = null;
        var stop = "step-limit";
        for (var turn = 0; turn < MaxSteps && answer is null; turn++)
        {
            var clock = Stopwatch.StartNew();
            var response = await llm.GetResponseAsync(messages, options, ct).ConfigureAwait(false);
            messages.AddRange(response.Messages);
            var calls = response.Messages.SelectMany(m => m.Contents).OfType<FunctionCallContent>().ToList();
            steps.Add(new TrajectoryStep { Index = steps.Count, Kind = "model", Text = response.Text, Milliseconds = clock.Elapsed.TotalMilliseconds });
            if (calls.Count == 0)
            {
                answer = ExtractAnswer(response.Text);
                stop = "no-tool-call";
                break;
            }

            var results = new List<AIContent>();
            foreach (var call in calls)
            {
                var args = ToJsonObject(call.Arguments);
                if (call.Name == FinalAnswer)
                {
                    answer = args["answer"] is JsonValue v && v.TryGetValue<string>(out var s) ? s : args["answer"]?.ToJsonString() ?? "";
                    steps.Add(new TrajectoryStep { Index = steps.Count, Kind = "tool", CallId = call.CallId, Tool = FinalAnswer, Arguments = args, Ok = true });
                    stop = "answer";
                    break;
                }

                clock.Restart();
                var tool = tools.FirstOrDefault(t => t.Name == call.Name);
                var outcome = tool is null
                    ? new ToolOutcome(false, null, $"unknown tool '{call.Name}'", $"error: unknown tool '{call.Name}' (tools: {string.Join(", ", tools.Select(t => t.Name).Append(FinalAnswer))})")
                    : await tool.Invoke(args, ct).ConfigureAwait(false);
                steps.Add(new TrajectoryStep
                {
                    Index = steps.Count, Kind = "tool", CallId = call.CallId, Tool = call.Name, Arguments = args,
                    Ok = outcome.Ok, Output = outcome.Output?.DeepClone(), Error = outcome.Error, Milliseconds = clock.Elapsed.TotalMilliseconds,
                });
                results.Add(new FunctionResultContent(call.CallId, outcome.Text));
            }

            if (answer is null)
            {
                messages.Add(new ChatMessage(ChatRole.Tool, results));
            }
        }

        var grade = task.Numbers is { } numbers ? Game24Grader.Grade(numbers, answer) : null;
        return new Trajectory
        {
            TaskId = task.Id, Task = task.Task, Numbers = task.Numbers, Role = role, Steps = steps, Answer = answer, Stop = stop,
            Correct = grade?.Correct, GradeReason = grade?.Reason,
        };
    }

    /// <summary>An answer given in plain text: the last line that looks like an expression, else the whole text.</summary>
    public static string? ExtractAnswer(string? text)
    {
        if (string.IsNullOrWhiteSpace(text))
        {
            return null;
        }

        var lines = text.Split('\n', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries);
        foreach (var line in lines.Reverse())
        {
            var l = line.Replace("**", "", StringComparison.Ordinal).Replace("`", "", StringComparison.Ordinal);
            var colon = l.LastIndexOf(':');
            if (colon >= 0)
            {
                l = l[(colon + 1)..].Trim();
            }

            if (l.Any(char.IsAsciiDigit) && l.All(c => char.IsAsciiDigit(c) || " +-*/×÷()=xX−".Contains(c, StringComparison.Ordinal)))
            {
                return l;
            }
        }

        return text.Trim();
    }

    internal static JsonObject ToJsonObject(IDictionary<string, object?>? arguments)
    {
        var result = new JsonObject();
        if (arguments is null)
        {
            return result;
        }

        foreach (var (name, value) in arguments)
        {
            result[name] = value switch
            {
                null => null,
                JsonNode node => node.DeepClone(),
                JsonElement element => JsonNode.Parse(element.GetRawText()),
                _ => JsonSerializer.SerializeToNode(value, value.GetType(), AIJsonUtilities.DefaultOptions),
            };
        }

        return result;
    }
}

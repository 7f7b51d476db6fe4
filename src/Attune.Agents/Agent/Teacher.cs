using System.Text.Json.Nodes;
using Attune.Agents.Sandbox;
using Attune.Core.IO;
using Microsoft.Extensions.AI;

namespace Attune.Agents.Agent;

/// <summary>
/// The teacher agent (AgentDistill §3.1): a strong model solves tasks by writing C# and running it
/// in the sandbox. It has two code tools — <c>run_csharp</c> (scratch code) and
/// <c>propose_tool</c> (code meant as a reusable tool, with a name and a description; these are
/// what distillation extracts) — and <c>final_answer</c>. Trajectories are JSON lines, one per task.
/// </summary>
public sealed class Teacher(IChatClient llm, ToolSandbox sandbox, int maxSteps = 8)
{
    public const string RunCSharp = "run_csharp";
    public const string ProposeTool = "propose_tool";

    public const string SystemPrompt =
        "You are a teacher agent that solves tasks by writing and running C# code. " +
        "Code runs in a sandbox: one public static class with exactly one public static method (typed parameters, returns a value; helpers must be private), " +
        "using only computation (System.Math, System.Linq, System.Collections.Generic, System.Text, System.Numerics.BigInteger); no files, network, threads, reflection or console. " +
        "Call propose_tool for code that is worth keeping as a reusable tool (give it a snake_case name and a one-sentence description), run_csharp for throwaway code. " +
        "The tool's arguments object maps parameter names to JSON values. When you know the answer, call final_answer.";

    private static readonly JsonObject SourceSchema = new() { ["type"] = "string", ["description"] = "C# source: one public static class with one public static method." };

    private static readonly JsonObject ArgumentsSchema = new() { ["type"] = "object", ["description"] = "Arguments of the method, by parameter name." };

    public IReadOnlyList<AgentTool> Tools =>
    [
        new AgentTool(AgentTool.Declare(RunCSharp, "Compile and run C# code in the sandbox and return the method's result as JSON.",
            new JsonObject
            {
                ["type"] = "object",
                ["properties"] = new JsonObject { ["source"] = SourceSchema.DeepClone(), ["arguments"] = ArgumentsSchema.DeepClone() },
                ["required"] = new JsonArray("source", "arguments"),
            }), RunAsync),
        new AgentTool(AgentTool.Declare(ProposeTool, "Propose reusable tool code: it is compiled and run in the sandbox like run_csharp, and kept as a candidate tool when it succeeds.",
            new JsonObject
            {
                ["type"] = "object",
                ["properties"] = new JsonObject
                {
                    ["name"] = new JsonObject { ["type"] = "string", ["description"] = "snake_case tool name" },
                    ["description"] = new JsonObject { ["type"] = "string", ["description"] = "what the tool does, one sentence" },
                    ["source"] = SourceSchema.DeepClone(),
                    ["arguments"] = ArgumentsSchema.DeepClone(),
                },
                ["required"] = new JsonArray("name", "description", "source", "arguments"),
            }), RunAsync),
    ];

    public Task<Trajectory> SolveAsync(AgentTask task, CancellationToken ct) =>
        new AgentLoop(llm, maxSteps).RunAsync("teacher", SystemPrompt, task, Tools, ct);

    /// <summary>Solves every task and writes <c>trajectories.jsonl</c> (one line per task, every step) under <paramref name="outDir"/>.</summary>
    public async Task<IReadOnlyList<Trajectory>> TeachAsync(IReadOnlyList<AgentTask> tasks, string outDir, TextWriter? log, CancellationToken ct)
    {
        ArgumentNullException.ThrowIfNull(tasks);
        Directory.CreateDirectory(outDir);
        var file = Path.Combine(outDir, "trajectories.jsonl");
        var temp = file + ".tmp";
        File.Delete(temp);
        var all = new List<Trajectory>();
        foreach (var task in tasks)
        {
            var t = await SolveAsync(task, ct).ConfigureAwait(false);
            all.Add(t);
            JsonLines.Append(temp, t);
            log?.WriteLine($"teacher {task.Id}: {t.Stop}, answer {t.Answer ?? "(none)"}{(t.Correct is { } c ? c ? " (correct)" : " (wrong: " + t.GradeReason + ")" : "")}, {t.Steps.Count} steps");
        }

        if (!File.Exists(temp))
        {
            File.WriteAllText(temp, "");
        }

        File.Move(temp, file, overwrite: true);
        return all;
    }

    /// <summary>The method's arguments: an object, or (as some models send it) a string holding one; null when neither.</summary>
    internal static JsonObject? Arguments(JsonNode? node)
    {
        switch (node)
        {
            case null:
                return [];
            case JsonObject o:
                return o;
            case JsonValue v when v.TryGetValue<string>(out var text):
                try
                {
                    return string.IsNullOrWhiteSpace(text) ? [] : JsonNode.Parse(text) as JsonObject;
                }
                catch (System.Text.Json.JsonException)
                {
                    return null;
                }

            default:
                return null;
        }
    }

    private async Task<ToolOutcome> RunAsync(JsonObject args, CancellationToken ct)
    {
        var source = args["source"] is JsonValue s && s.TryGetValue<string>(out var text) ? text : null;
        if (source is null)
        {
            return new ToolOutcome(false, null, "missing 'source'", "error: missing 'source' (a string of C# code)");
        }

        var arguments = Arguments(args["arguments"]);
        if (arguments is null)
        {
            return new ToolOutcome(false, null, "'arguments' is not an object", "error: 'arguments' must be a JSON object mapping parameter names to values");
        }

        var result = await sandbox.RunSourceAsync(source, arguments, ct).ConfigureAwait(false);
        return result.Ok
            ? new ToolOutcome(true, result.Result, null, "result: " + result.ResultJson)
            : new ToolOutcome(false, null, result.Error, "error: " + result.Error);
    }
}

using System.Text.Json;
using System.Text.Json.Nodes;
using Attune.Agents.Distill;
using Attune.Agents.Mcp;
using ModelContextProtocol.Client;
using ModelContextProtocol.Protocol;
using Microsoft.Extensions.AI;

namespace Attune.Agents.Agent;

/// <summary>
/// The student agent (AgentDistill §3.3): a small, frozen model that solves tasks with the box's
/// tools, reached through an MCP client, under a step limit. When the box has more than
/// <c>topK</c> tools, only the <c>topK</c> whose name and description are most similar to the task
/// (MiniLM embeddings) are offered. Without a box the same loop runs with only <c>final_answer</c>.
/// </summary>
public sealed class Student(IChatClient llm, BoxConnection? box, ITextEmbedder? embedder = null, int maxSteps = 6, int topK = 5)
{
    public const string SystemPromptWithTools =
        "You are a careful assistant. Solve the task. You may call the available tools, which were distilled from a stronger agent's work; " +
        "read their descriptions and pass arguments that match their schemas. When you have the answer, call final_answer with it.";

    public const string SystemPromptWithoutTools =
        "You are a careful assistant. Solve the task by reasoning step by step, then call final_answer with the answer.";

    private IList<McpClientTool>? _tools;
    private IReadOnlyList<float[]>? _toolVectors;

    public async Task<Trajectory> SolveAsync(AgentTask task, CancellationToken ct)
    {
        ArgumentNullException.ThrowIfNull(task);
        var tools = box is null ? [] : await SelectToolsAsync(task.Task, ct).ConfigureAwait(false);
        var agentTools = tools.Select(t => new AgentTool(
            AgentTool.Declare(t.Name, t.Description, JsonNode.Parse(t.JsonSchema.GetRawText())!.AsObject()),
            (args, token) => CallAsync(t.Name, args, token))).ToList();
        return await new AgentLoop(llm, maxSteps)
            .RunAsync(box is null ? "student" : "student+box", box is null ? SystemPromptWithoutTools : SystemPromptWithTools, task, agentTools, ct)
            .ConfigureAwait(false);
    }

    /// <summary>The tools offered for <paramref name="task"/>: all, or the top-k by embedding similarity.</summary>
    public async Task<IReadOnlyList<McpClientTool>> SelectToolsAsync(string task, CancellationToken ct)
    {
        _tools ??= await box!.Client.ListToolsAsync(cancellationToken: ct).ConfigureAwait(false);
        if (_tools.Count <= topK)
        {
            return [.. _tools];
        }

        var embed = embedder ?? MiniLmEmbedder.Instance;
        _toolVectors ??= embed.Embed([.. _tools.Select(t => $"{t.Name}: {t.Description}")]);
        var query = embed.Embed([task])[0];
        return [.. Similarity.TopK(query, _toolVectors, topK).Order().Select(i => _tools[i])];
    }

    private async Task<ToolOutcome> CallAsync(string name, JsonObject args, CancellationToken ct)
    {
        var arguments = args.ToDictionary(p => p.Key, p => (object?)JsonSerializer.Deserialize<JsonElement>(p.Value?.ToJsonString() ?? "null"));
        var result = await box!.Client.CallToolAsync(name, arguments, cancellationToken: ct).ConfigureAwait(false);
        var text = string.Concat(result.Content.OfType<TextContentBlock>().Select(c => c.Text));
        JsonNode? output = result.StructuredContent is { } s ? JsonNode.Parse(s.GetRawText())?["result"]?.DeepClone() : JsonValue.Create(text);
        return result.IsError == true
            ? new ToolOutcome(false, null, text, "error: " + text)
            : new ToolOutcome(true, output, null, text);
    }
}

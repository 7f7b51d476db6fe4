using System.Text.Json;
using System.Text.Json.Nodes;
using System.Text.Json.Serialization;
using Attune.Agents.Agent;
using Attune.Agents.Box;
using Attune.Agents.Sandbox;
using Attune.Core.Errors;
using Attune.Core.IO;
using Microsoft.Extensions.AI;

namespace Attune.Agents.Distill;

/// <summary>A tool taken from successful teacher trajectories: code, description, and the calls that ran it (its tests).</summary>
public sealed record ToolCandidate(string Name, string Description, string Source, IReadOnlyList<ToolExample> Examples, IReadOnlyList<string> Tasks, string Method, IReadOnlyList<string>? UseCases = null);

/// <summary>One step of distillation and its verdict; failed steps are listed, never silently kept.</summary>
public sealed record DistillStep(
    [property: JsonPropertyName("stage")] string Stage,
    [property: JsonPropertyName("subject")] string Subject,
    [property: JsonPropertyName("ok")] bool Ok,
    [property: JsonPropertyName("detail")] string Detail);

/// <summary>The outcome of <see cref="Distiller.DistillAsync"/>: the box, the steps and the clusters.</summary>
public sealed record DistillResult(McpBox Box, IReadOnlyList<DistillStep> Steps, IReadOnlyList<IReadOnlyList<string>> Clusters, int Trajectories, int Successful);

/// <summary>Distillation settings.</summary>
public sealed record DistillOptions
{
    public string BoxName { get; init; } = "distilled";

    /// <summary>Agglomerative clustering threshold on cosine distance (1 − cosine) of MiniLM embeddings.</summary>
    public double ClusterThreshold { get; init; } = 0.35;

    /// <summary>The most examples kept per tool in its manifest (all are used for verification).</summary>
    public int MaxExamples { get; init; } = 5;
}

/// <summary>
/// AgentDistill's distillation (§3.2): (1) extract the proposed tools of successful trajectories
/// with the calls that ran them; (2) abstract each into a general, parameterised tool by an LLM
/// rewrite, verified by running the rewrite on the trajectory's own inputs and comparing outputs;
/// (3) cluster the tools by meaning (MiniLM embeddings of description + signature, agglomerative
/// clustering with a threshold); (4) consolidate each multi-tool cluster into one tool by an LLM
/// merge, verified against every member's examples; (5) write the MCP box. A rewrite or merge
/// that fails verification is reported and not used: the verified tools before it are kept.
/// </summary>
public sealed class Distiller(IChatClient llm, ToolSandbox sandbox, ITextEmbedder embedder, DistillOptions? options = null)
{
    private readonly DistillOptions _options = options ?? new DistillOptions();

    private static readonly JsonSerializerOptions Readable = new() { Encoder = System.Text.Encodings.Web.JavaScriptEncoder.UnsafeRelaxedJsonEscaping };

    private static string J(JsonNode? node) => node?.ToJsonString(Readable) ?? "null";

    private static readonly ChatOptions LlmOptions = new() { Temperature = 0, MaxOutputTokens = 4096 };

    public const string AbstractPrompt =
        "You turn tool code that a teacher agent wrote while solving one task into a general, reusable MCP tool. " +
        "Keep it C#: one public static class with exactly one public static method (helpers private), only pure computation. " +
        "Keep the parameter names and types so that every example below still gives the same result; you may add parameters that have default values. " +
        "Reply with one JSON object and nothing else: {\"name\": \"snake_case_name\", \"description\": \"what it does and when to use it\", \"useCases\": [\"...\"], \"source\": \"C# code\"}.";

    public const string MergePrompt =
        "You merge MCP tools that do the same job into one general tool. " +
        "Keep it C#: one public static class with exactly one public static method (helpers private), only pure computation. " +
        "The merged tool must give the listed result for every example of every tool below, called with the same argument names. " +
        "Reply with one JSON object and nothing else: {\"name\": \"snake_case_name\", \"description\": \"what it does and when to use it\", \"useCases\": [\"...\"], \"source\": \"C# code\"}.";

    /// <summary>Reads every <c>*.jsonl</c> trajectory file under <paramref name="directory"/>.</summary>
    public static IReadOnlyList<Trajectory> ReadTrajectories(string directory)
    {
        if (!Directory.Exists(directory))
        {
            throw new AttuneInputException("trajectory folder not found", directory);
        }

        var files = Directory.GetFiles(directory, "*.jsonl", SearchOption.AllDirectories).Order(StringComparer.Ordinal).ToList();
        if (files.Count == 0)
        {
            throw new AttuneInputException("no trajectory files (*.jsonl)", directory);
        }

        return [.. files.SelectMany(f => JsonLines.Read<Trajectory>(f).Select(x => x.Value))];
    }

    /// <summary>Step 1: the candidates of successful trajectories (same source = one candidate with the union of examples).</summary>
    public static IReadOnlyList<ToolCandidate> Extract(IEnumerable<Trajectory> trajectories)
    {
        var bySource = new Dictionary<string, (string Name, string Description, string Source, List<ToolExample> Examples, List<string> Tasks)>(StringComparer.Ordinal);
        var order = new List<string>();
        foreach (var t in trajectories.Where(t => t.Success))
        {
            foreach (var step in t.Steps.Where(s => s is { Kind: "tool", Tool: Teacher.ProposeTool, Ok: true }))
            {
                var args = step.Arguments!;
                var source = Str(args, "source");
                var name = Str(args, "name");
                if (source is null || name is null)
                {
                    continue;
                }

                var key = ToolCompiler.KeyOf(source);
                if (!bySource.TryGetValue(key, out var c))
                {
                    c = (ToolName(name), Str(args, "description") ?? "", source, [], []);
                    bySource[key] = c;
                    order.Add(key);
                }

                var example = new ToolExample(Teacher.Arguments(args["arguments"])?.DeepClone().AsObject() ?? [], step.Output?.DeepClone());
                if (!c.Examples.Any(e => JsonNode.DeepEquals(e.Input, example.Input)))
                {
                    c.Examples.Add(example);
                }

                if (!c.Tasks.Contains(t.TaskId))
                {
                    c.Tasks.Add(t.TaskId);
                }
            }
        }

        return [.. order.Select(k => bySource[k]).Select(c => new ToolCandidate(c.Name, c.Description, c.Source, c.Examples, c.Tasks, "extracted"))];
    }

    public async Task<DistillResult> DistillAsync(IReadOnlyList<Trajectory> trajectories, TextWriter? log, CancellationToken ct)
    {
        ArgumentNullException.ThrowIfNull(trajectories);
        var steps = new List<DistillStep>();
        var candidates = Extract(trajectories);
        var successful = trajectories.Count(t => t.Success);
        steps.Add(new DistillStep("extract", "trajectories", candidates.Count > 0,
            $"{candidates.Count} proposed tools from {successful} successful of {trajectories.Count} trajectories"));
        log?.WriteLine(steps[^1].Detail);

        // The extracted tools must themselves reproduce their recorded outputs (the sandbox is deterministic for pure code).
        var verified = new List<ToolCandidate>();
        foreach (var c in candidates)
        {
            var (ok, why) = await VerifyAsync(c.Source, c.Examples, ct).ConfigureAwait(false);
            steps.Add(new DistillStep("extract", c.Name, ok, ok ? $"reproduces its {c.Examples.Count} recorded calls" : "dropped: " + why));
            if (ok)
            {
                verified.Add(c);
            }
        }

        // 2. Abstraction.
        var abstracted = new List<ToolCandidate>();
        foreach (var c in verified)
        {
            var rewrite = await AskAsync(AbstractPrompt, Describe(c), ct).ConfigureAwait(false);
            var step = await AcceptAsync("abstract", c.Name, rewrite, c.Examples, ct).ConfigureAwait(false);
            steps.Add(step.Step);
            log?.WriteLine($"abstract {c.Name}: {(step.Step.Ok ? "ok" : "FAILED")} — {step.Step.Detail}");
            abstracted.Add(step.Tool is { } t ? t with { Tasks = c.Tasks, Examples = c.Examples, Method = "abstracted" } : c with { Method = "extracted (abstraction failed verification)" });
        }

        // 3. Clustering.
        var compiled = abstracted.Select(c => ToolCompiler.Compile(c.Source)).ToList();
        var texts = abstracted.Select((c, i) => $"{c.Name}: {c.Description} Signature: {compiled[i].Signature}").ToList();
        var clusters = abstracted.Count == 0 ? [] : Agglomerative.Cluster(embedder.Embed(texts), _options.ClusterThreshold);
        var clusterNames = clusters.Select(cl => (IReadOnlyList<string>)[.. cl.Select(i => abstracted[i].Name)]).ToList();
        steps.Add(new DistillStep("cluster", "tools", true,
            $"{abstracted.Count} tools in {clusters.Count} clusters (threshold {_options.ClusterThreshold}): " + string.Join("; ", clusterNames.Select(c => "[" + string.Join(", ", c) + "]"))));
        log?.WriteLine(steps[^1].Detail);

        // 4. Consolidation.
        var final = new List<ToolCandidate>();
        foreach (var cluster in clusters)
        {
            var members = cluster.Select(i => abstracted[i]).ToList();
            if (members.Count == 1)
            {
                final.Add(members[0]);
                continue;
            }

            var request = string.Join("\n\n", members.Select((m, i) => $"Tool {i + 1}:\n" + Describe(m)));
            var allExamples = members.SelectMany(m => m.Examples).ToList();
            var merged = await AskAsync(MergePrompt, request, ct).ConfigureAwait(false);
            var subject = string.Join(" + ", members.Select(m => m.Name));
            var step = await AcceptAsync("consolidate", subject, merged, allExamples, ct).ConfigureAwait(false);
            steps.Add(step.Step);
            log?.WriteLine($"consolidate {subject}: {(step.Step.Ok ? "ok" : "FAILED")} — {step.Step.Detail}");
            if (step.Tool is { } t)
            {
                final.Add(t with { Tasks = [.. members.SelectMany(m => m.Tasks).Distinct()], Examples = allExamples, Method = "consolidated from " + string.Join(", ", members.Select(m => m.Name)) });
            }
            else
            {
                final.AddRange(members);
            }
        }

        // 5. The box.
        var tools = new List<BoxTool>();
        foreach (var c in final)
        {
            var name = UniqueName(c.Name, tools.Select(t => t.Name));
            var tool = ToolCompiler.Compile(c.Source);
            tools.Add(new BoxTool(new ToolManifest
            {
                Name = name,
                Description = c.Description,
                UseCases = c.UseCases ?? [],
                InputSchema = ToolSchema.ForInput(tool),
                OutputSchema = ToolSchema.ForOutput(tool),
                Provenance = new ToolProvenance(c.Tasks, c.Method),
                Examples = [.. c.Examples.Take(_options.MaxExamples)],
                Source = name + ".cs",
            }, c.Source, tool));
        }

        var box = new McpBox(new BoxManifest
        {
            Name = _options.BoxName,
            Version = "1.0.0",
            Description = $"Distilled by Attune (AgentDistill) from {successful} successful teacher trajectories.",
            Tools = [.. tools.Select(t => t.Name)],
        }, tools);
        return new DistillResult(box, steps, clusterNames, trajectories.Count, successful);
    }

    private async Task<(DistillStep Step, ToolCandidate? Tool)> AcceptAsync(string stage, string subject, string reply, IReadOnlyList<ToolExample> examples, CancellationToken ct)
    {
        JsonObject parsed;
        try
        {
            parsed = ParseReply(reply);
        }
        catch (FormatException ex)
        {
            return (new DistillStep(stage, subject, false, "rejected: reply is not a JSON tool object (" + ex.Message + ")"), null);
        }

        var source = Str(parsed, "source");
        var name = Str(parsed, "name");
        if (source is null || name is null || !McpBox.IsToolName(name))
        {
            return (new DistillStep(stage, subject, false, "rejected: reply lacks a valid 'name' or 'source'"), null);
        }

        var (ok, why) = await VerifyAsync(source, examples, ct).ConfigureAwait(false);
        if (!ok)
        {
            return (new DistillStep(stage, subject, false, "rejected, failed verification: " + why), null);
        }

        IReadOnlyList<string> useCases = parsed["useCases"] is JsonArray uses ? [.. uses.Select(u => u?.ToString() ?? "").Where(u => u.Length > 0)] : [];
        var tool = new ToolCandidate(name, Str(parsed, "description") ?? "", source, examples, [], stage, useCases);
        return (new DistillStep(stage, subject, true, $"-> {name}: verified on {examples.Count} examples"), tool);
    }

    /// <summary>Runs <paramref name="source"/> on each example's input in the sandbox; all outputs must equal the recorded ones.</summary>
    public async Task<(bool Ok, string Reason)> VerifyAsync(string source, IReadOnlyList<ToolExample> examples, CancellationToken ct)
    {
        ArgumentNullException.ThrowIfNull(examples);
        CompiledTool tool;
        try
        {
            tool = ToolCompiler.Compile(source);
        }
        catch (ToolRejectedException ex)
        {
            return (false, ex.Message);
        }

        if (examples.Count == 0)
        {
            return (false, "no examples to verify against");
        }

        foreach (var e in examples)
        {
            var r = await sandbox.CallAsync(tool, e.Input, ct).ConfigureAwait(false);
            if (!r.Ok)
            {
                return (false, $"{J(e.Input)} -> error {r.Error}");
            }

            if (!JsonNode.DeepEquals(r.Result, e.Output))
            {
                return (false, $"{J(e.Input)} -> {J(r.Result)}, expected {J(e.Output)}");
            }
        }

        return (true, "");
    }

    private async Task<string> AskAsync(string system, string user, CancellationToken ct)
    {
        var response = await llm.GetResponseAsync([new ChatMessage(ChatRole.System, system), new ChatMessage(ChatRole.User, user)], LlmOptions, ct).ConfigureAwait(false);
        return response.Text;
    }

    private static string Describe(ToolCandidate c) =>
        $"Name: {c.Name}\nDescription: {c.Description}\nSource:\n```csharp\n{c.Source.TrimEnd()}\n```\nExamples (arguments -> result):\n"
        + string.Join("\n", c.Examples.Select(e => $"- {J(e.Input)} -> {J(e.Output)}"));

    /// <summary>The first JSON object in a reply (code fences and prose around it are ignored).</summary>
    internal static JsonObject ParseReply(string reply)
    {
        var start = reply.IndexOf('{', StringComparison.Ordinal);
        var end = reply.LastIndexOf('}');
        if (start < 0 || end <= start)
        {
            throw new FormatException("no JSON object");
        }

        try
        {
            return JsonNode.Parse(reply[start..(end + 1)]) as JsonObject ?? throw new FormatException("not an object");
        }
        catch (JsonException ex)
        {
            throw new FormatException(ex.Message, ex);
        }
    }

    /// <summary>A valid tool name from what the model wrote ("Solve 24!" becomes "solve_24").</summary>
    internal static string ToolName(string raw)
    {
        var chars = raw.Trim().ToLowerInvariant().Select(c => char.IsAsciiLetterOrDigit(c) || c is '_' or '-' ? c : '_').ToArray();
        var name = new string(chars).Trim('_');
        if (name.Length == 0 || !char.IsAsciiLetter(name[0]))
        {
            name = "tool_" + name;
        }

        return name.Length > 64 ? name[..64] : name;
    }

    private static string UniqueName(string name, IEnumerable<string> taken)
    {
        var set = taken.ToHashSet(StringComparer.Ordinal);
        var candidate = name;
        for (var i = 2; set.Contains(candidate); i++)
        {
            candidate = $"{name}_{i}";
        }

        return candidate;
    }

    private static string? Str(JsonObject o, string name) => o[name] is JsonValue v && v.TryGetValue<string>(out var s) ? s : null;
}

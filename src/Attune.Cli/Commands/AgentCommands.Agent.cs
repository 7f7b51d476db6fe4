using System.CommandLine;
using System.Globalization;
using Attune.Agents;
using Attune.Agents.Agent;
using Attune.Agents.Box;
using Attune.Agents.Distill;
using Attune.Agents.Game24;
using Attune.Agents.Mcp;
using Attune.Agents.Sandbox;
using Attune.Core.Errors;
using Attune.Core.IO;
using Attune.Core.Reproductions;
using Attune.Llm;
using Microsoft.Extensions.AI;

namespace Attune.Cli.Commands;

public sealed partial class AgentCommands
{
    public IEnumerable<IReproduction> Reproductions => [new AgentDistillReproduction()];

    private static void AddAgentCommands(CliApp app)
    {
        var agent = app.AddGroup("agent", "AgentDistill: a teacher agent's tools distilled into an MCP box for a student agent (Qiu et al. 2025).");
        agent.Subcommands.Add(TeachCommand(app));
        agent.Subcommands.Add(DistillCommand(app));
        agent.Subcommands.Add(SolveCommand(app));
        agent.Subcommands.Add(BenchCommand(app));
    }

    private static IChatClient Llm(CommandContext ctx, string verb) =>
        LlmEndpoints.Create(ctx.LlmSpec ?? throw new AttuneInputException($"attune agent {verb} needs a language model: pass --llm SPEC or set ATTUNE_LLM ({LlmSpec.SyntaxHintText})"));

    private static int Positive(int value, string option) =>
        value > 0 ? value : throw new AttuneInputException($"{option}: '{value.ToString(CultureInfo.InvariantCulture)}' is not a positive number");

    private static Command TeachCommand(CliApp app)
    {
        var tasks = new Option<string>("--tasks") { Description = "Tasks: JSON lines {\"id\", \"task\", \"numbers\"?} or a Game-of-24 data.json.", Required = true };
        var output = new Option<string>("--out") { Description = "Folder for trajectories.jsonl.", Required = true }.OutputFolder();
        var steps = new Option<int>("--max-steps") { Description = "Model turns per task.", DefaultValueFactory = _ => 8 };
        var command = new Command("teach", "Run the teacher agent (run C# in the sandbox, propose tools, final answer) on each task; save every step as JSON lines.") { tasks, output, steps };
        app.SetAction(command, async (ctx, ct) =>
        {
            var list = ReadTasks(ctx.Get(tasks)!);
            using var llm = Llm(ctx, "teach");
            using var sandbox = new ToolSandbox();
            var trajectories = await new Teacher(llm, sandbox, Positive(ctx.Get(steps), "--max-steps")).TeachAsync(list, ctx.Get(output)!, ctx.Err, ct);
            var solved = trajectories.Count(t => t.Success);
            var proposed = trajectories.Sum(t => t.Steps.Count(s => s.Tool == Teacher.ProposeTool && s.Ok == true));
            if (ctx.Json)
            {
                ctx.WriteJson(new { tasks = list.Count, solved, proposedTools = proposed, trajectories = Path.Combine(ctx.Get(output)!, "trajectories.jsonl") });
            }
            else
            {
                ctx.Out.WriteLine($"{solved} of {list.Count} tasks solved; {proposed} tools proposed; trajectories in {Path.Combine(ctx.Get(output)!, "trajectories.jsonl")}");
            }

            return CliApp.Success;
        });
        return command;
    }

    private static Command DistillCommand(CliApp app)
    {
        var trajectories = new Option<string>("--trajectories") { Description = "Folder of trajectory files (*.jsonl) from 'attune agent teach'.", Required = true };
        var output = new Option<string>("--out") { Description = "The MCP box folder to write.", Required = true }.OutputFolder();
        var threshold = new Option<double>("--threshold") { Description = "Clustering threshold on cosine distance of MiniLM embeddings.", DefaultValueFactory = _ => 0.35 };
        var name = new Option<string>("--name") { Description = "The box's name.", DefaultValueFactory = _ => "distilled" };
        var command = new Command("distill", "Extract tools from successful trajectories, abstract (LLM, verified), cluster (MiniLM), consolidate (LLM, verified), write an MCP box.") { trajectories, output, threshold, name };
        app.SetAction(command, async (ctx, ct) =>
        {
            var t = ctx.Get(threshold);
            if (!(t is >= 0 and <= 2))
            {
                throw new AttuneInputException("--threshold: must be between 0 and 2 (cosine distance)");
            }

            var boxName = ctx.Get(name)!;
            if (!McpBox.IsToolName(boxName))
            {
                throw new AttuneInputException($"--name: '{boxName}' is not a valid name (letters, digits, '_' and '-')");
            }

            var read = Distiller.ReadTrajectories(ctx.Get(trajectories)!);
            using var llm = Llm(ctx, "distill");
            using var sandbox = new ToolSandbox();
            var result = await new Distiller(llm, sandbox, MiniLmEmbedder.Instance, new DistillOptions { ClusterThreshold = t, BoxName = boxName })
                .DistillAsync(read, ctx.Json ? ctx.Err : ctx.Err, ct);
            result.Box.Save(ctx.Get(output)!);
            AtomicFile.WriteAllText(Path.Combine(ctx.Get(output)!, "distill-report.json"), System.Text.Json.JsonSerializer.Serialize(new { steps = result.Steps, clusters = result.Clusters }, McpBox.JsonOptions));
            if (ctx.Json)
            {
                ctx.WriteJson(new { box = ctx.Get(output), tools = result.Box.Manifest.Tools, trajectories = result.Trajectories, successful = result.Successful, steps = result.Steps, clusters = result.Clusters });
            }
            else
            {
                foreach (var s in result.Steps)
                {
                    ctx.Out.WriteLine($"{(s.Ok ? "ok      " : "REJECTED")} {s.Stage,-11} {s.Subject}: {s.Detail}");
                }

                ctx.Out.WriteLine($"box '{boxName}' with {result.Box.Tools.Count} tools written to {ctx.Get(output)}");
            }

            return CliApp.Success;
        });
        return command;
    }

    private static Command SolveCommand(CliApp app)
    {
        var box = new Option<string?>("--box") { Description = "The MCP box folder (omit to solve without tools)." };
        var task = new Option<string>("--task") { Description = "The task text (numbers in [a, b, c, d] are graded as Game of 24).", Required = true };
        var steps = new Option<int>("--max-steps") { Description = "Model turns.", DefaultValueFactory = _ => 6 };
        var topK = new Option<int>("--top-k") { Description = "Offer only the k tools most similar to the task when the box has more.", DefaultValueFactory = _ => 5 };
        var command = new Command("solve", "Solve one task with the student agent and the box's tools through an MCP client.") { box, task, steps, topK };
        app.SetAction(command, async (ctx, ct) =>
        {
            var text = ctx.Get(task)!;
            var numbers = System.Text.RegularExpressions.Regex.Match(text, @"\[(\d+(?:\s*,\s*\d+){3})\]") is { Success: true } m
                ? m.Groups[1].Value.Split(',').Select(s => int.Parse(s.Trim(), CultureInfo.InvariantCulture)).ToList()
                : null;
            using var llm = Llm(ctx, "solve");
            using var sandbox = new ToolSandbox();
            await using var connection = ctx.Get(box) is { } dir ? await BoxConnection.InProcessAsync(McpBox.Load(dir), sandbox, ct) : null;
            var student = new Student(llm, connection, MiniLmEmbedder.Instance, Positive(ctx.Get(steps), "--max-steps"), Positive(ctx.Get(topK), "--top-k"));
            var t = await student.SolveAsync(new AgentTask("task", text, numbers), ct);
            if (ctx.Json)
            {
                ctx.WriteJson(t);
            }
            else
            {
                var readable = new System.Text.Json.JsonSerializerOptions { Encoder = System.Text.Encodings.Web.JavaScriptEncoder.UnsafeRelaxedJsonEscaping };
                foreach (var s in t.Steps)
                {
                    if (s.Kind == "model")
                    {
                        if (!string.IsNullOrWhiteSpace(s.Text))
                        {
                            ctx.Out.WriteLine($"model: {s.Text}");
                        }
                    }
                    else if (s.Tool != AgentLoop.FinalAnswer)
                    {
                        ctx.Out.WriteLine($"  {s.Tool}({s.Arguments?.ToJsonString(readable)}) -> {(s.Ok == true ? s.Output?.ToJsonString(readable) : "error: " + s.Error)}");
                    }
                }

                ctx.Out.WriteLine($"answer: {t.Answer ?? "(none)"} ({t.Stop}){(t.Correct is { } c ? c ? ", correct" : ", wrong: " + t.GradeReason : "")}");
            }

            return CliApp.Success;
        });
        return command;
    }

    private static Command BenchCommand(CliApp app)
    {
        var name = new Argument<string>("benchmark") { Description = "The benchmark: game24." };
        var box = new Option<string?>("--box") { Description = "The MCP box folder (omit: only the student without tools)." };
        var data = new Option<string?>("--data") { Description = "Game-of-24 data.json (default: the data cache; 'attune data pull gameof24' puts it there)." };
        var count = new Option<int>("--count") { Description = "How many puzzles (a seeded sample).", DefaultValueFactory = _ => 20 };
        var steps = new Option<int>("--max-steps") { Description = "Model turns per puzzle.", DefaultValueFactory = _ => 6 };
        var topK = new Option<int>("--top-k") { Description = "Offer only the k tools most similar to the task when the box has more.", DefaultValueFactory = _ => 5 };
        var noBaseline = new Option<bool>("--no-baseline") { Description = "Skip the run without the box." };
        var command = new Command("bench", "Game of 24 with the student, with and without the box; answers graded by program.") { name, box, data, count, steps, topK, noBaseline };
        app.SetAction(command, async (ctx, ct) =>
        {
            if (ctx.Get(name) != "game24")
            {
                throw new AttuneInputException($"benchmark '{ctx.Get(name)}' is not known (known: game24)");
            }

            var path = Game24Data.Find(ctx.Get(data)) ?? throw new AttuneInputException("Game-of-24 data not found: run 'attune data pull gameof24' or pass --data FILE");
            var all = Game24Data.Load(path);
            var n = Math.Min(Positive(ctx.Get(count), "--count"), all.Count);
            var rng = Attune.Core.Randomness.Seeds.Create(ctx.Seed);
            var tasks = all.OrderBy(_ => rng.Next()).Take(n).ToList();
            var loaded = ctx.Get(box) is { } dir ? McpBox.Load(dir) : null;
            using var llm = Llm(ctx, "bench");
            using var sandbox = new ToolSandbox();
            var result = await Game24Bench.RunAsync(llm, loaded, tasks, withoutBox: loaded is null || !ctx.Get(noBaseline), ctx.Err, sandbox,
                Positive(ctx.Get(steps), "--max-steps"), Positive(ctx.Get(topK), "--top-k"), MiniLmEmbedder.Instance, ct);
            if (ctx.Json)
            {
                ctx.WriteJson(new { benchmark = "game24", data = path, seed = ctx.Seed, count = n, box = ctx.Get(box), rows = result.Rows, trajectories = result.Trajectories });
            }
            else
            {
                ctx.Out.WriteLine($"Game of 24, {n} puzzles from {path} (seed {ctx.Seed})");
                ctx.Out.WriteLine($"{"setting",-12} {"correct",8} {"accuracy",9} {"turns",6} {"tool calls",10}");
                foreach (var r in result.Rows)
                {
                    ctx.Out.WriteLine(string.Create(CultureInfo.InvariantCulture, $"{r.Setting,-12} {r.Correct,4}/{r.Total,-3} {r.Accuracy,9:0.000} {r.MeanSteps,6:0.0} {r.ToolCalls,10}"));
                }
            }

            return CliApp.Success;
        });
        return command;
    }

    /// <summary>Tasks: JSON lines of <see cref="AgentTask"/>, or a Game-of-24 data.json array.</summary>
    internal static IReadOnlyList<AgentTask> ReadTasks(string path)
    {
        if (!File.Exists(path))
        {
            throw new AttuneInputException("tasks file not found", path);
        }

        if (path.EndsWith(".json", StringComparison.OrdinalIgnoreCase))
        {
            return Game24Data.Load(path);
        }

        var tasks = new List<AgentTask>();
        foreach (var (line, task) in JsonLines.Read<AgentTask>(path))
        {
            if (string.IsNullOrWhiteSpace(task.Task))
            {
                throw new AttuneInputException("empty", path, line, "task");
            }

            tasks.Add(task with { Id = string.IsNullOrWhiteSpace(task.Id) ? "task-" + line.ToString(CultureInfo.InvariantCulture) : task.Id });
        }

        return tasks.Count > 0 ? tasks : throw new AttuneInputException("no tasks", path);
    }
}

using System.Globalization;
using System.Text.Json;
using System.Text.Json.Nodes;
using Attune.Agents;
using Attune.Agents.Tests;
using Attune.Llm;
using Attune.Optimization;
using Attune.Optimization.Tests;
using Microsoft.Extensions.AI;

// Regenerates the recorded exchange logs that tests and reproductions replay. Every log comes from a
// scripted stand-in (no language model is reachable where these were made), and its records say so
// ("scripted": true), so whatever replays them reports the claims they touch as not measured.
//
//   dotnet run --project tools/Attune.Recorders -- agentdistill [FOLDER]   (default examples/agentdistill)
//   dotnet run --project tools/Attune.Recorders -- equiv-llm [FOLDER]      (default tests/Attune.Optimization.Tests/Fixtures/llm)
const string usage = "usage: Attune.Recorders agentdistill|equiv-llm [FOLDER]";
if (args.Length is < 1 or > 2)
{
    Console.Error.WriteLine(usage);
    return 2;
}

try
{
    switch (args[0])
    {
        case "agentdistill":
            await RecordAgentDistill(args.Length > 1 ? args[1] : Path.Combine("examples", "agentdistill"));
            return 0;
        case "equiv-llm":
            await RecordEquivLlm(args.Length > 1 ? args[1] : Path.Combine("tests", "Attune.Optimization.Tests", "Fixtures", "llm"));
            return 0;
        default:
            Console.Error.WriteLine($"unknown recording '{args[0]}'; {usage}");
            return 2;
    }
}
catch (OperationCanceledException)
{
    return 130;
}

// The agentdistill replay: teacher, distiller and student played by ScriptedAgentModel on the
// reproduction's fixed puzzles; plus the puzzles themselves for `attune agent teach|bench`.
static async Task RecordAgentDistill(string folder)
{
    Directory.CreateDirectory(folder);
    var work = Path.Combine(Path.GetTempPath(), "attune-record-" + Guid.NewGuid().ToString("N")[..10]);
    var log = Path.Combine(work, "replay.jsonl");
    Directory.CreateDirectory(work);
    try
    {
        using (var scripted = new ScriptedAgentModel().AsBuilder().UseRecording(log).Build())
        {
            var result = await AgentDistillPipeline.RunAsync(scripted, scripted, AgentDistillReproduction.ReplayTeachTasks, AgentDistillReproduction.ReplayBenchTasks,
                Path.Combine(work, "run"), new PipelineOptions(), Console.Error, CancellationToken.None);
            Console.Error.WriteLine($"teacher solved {result.Teacher.Count(t => t.Success)} of {result.Teacher.Count}; box of {result.Distill.Box.Tools.Count} tools");
        }

        File.Copy(log, Path.Combine(folder, "replay.jsonl"), overwrite: true);
        File.WriteAllLines(Path.Combine(folder, "teach-tasks.jsonl"), AgentDistillReproduction.ReplayTeachTasks.Select(t => JsonSerializer.Serialize(t)));
        JsonArray bench = [.. AgentDistillReproduction.ReplayBenchTasks.Select((t, i) => (JsonNode)new JsonObject
        {
            ["pid"] = i.ToString(CultureInfo.InvariantCulture),
            ["question"] = new JsonArray([.. t.Numbers!.Select(n => (JsonNode)n)]),
            ["query"] = t.Task,
        })];
        File.WriteAllText(Path.Combine(folder, "bench-puzzles.json"), bench.ToJsonString(new JsonSerializerOptions { WriteIndented = true }) + "\n");
        Console.Error.WriteLine($"wrote {folder}/replay.jsonl, teach-tasks.jsonl, bench-puzzles.json (rebuild Attune.Agents: the log ships inside it)");
    }
    finally
    {
        Directory.Delete(work, recursive: true);
    }
}

// The EquivaMap LLM finder's log: two pairs, each variable's map answered by ReferenceChatClient
// from the generator's true map (see docs/optimization.md).
static async Task RecordEquivLlm(string folder)
{
    Directory.CreateDirectory(folder);
    var log = Path.Combine(folder, "exchanges.jsonl");
    File.Delete(log);
    var f = BaseInstances.Generate("production", false, 101);
    foreach (var (name, seed) in new[] { ("rename", 1), ("split-diff", 2) })
    {
        var pair = Transformations.Apply(name, f, new Random(seed))!;
        var dir = Path.Combine(folder, name);
        Directory.CreateDirectory(dir);
        FormulationFile.Write(Path.Combine(dir, "original.lp"), f);
        FormulationFile.Write(Path.Combine(dir, "transformed.lp"), pair.Transformed);

        // Record on the files as they will be read back, so that the prompts match on replay.
        var original = FormulationFile.Read(Path.Combine(dir, "original.lp"));
        var transformed = FormulationFile.Read(Path.Combine(dir, "transformed.lp"));
        using var client = new ReferenceChatClient(pair.TrueMap!, wrap: true).AsBuilder().UseRecording(log).Build();
        var report = await EquivalenceChecker.CheckAsync(original, transformed, "llm", client);
        if (!report.Equivalent)
        {
            throw new InvalidOperationException($"{name}: the true map did not check: {report.Reason}");
        }
    }

    Console.Error.WriteLine($"wrote {log} and the two pairs beside it");
}

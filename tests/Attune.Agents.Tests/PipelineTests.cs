using Attune.Agents.Box;
using Attune.Agents.Game24;
using Attune.Llm;
using Microsoft.Extensions.AI;
using Xunit.Abstractions;

namespace Attune.Agents.Tests;

/// <summary>
/// Teacher → distill → student end to end: recorded from the scripted stand-in, then replayed from
/// the log with no model at all; and from the replay log shipped in examples/agentdistill/
/// (`dotnet run --project tools/Attune.Recorders -- agentdistill` rewrites that log).
/// </summary>
public sealed class PipelineTests(ITestOutputHelper output)
{
    private static string ShippedLog => Path.Combine(Paths.Repo, AgentDistillReproduction.ReplayRelativePath);

    [Fact]
    public async Task Recorded_pipeline_replays_from_its_log_with_the_same_results()
    {
        var dir = Paths.TempDir();
        var log = Path.Combine(dir, "replay.jsonl");
        var writer = new StringWriter();
        PipelineResult recorded;
        using (var scripted = new ScriptedAgentModel().AsBuilder().UseRecording(log).Build())
        {
            recorded = await AgentDistillPipeline.RunAsync(scripted, scripted, AgentDistillReproduction.ReplayTeachTasks, AgentDistillReproduction.ReplayBenchTasks,
                Path.Combine(dir, "recorded"), new PipelineOptions(), writer, CancellationToken.None);
        }

        output.WriteLine(writer.ToString());
        Assert.True(File.ReadLines(log).All(l => l.Contains("\"scripted\":true", StringComparison.Ordinal)), "every record of a stand-in says so");

        using var replay = LlmEndpoints.Create("replay:" + log);
        var replayed = await AgentDistillPipeline.RunAsync(replay, replay, AgentDistillReproduction.ReplayTeachTasks, AgentDistillReproduction.ReplayBenchTasks,
            Path.Combine(dir, "replayed"), new PipelineOptions(), TextWriter.Null, CancellationToken.None);
        Assert.Equal(recorded.Teacher.Select(t => t.Answer), replayed.Teacher.Select(t => t.Answer));
        Assert.Equal(recorded.Distill.Box.Manifest.Tools, replayed.Distill.Box.Manifest.Tools);
        Assert.Equal(recorded.Bench.Rows, replayed.Bench.Rows);
        foreach (var tool in recorded.Distill.Box.Tools)
        {
            Assert.Equal(tool.Source, File.ReadAllText(Path.Combine(replayed.BoxDirectory, "tools", tool.Manifest.Source)));
        }
    }

    [Fact]
    public void Shipped_example_inputs_are_the_replay_puzzles()
    {
        var folder = Path.GetDirectoryName(ShippedLog)!;
        var teach = File.ReadAllLines(Path.Combine(folder, "teach-tasks.jsonl")).Select(l => System.Text.Json.JsonSerializer.Deserialize<Attune.Agents.Agent.AgentTask>(l)!).ToList();
        Assert.Equal(AgentDistillReproduction.ReplayTeachTasks.Select(t => (t.Id, t.Task, string.Join(",", t.Numbers!))), teach.Select(t => (t.Id, t.Task, string.Join(",", t.Numbers!))));
        var bench = Game24Data.Load(Path.Combine(folder, "bench-puzzles.json"));
        Assert.Equal(AgentDistillReproduction.ReplayBenchTasks.Select(t => t.Task), bench.Select(t => t.Task));
    }

    [Fact]
    public async Task Shipped_replay_log_runs_the_whole_pipeline()
    {
        Assert.True(File.Exists(ShippedLog), "missing " + ShippedLog);
        using var replay = LlmEndpoints.Create("replay:" + ShippedLog);
        var dir = Paths.TempDir();
        var r = await AgentDistillPipeline.RunAsync(replay, replay, AgentDistillReproduction.ReplayTeachTasks, AgentDistillReproduction.ReplayBenchTasks,
            dir, new PipelineOptions(), TextWriter.Null, CancellationToken.None);

        // Teacher trajectories: every step saved, graded by program.
        var lines = File.ReadAllLines(Path.Combine(dir, "trajectories", "trajectories.jsonl"));
        Assert.Equal(AgentDistillReproduction.ReplayTeachTasks.Count, lines.Length);
        Assert.All(r.Teacher, t => Assert.Equal(t.Correct, Game24Grader.Grade(t.Numbers!, t.Answer).Correct));
        Assert.Contains(r.Teacher, t => t.Success);
        Assert.Contains(r.Teacher, t => !t.Success);

        // Distillation: only successful trajectories' tools; a rewrite that fails verification is reported and not kept.
        var failedTasks = r.Teacher.Where(t => !t.Success).Select(t => t.TaskId).ToHashSet();
        var box = McpBox.Load(r.BoxDirectory);
        Assert.NotEmpty(box.Tools);
        Assert.All(box.Tools, t => Assert.DoesNotContain(t.Manifest.Provenance.Tasks, failedTasks.Contains));
        var rejected = r.Distill.Steps.Where(s => !s.Ok).ToList();
        Assert.Contains(rejected, s => s.Stage == "abstract" && s.Detail.Contains("failed verification", StringComparison.Ordinal));
        Assert.DoesNotContain(box.Tools, t => t.Name == "is_valid_24");

        // Every tool in the box reproduces its examples in the sandbox.
        using var sandbox = new Attune.Agents.Sandbox.ToolSandbox();
        var distiller = new Attune.Agents.Distill.Distiller(new ScriptedAgentModel(), sandbox, Attune.Agents.Distill.MiniLmEmbedder.Instance);
        foreach (var tool in box.Tools)
        {
            var (ok, why) = await distiller.VerifyAsync(tool.Source, tool.Manifest.Examples, CancellationToken.None);
            Assert.True(ok, tool.Name + ": " + why);
        }

        // Student: with the box (through MCP) it answers more puzzles correctly than without.
        var plain = r.Bench.Rows.Single(x => x.Setting == "student");
        var boxed = r.Bench.Rows.Single(x => x.Setting == "student+box");
        Assert.Equal(AgentDistillReproduction.ReplayBenchTasks.Count, boxed.Total);
        Assert.True(boxed.Accuracy > plain.Accuracy, $"{boxed.Accuracy} vs {plain.Accuracy}");
        Assert.True(boxed.ToolCalls > 0);
        Assert.All(r.Bench.Trajectories, t => Assert.Equal(t.Correct, Game24Grader.Grade(t.Numbers!, t.Answer).Correct));
    }
}

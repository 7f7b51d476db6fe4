using Attune.Agents.Agent;
using Attune.Agents.Box;
using Attune.Agents.Distill;
using Attune.Agents.Game24;
using Attune.Agents.Sandbox;
using Microsoft.Extensions.AI;

namespace Attune.Agents;

/// <summary>Settings of the whole AgentDistill pipeline.</summary>
public sealed record PipelineOptions
{
    public int TeacherSteps { get; init; } = 8;

    public int StudentSteps { get; init; } = 6;

    public int TopK { get; init; } = 5;

    public double ClusterThreshold { get; init; } = 0.35;
}

/// <summary>The pipeline's outputs: trajectories, the distillation and the benchmark.</summary>
public sealed record PipelineResult(IReadOnlyList<Trajectory> Teacher, DistillResult Distill, BenchResult Bench, string BoxDirectory);

/// <summary>Teacher → distill → student on Game of 24: the experiment of AgentDistill at small scale.</summary>
public static class AgentDistillPipeline
{
    public static async Task<PipelineResult> RunAsync(IChatClient teacher, IChatClient student, IReadOnlyList<AgentTask> teachTasks, IReadOnlyList<AgentTask> benchTasks,
        string workDir, PipelineOptions options, TextWriter log, CancellationToken ct)
    {
        ArgumentNullException.ThrowIfNull(options);
        ArgumentNullException.ThrowIfNull(log);
        using var sandbox = new ToolSandbox();
        var trajectoryDir = Path.Combine(workDir, "trajectories");
        log.WriteLine($"teacher: {teachTasks.Count} tasks");
        var trajectories = await new Teacher(teacher, sandbox, options.TeacherSteps).TeachAsync(teachTasks, trajectoryDir, log, ct).ConfigureAwait(false);
        log.WriteLine("distilling");
        var distill = await new Distiller(teacher, sandbox, MiniLmEmbedder.Instance, new DistillOptions { ClusterThreshold = options.ClusterThreshold, BoxName = "game24-distilled" })
            .DistillAsync(Distiller.ReadTrajectories(trajectoryDir), log, ct).ConfigureAwait(false);
        var boxDir = Path.Combine(workDir, "box");
        distill.Box.Save(boxDir);
        var box = McpBox.Load(boxDir);
        log.WriteLine($"student: {benchTasks.Count} tasks, without and with the box ({box.Tools.Count} tools)");
        var bench = await Game24Bench.RunAsync(student, box, benchTasks, withoutBox: true, log, sandbox, options.StudentSteps, options.TopK, MiniLmEmbedder.Instance, ct).ConfigureAwait(false);
        return new PipelineResult(trajectories, distill, bench, boxDir);
    }
}

using System.CommandLine;
using Attune.Core.Errors;
using Attune.Core.Randomness;
using Attune.Reasoning;
using Attune.Reasoning.Tasks;

namespace Attune.Cli.Commands;

/// <summary><c>attune cot generate|oracle|train|merge|rft|eval</c>: Composable CoT's tasks, data, training recipes, merging, RFT and evaluation.</summary>
public sealed partial class CotCommands : ICommandModule
{
    public IEnumerable<Core.Reproductions.IReproduction> Reproductions => [new ComposableCotReproduction()];

    public void AddCommands(CliApp app)
    {
        var group = app.AddGroup("cot", "Composable chain-of-thought: the string tasks, their data formats, the answer oracle, training recipes, merging, RFT and evaluation.");
        AddGenerate(app, group);
        AddOracle(app, group);
        AddTrain(app, group);
        AddMerge(app, group);
        AddRft(app, group);
        AddEval(app, group);
    }

    private static void AddGenerate(CliApp app, Command group)
    {
        var task = new Option<string>("--task") { Description = "A task name, or several joined by commas (see 'attune cot generate --help').", Required = true };
        var format = new Option<string>("--format") { Description = "standard (instruction -> CoT), composable (half prefix form, half suffix form with a proxy prefix) or answer-only.", DefaultValueFactory = _ => "composable" };
        var count = new Option<int>("--count") { Description = "Examples per task.", DefaultValueFactory = _ => 1000 };
        var output = new Option<string>("--out") { Description = "The file to write: alpaca JSON for .json, JSON lines otherwise.", Required = true };
        task.Description += " Known: " + string.Join(", ", ReasoningTasks.All.Select(t => t.Name)) + ".";
        var command = new Command("generate", "Generate examples of tasks in a CoT format (each with its task, form and answer label).") { task, format, count, output };
        group.Subcommands.Add(command);
        app.SetAction(command, (ctx, ct) =>
        {
            var tasks = ctx.Get(task)!.Split(',', StringSplitOptions.TrimEntries | StringSplitOptions.RemoveEmptyEntries).Select(ReasoningTasks.Find).ToList();
            var fmt = CotFormats.Parse(ctx.Get(format)!);
            var n = ctx.Get(count);
            if (n is < 1 or > 10_000_000)
            {
                throw new AttuneInputException($"--count must be between 1 and 10000000 (got {n})");
            }

            var path = CheckOutFile(ctx.Get(output)!);

            var items = new List<System.Text.Json.Nodes.JsonObject>(tasks.Count * n);
            foreach (var t in tasks)
            {
                // A stream per task (by its place among the registered tasks), so adding a task to --task leaves the others' examples unchanged.
                var rng = Seeds.Create(ctx.Seed, 100 + ReasoningTasks.All.ToList().FindIndex(x => x.Name == t.Name));
                for (var i = 0; i < n; i++)
                {
                    ct.ThrowIfCancellationRequested();
                    items.Add(CotData.ToJson(CotFormats.Write(t.Generate(rng), fmt, suffix: i % 2 == 1, rng)));
                }
            }

            CotData.Write(path, items);
            if (ctx.Json)
            {
                ctx.WriteJson(new { examples = items.Count, tasks = tasks.Select(t => t.Name), format = fmt.ToString().ToLowerInvariant(), output = Path.GetFullPath(path), seed = ctx.Seed });
            }
            else
            {
                ctx.Out.WriteLine($"{items.Count} examples ({string.Join(", ", tasks.Select(t => t.Name))}; {fmt.ToString().ToLowerInvariant()}) -> {path}");
            }

            return Task.FromResult(CliApp.Success);
        });
    }

    private static void AddOracle(CliApp app, Command group)
    {
        var data = new Option<string>("--data") { Description = "Alpaca JSON or JSON lines with instruction and output (and answer_label if present).", Required = true };
        var command = new Command("oracle", "Check every example's label against the exact answer of its task's template.") { data };
        group.Subcommands.Add(command);
        app.SetAction(command, (ctx, _) =>
        {
            var path = ctx.Get(data)!;
            var report = CotOracle.Check(CotData.Read(path), path);
            if (ctx.Json)
            {
                ctx.WriteJson(report);
            }
            else
            {
                ctx.Out.WriteLine($"{report.Examples} examples, {report.Parsed} parsed, {report.Agree} agree with the oracle");
                foreach (var d in report.Disagreements.Take(20))
                {
                    ctx.Out.WriteLine($"  example {d.Example} ({d.Task}): label '{d.Label}', oracle '{d.Oracle}'");
                }
            }

            return Task.FromResult(CliApp.Success);
        });
    }
}

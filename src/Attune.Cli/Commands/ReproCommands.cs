using System.CommandLine;
using System.Globalization;
using Attune.Core.Reproductions;

namespace Attune.Cli.Commands;

/// <summary><c>attune repro list</c> and <c>attune repro run NAME|all [--quick] [--out DIR]</c>.</summary>
public sealed class ReproCommands : ICommandModule
{
    public void AddCommands(CliApp app)
    {
        var repro = app.AddGroup("repro", "List and run the reproductions of the papers' experiments.");

        var list = new Command("list", "List the registered reproductions.");
        app.SetAction(list, (ctx, _) =>
        {
            var all = ctx.App.Reproductions;
            if (ctx.Json)
            {
                ctx.WriteJson(all.Select(r => new { name = r.Name, paper = r.Paper, summary = r.Summary }));
            }
            else
            {
                var width = all.Count == 0 ? 4 : all.Max(r => r.Name.Length);
                foreach (var r in all)
                {
                    ctx.Out.WriteLine($"{r.Name.PadRight(width)}  {r.Summary}");
                    ctx.Out.WriteLine($"{new string(' ', width)}  {r.Paper}");
                }
            }

            return Task.FromResult(CliApp.Success);
        });
        repro.Subcommands.Add(list);

        var name = new Argument<string>("name") { Description = "A reproduction's name (see 'attune repro list'), or 'all'." };
        var quick = new Option<bool>("--quick") { Description = "Run at the small scale meant for a laptop and CI." };
        var output = new Option<string>("--out")
        {
            Description = "Folder under which each run writes <UTC time>-<name>/.",
            DefaultValueFactory = _ => "runs",
        };
        var run = new Command("run", "Run one reproduction, or all of them, and write a report.") { name, quick, output };
        app.SetAction(run, async (ctx, ct) =>
        {
            var all = ctx.App.Reproductions;
            var wanted = ctx.Get(name)!;
            IReadOnlyList<IReproduction> selected = wanted == "all" ? all : [ReproductionRunner.Find(all, wanted)];
            var root = ctx.Get(output) ?? "runs";
            var runs = new List<ReproductionRun>();
            var failed = 0;
            for (var i = 0; i < selected.Count; i++)
            {
                var r = selected[i];
                ctx.Log($"[{i + 1}/{selected.Count}] {r.Name}: {r.Summary}");
                try
                {
                    var done = await ReproductionRunner.RunAsync(r, ctx.Get(quick), ctx.Seed, root, ctx.Err, ct);
                    runs.Add(done);
                    var ok = done.Claims.Count(c => c.Reproduced);
                    ctx.Log($"[{i + 1}/{selected.Count}] {r.Name}: {ok} of {done.Claims.Count} claims reproduced in {done.Seconds.ToString("F1", CultureInfo.InvariantCulture)} s -> {done.ReportDir}");
                }
                catch (Exception ex) when (selected.Count > 1 && ex is not OperationCanceledException)
                {
                    // With 'all', one broken reproduction must not hide the others' results.
                    failed++;
                    ctx.Log($"[{i + 1}/{selected.Count}] {r.Name}: FAILED: {ex.GetType().Name}: {ex.Message}");
                    if (ctx.Verbose)
                    {
                        ctx.Log(ex.ToString());
                    }
                }
            }

            if (ctx.Json)
            {
                if (wanted == "all")
                {
                    ctx.WriteJson(runs);
                }
                else
                {
                    ctx.WriteJson(runs[0]);
                }
            }
            else
            {
                foreach (var done in runs)
                {
                    ctx.Out.WriteLine($"{done.Name}: {done.Paper}");
                    foreach (var c in done.Claims)
                    {
                        ctx.Out.WriteLine($"  [{(c.Reproduced ? "reproduced" : "NOT reproduced")}] {c.Text}");
                        ctx.Out.WriteLine($"      {c.Evidence}");
                    }

                    ctx.Out.WriteLine($"  report: {Path.Combine(done.ReportDir, "report.md")}");
                }
            }

            return failed == 0 ? CliApp.Success : CliApp.InternalFailure;
        });
        repro.Subcommands.Add(run);
    }
}

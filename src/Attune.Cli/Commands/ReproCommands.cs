using System.CommandLine;
using System.Globalization;
using System.Text.Json.Serialization;
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

        var name = new Argument<string>("name") { Description = "A reproduction's name (see 'attune repro list'), several joined by commas, or 'all'." };
        var quick = new Option<bool>("--quick") { Description = "Run at the small scale meant for a laptop and CI." };
        var output = new Option<string>("--out")
        {
            Description = "Folder under which each run writes <UTC time>-<name>/.",
            DefaultValueFactory = _ => "runs",
        }.OutputFolder();
        var precision = new Option<string?>("--precision")
        {
            Description = "fp32 or bf16 for the reproductions that train a model (each picks its own when this is not given, and its report says which it used).",
        };
        var run = new Command("run", "Run one reproduction, or all of them, and write a report.") { name, quick, output, precision };
        app.SetAction(run, async (ctx, ct) =>
        {
            var all = ctx.App.Reproductions;
            var wanted = ctx.Get(name)!;
            IReadOnlyList<IReproduction> selected = wanted == "all" ? all
                : [.. wanted.Split(',', StringSplitOptions.TrimEntries | StringSplitOptions.RemoveEmptyEntries).Distinct(StringComparer.Ordinal).Select(n => ReproductionRunner.Find(all, n))];
            if (selected.Count == 0)
            {
                throw new Core.Errors.AttuneInputException("no reproduction named; see 'attune repro list'");
            }

            // Parsed once here; the reproductions get its canonical name.
            var asked = ctx.Get(precision) is { } p ? Attune.Torch.Models.Precisions.Parse(p) : (Attune.Torch.Models.Precision?)null;
            if (asked == Attune.Torch.Models.Precision.Bf16Pure)
            {
                throw new Core.Errors.AttuneInputException("--precision: reproductions train full weights, so bf16-pure (bfloat16 weights) is refused; use fp32 or bf16");
            }

            var root = ctx.Get(output) ?? "runs";
            var outcomes = new List<ReproductionOutcome>();
            for (var i = 0; i < selected.Count; i++)
            {
                var r = selected[i];
                ctx.Log($"[{i + 1}/{selected.Count}] {r.Name}: {r.Summary}");
                try
                {
                    var done = await ReproductionRunner.RunAsync(r, ctx.Get(quick), ctx.Seed, root, ctx.Err, ct, asked is { } chosen ? Attune.Torch.Models.Precisions.Name(chosen) : null);
                    outcomes.Add(ReproductionOutcome.Completed(done));
                    ctx.Log($"[{i + 1}/{selected.Count}] {r.Name}: {done.Verdicts} in {done.Seconds.ToString("F1", CultureInfo.InvariantCulture)} s -> {done.ReportDir}");
                }
                catch (Exception ex) when (selected.Count > 1 && ex is not OperationCanceledException)
                {
                    // With 'all', one broken reproduction must not hide the others' results.
                    outcomes.Add(ReproductionOutcome.Failed(r, ex.Message));
                    ctx.Log($"[{i + 1}/{selected.Count}] {r.Name}: FAILED: {ex.Message}");
                    if (ctx.Verbose)
                    {
                        ctx.Log(ex.ToString());
                    }
                }
            }

            var runs = outcomes.Where(o => o.Run is not null).Select(o => o.Run!).ToList();
            var failed = outcomes.Count(o => o.Run is null);
            var totals = runs.Aggregate(new VerdictCounts(0, 0, 0), (sum, run) => sum + run.Verdicts);
            if (ctx.Json)
            {
                if (selected.Count > 1)
                {
                    ctx.WriteJson(new ReproductionSummary(totals, runs.Count, failed, outcomes));
                }
                else
                {
                    ctx.WriteJson(runs[0]);
                }
            }
            else
            {
                foreach (var o in outcomes)
                {
                    if (o.Run is not { } done)
                    {
                        ctx.Out.WriteLine($"{o.Name}: FAILED: {o.Error}");
                        continue;
                    }

                    ctx.Out.WriteLine($"{done.Name}: {done.Paper}");
                    foreach (var c in done.Claims)
                    {
                        ctx.Out.WriteLine($"  [{Claim.Words(c.Verdict)}] {c.Text}");
                        ctx.Out.WriteLine($"      {c.Evidence}");
                    }

                    ctx.Out.WriteLine($"  {done.Verdicts}; report: {Path.Combine(done.ReportDir, "report.md")}");
                }

                if (selected.Count > 1)
                {
                    ctx.Out.WriteLine($"claims: {totals}; reproductions: {runs.Count} completed, {failed} failed");
                }
            }

            return failed == 0 ? CliApp.Success : CliApp.InternalFailure;
        });
        repro.Subcommands.Add(run);
    }
}

/// <summary>One reproduction of <c>repro run all</c>: its run, or why it failed.</summary>
public sealed record ReproductionOutcome(
    [property: JsonPropertyName("name")] string Name,
    [property: JsonPropertyName("status")] string Status,
    [property: JsonPropertyName("error"), JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)] string? Error,
    [property: JsonPropertyName("run"), JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)] ReproductionRun? Run)
{
    public static ReproductionOutcome Completed(ReproductionRun run) => new(run.Name, "completed", null, run);

    public static ReproductionOutcome Failed(IReproduction r, string error) => new(r.Name, "failed", error, null);
}

/// <summary>The document <c>repro run all --json</c> writes: totals, then every reproduction with its status.</summary>
public sealed record ReproductionSummary(
    [property: JsonPropertyName("verdicts")] VerdictCounts Verdicts,
    [property: JsonPropertyName("completed")] int Completed,
    [property: JsonPropertyName("failed")] int Failed,
    [property: JsonPropertyName("reproductions")] IReadOnlyList<ReproductionOutcome> Reproductions);

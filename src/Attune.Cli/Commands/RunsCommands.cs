using System.CommandLine;
using System.Globalization;
using Attune.Core.Errors;
using Attune.Core.Reports;

namespace Attune.Cli.Commands;

/// <summary><c>attune runs list|open</c>: the run folders under a runs root, as <c>runs/index.html</c> lists them.</summary>
public sealed class RunsCommands : ICommandModule
{
    public void AddCommands(CliApp app)
    {
        var group = app.AddGroup("runs", "The runs under a runs folder (reproductions, other verbs' reports, training runs), newest first.");
        var root = new Option<string>("--root") { Description = "The runs folder.", DefaultValueFactory = _ => "runs" };

        var list = new Command("list", "List the runs (the table of runs/index.html), newest first, and rewrite index.html.") { root };
        app.SetAction(list, (ctx, ct) =>
        {
            var folder = Root(ctx.Get(root));
            var entries = RunIndex.Scan(folder);
            RunIndex.Write(folder);
            if (ctx.Json)
            {
                ctx.WriteJson(entries);
            }
            else if (entries.Count == 0)
            {
                ctx.Out.WriteLine($"no runs in {folder}");
            }
            else
            {
                foreach (var e in entries)
                {
                    var counts = e.Verdicts is { } v ? $"{v.Reproduced}/{v.NotReproduced}/{v.NotMeasured}" : "-";
                    ctx.Out.WriteLine(string.Create(CultureInfo.InvariantCulture,
                        $"{e.Time:yyyy-MM-dd HH:mm:ss}  {e.Name,-28} {e.Kind,-12} {e.Scale ?? "-",-5}  {counts,-8}  {e.Report}"));
                }

                ctx.Out.WriteLine($"{entries.Count} runs (reproduced/not reproduced/not measured); index: {Path.Combine(folder, RunIndex.FileName)}");
            }

            return Task.FromResult(CliApp.Success);
        });
        group.Subcommands.Add(list);

        var name = new Argument<string?>("name") { Description = "A run's name (a reproduction's, or the part of the folder name after its time); the newest of any name when left out.", Arity = ArgumentArity.ZeroOrOne };
        var open = new Command("open", "Print the path of the newest matching report (nothing is launched).") { name, root };
        app.SetAction(open, (ctx, ct) =>
        {
            var folder = Root(ctx.Get(root));
            var wanted = ctx.Get(name);
            var entries = RunIndex.Scan(folder);
            var match = entries.FirstOrDefault(e => wanted is null || string.Equals(e.Name, wanted, StringComparison.Ordinal))
                        ?? entries.FirstOrDefault(e => wanted is not null && e.Folder.Contains(wanted, StringComparison.Ordinal))
                        ?? throw new AttuneInputException(wanted is null
                            ? $"no runs in {folder}"
                            : $"no run named '{wanted}' in {folder}; names there: {(entries.Count == 0 ? "(none)" : string.Join(", ", entries.Select(e => e.Name).Distinct(StringComparer.Ordinal)))}");
            if (ctx.Json)
            {
                ctx.WriteJson(match);
            }
            else
            {
                ctx.Out.WriteLine(match.Report);
            }

            return Task.FromResult(CliApp.Success);
        });
        group.Subcommands.Add(open);
    }

    private static string Root(string? root)
    {
        var folder = Path.GetFullPath(string.IsNullOrWhiteSpace(root) ? "runs" : root);
        if (File.Exists(folder))
        {
            throw new AttuneInputException("--root is a file; it must be the runs folder", folder);
        }

        if (!Directory.Exists(folder))
        {
            throw new AttuneInputException("--root: no such folder (runs are written there by 'attune repro run')", folder);
        }

        return folder;
    }
}

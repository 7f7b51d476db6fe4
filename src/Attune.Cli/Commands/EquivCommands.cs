using System.CommandLine;
using System.Diagnostics;
using System.Globalization;
using Attune.Core.Errors;
using Attune.Core.Reproductions;
using Attune.Llm;
using Attune.Optimization;
using Microsoft.Extensions.AI;

namespace Attune.Cli.Commands;

/// <summary>
/// <c>attune equiv base | generate | check | bench</c> (EquivaMap: equivalence of LP/MILP
/// formulations) and the <c>equivamap</c> reproduction.
/// </summary>
public sealed class EquivCommands : ICommandModule
{
    public IEnumerable<IReproduction> Reproductions => [new EquivaMapReproduction()];

    public void AddCommands(CliApp app)
    {
        ArgumentNullException.ThrowIfNull(app);
        var group = app.AddGroup("equiv", "EquivaMap: check that two LP/MILP formulations are the same problem (quasi-Karp equivalence).");

        // attune equiv base --count N --out DIR
        var count = new Option<int>("--count") { Description = "How many instances (round robin over families × LP/MILP).", DefaultValueFactory = _ => 20 };
        var baseOut = new Option<string>("--out") { Description = "Folder for the .lp files.", Required = true }.OutputFolder();
        var baseCmd = new Command("base", "Generate base instances of classic families (production, diet, blending, transportation, …) as LP files.") { count, baseOut };
        app.SetAction(baseCmd, (ctx, _) =>
        {
            var n = ctx.Get(count);
            if (n <= 0)
            {
                throw new AttuneInputException($"--count: '{n.ToString(CultureInfo.InvariantCulture)}' is not a positive number");
            }

            var paths = EquivaDataset.WriteBase(ctx.Get(baseOut)!, n, ctx.Seed, ctx.Verbose ? ctx.Err : null);
            if (ctx.Json)
            {
                ctx.WriteJson(new { seed = ctx.Seed, count = paths.Count, files = paths });
            }
            else
            {
                ctx.Out.WriteLine($"{paths.Count} base instances written to {ctx.Get(baseOut)} (seed {ctx.Seed})");
            }

            return Task.FromResult(CliApp.Success);
        });
        group.Subcommands.Add(baseCmd);

        // attune equiv generate --base DIR --out DIR [--transformations ...]
        var baseDir = new Option<string>("--base") { Description = "Folder of .lp/.mps files (e.g. from 'attune equiv base').", Required = true };
        var genOut = new Option<string>("--out") { Description = "Folder for the pairs.", Required = true }.OutputFolder();
        var which = new Option<string[]>("--transformations")
        {
            Description = "Which transformations (default: all): " + string.Join(", ", Transformations.All),
            AllowMultipleArgumentsPerToken = true,
        };
        var generate = new Command("generate", "Apply every transformation to every base formulation; write transformed files, labels and true maps.") { baseDir, genOut, which };
        app.SetAction(generate, (ctx, _) =>
        {
            var names = ctx.Get(which) is { Length: > 0 } w ? w : [.. Transformations.All];
            foreach (var t in names)
            {
                if (!Transformations.All.Contains(t))
                {
                    throw new AttuneInputException($"--transformations: '{t}' is not one of {string.Join(", ", Transformations.All)}");
                }
            }

            var bases = EquivaDataset.ReadBase(ctx.Get(baseDir)!);
            var written = EquivaDataset.Generate(bases, ctx.Get(genOut)!, ctx.Seed, names, ctx.Verbose ? ctx.Err : null);
            if (ctx.Json)
            {
                ctx.WriteJson(new { seed = ctx.Seed, bases = bases.Count, pairs = written, output = ctx.Get(genOut) });
            }
            else
            {
                ctx.Out.WriteLine($"{written} pairs from {bases.Count} base formulations written to {ctx.Get(genOut)} (seed {ctx.Seed})");
            }

            return Task.FromResult(CliApp.Success);
        });
        group.Subcommands.Add(generate);

        // attune equiv check ORIGINAL TRANSFORMED [--mapper auto|structural|llm] [--map FILE]
        var original = new Argument<string>("original") { Description = "The original formulation (.lp or .mps)." };
        var transformed = new Argument<string>("transformed") { Description = "The formulation to compare with it (.lp or .mps)." };
        var mapper = new Option<string>("--mapper")
        {
            Description = "How to find the map: auto (structural, then the LLM when --llm is given), structural or llm.",
            DefaultValueFactory = _ => "auto",
        };
        var mapFile = new Option<string?>("--map") { Description = "A JSON map {\"x\": {\"x_plus\": 1, \"x_minus\": -1}, …} to verify instead of finding one." };
        var optima = new Option<int>("--optima") { Description = "Alternative optima of the transformed formulation to check besides the first.", DefaultValueFactory = _ => 3 };
        var check = new Command("check", "Is TRANSFORMED equivalent to ORIGINAL? Find a linear map and verify it on several optima.") { original, transformed, mapper, mapFile, optima };
        app.SetAction(check, async (ctx, ct) =>
        {
            var m = ctx.Get(mapper) ?? "auto";
            if (!EquivalenceChecker.Mappers.Contains(m))
            {
                throw new AttuneInputException($"--mapper: '{m}' is not one of {string.Join(", ", EquivalenceChecker.Mappers)}");
            }

            var k = ctx.Get(optima);
            if (k < 0)
            {
                throw new AttuneInputException("--optima: must be 0 or more");
            }

            var a = FormulationFile.Read(ctx.Get(original)!);
            var b = FormulationFile.Read(ctx.Get(transformed)!);
            var given = ctx.Get(mapFile) is { } path ? LinearMap.Read(path) : null;
            using var llm = m is "llm" or "auto" && ctx.LlmSpec is { } spec ? LlmEndpoints.Create(spec) : null;
            var clock = Stopwatch.StartNew();
            var report = await EquivalenceChecker.CheckAsync(a, b, m, llm, given, new CheckerOptions { AlternativeOptima = k, Seed = ctx.Seed }, ct);
            var ms = clock.Elapsed.TotalMilliseconds;
            if (ctx.Json)
            {
                ctx.WriteJson(report);
            }
            else
            {
                ctx.Out.WriteLine($"{(report.Equivalent ? "EQUIVALENT" : "NOT EQUIVALENT")} ({report.Verdict}, finder: {report.Finder}, {ms.ToString("F1", CultureInfo.InvariantCulture)} ms)");
                ctx.Out.WriteLine(report.Reason);
                if (report.Mapping is not null)
                {
                    ctx.Out.WriteLine("map: " + LinearMap.Parse(report.Mapping.ToJsonString()));
                }
            }

            return CliApp.Success;
        });
        group.Subcommands.Add(check);

        // attune equiv bench --dataset DIR [--methods ...]
        var dataset = new Option<string>("--dataset") { Description = "A folder made by 'attune equiv generate'.", Required = true };
        var methods = new Option<string[]>("--methods")
        {
            Description = "Methods (default: equivamap-structural value wl declaration, plus equivamap-llm when --llm is given): " + string.Join(", ", EquivaBench.Methods),
            AllowMultipleArgumentsPerToken = true,
        };
        var maxVariables = new Option<int?>("--max-variables") { Description = "Only pairs whose two formulations both have fewer variables than this (at least 1)." }.Range(1, int.MaxValue);
        var bench = new Command("bench", "Run every method on every pair: correct/total per transformation, LP and MILP apart, and time per pair.") { dataset, methods, maxVariables };
        app.SetAction(bench, async (ctx, ct) =>
        {
            var pairs = EquivaDataset.Load(ctx.Get(dataset)!);
            if (ctx.Get(maxVariables) is { } limit)
            {
                pairs = [.. pairs.Where(p => p.Original.Variables.Count < limit && p.Transformed.Variables.Count < limit)];
            }

            var spec = ctx.LlmSpec;
            IReadOnlyList<string> chosen = ctx.Get(methods) is { Length: > 0 } given
                ? [.. given.SelectMany(g => g.Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries))]
                : spec is null ? ["equivamap-structural", "value", "wl", "declaration"] : ["equivamap-structural", "equivamap-llm", "value", "wl", "declaration"];
            using var llm = chosen.Contains("equivamap-llm") && spec is not null ? LlmEndpoints.Create(spec) : null;
            var results = await EquivaBench.RunAsync(pairs, chosen, llm, ctx.Seed, ctx.Err, ct);
            if (ctx.Json)
            {
                ctx.WriteJson(new { dataset = ctx.Get(dataset), pairs = pairs.Count, seed = ctx.Seed, methods = results });
            }
            else
            {
                var kinds = results.SelectMany(r => r.Accuracy.Keys).Distinct().Order(StringComparer.Ordinal).ToList();
                foreach (var kind in kinds)
                {
                    ctx.Out.WriteLine($"{kind}:");
                    var transformations = results.SelectMany(r => r.Accuracy.GetValueOrDefault(kind)?.Keys ?? Enumerable.Empty<string>()).Distinct()
                        .OrderBy(t => Transformations.All.ToList().IndexOf(t)).ToList();
                    ctx.Out.WriteLine("  " + "transformation".PadRight(18) + string.Concat(results.Select(r => r.Method.PadLeft(22))));
                    foreach (var t in transformations)
                    {
                        ctx.Out.WriteLine("  " + t.PadRight(18) + string.Concat(results.Select(r =>
                            (r.Accuracy.GetValueOrDefault(kind)?.GetValueOrDefault(t) is { } c ? $"{c.Correct}/{c.Total}" : "-").PadLeft(22))));
                    }
                }

                foreach (var r in results)
                {
                    ctx.Out.WriteLine(string.Create(CultureInfo.InvariantCulture,
                        $"{r.Method}: {r.Correct}/{r.Total} correct; per pair: median {r.Time!.Median:F2} ms, p95 {r.Time.P95:F2} ms, mean {r.Time.Mean:F2} ms"));
                }
            }

            return CliApp.Success;
        });
        group.Subcommands.Add(bench);
    }
}

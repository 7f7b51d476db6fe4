using System.CommandLine;
using System.Globalization;
using Attune.Core.Reports;
using Attune.Core.Reproductions;
using Attune.Interaction;
using Attune.Interaction.Reproductions;

namespace Attune.Cli.Commands;

/// <summary>
/// <c>attune interact run SCENARIO.json [--compare RECOMMENDER] [--out DIR]</c> and
/// <c>attune interact parts</c>; registers the four interaction reproductions.
/// </summary>
public sealed class InteractCommands : ICommandModule
{
    public IEnumerable<IReproduction> Reproductions =>
    [
        new PolarizationReproduction(),
        new HomogenizationReproduction(),
        new ExposureGameReproduction(),
        new SatiationReproduction(),
    ];

    public void AddCommands(CliApp app)
    {
        var group = app.AddGroup("interact", "Simulate how recommenders, users and creators shape one another (formal interaction models).");
        AddRun(app, group);
        AddParts(app, group);
    }

    private static void AddRun(CliApp app, Command group)
    {
        var file = new Argument<string>("scenario") { Description = "A scenario JSON file (see examples/interaction/ and docs/interaction.md)." };
        var compare = new Option<string?>("--compare")
        {
            Description = "Also run a counterfactual recommender with common random numbers: a type name (e.g. oracle) or a JSON object. Default: the scenario's \"compare\", if any.",
        };
        var output = new Option<string>("--out") { Description = "Folder under which the run writes <UTC time>-interact-<name>/.", DefaultValueFactory = _ => "runs" }.OutputFolder();
        var noReport = new Option<bool>("--no-report") { Description = "Do not write a report folder." };
        var command = new Command("run", "Run a scenario: metric series, plots, and optionally a counterfactual.") { file, compare, output, noReport };
        group.Subcommands.Add(command);
        app.SetAction(command, async (ctx, ct) =>
        {
            var path = ctx.Get(file)!;
            var scenario = ScenarioReader.Load(path);
            if (ctx.Parse.GetValue(ctx.App.SeedOption) is { } seed)
            {
                scenario.Seed = seed;
            }

            var counter = scenario.Compare;
            string? counterDescription = scenario.Description.GetValueOrDefault("compare");
            if (ctx.Get(compare) is { } spec && !string.IsNullOrWhiteSpace(spec))
            {
                (counter, counterDescription) = ScenarioReader.ParseRecommender(spec, "--compare");
                scenario.Description["compare"] = counterDescription;
            }

            var every = Math.Max(1, scenario.Horizon / 10);
            void Progress(string label, int t)
            {
                if ((t + 1) % every == 0)
                {
                    ctx.Log(string.Create(CultureInfo.InvariantCulture, $"{label}: step {t + 1}/{scenario.Horizon}"));
                }
            }

            var factual = await Task.Run(() => Simulation.Run(scenario, null, ct, t => Progress(scenario.Name, t)), ct);
            SimulationResult? counterfactual = null;
            if (counter is not null)
            {
                counterfactual = await Task.Run(() => Simulation.Run(scenario, counter, ct, t => Progress("counterfactual", t)), ct);
            }

            string? dir = null;
            if (!ctx.Get(noReport))
            {
                var root = ctx.Get(output) ?? "runs";
                var name = "interact-" + string.Concat(scenario.Name.Select(c => char.IsLetterOrDigit(c) || c is '-' or '_' ? c : '-'));
                dir = Path.Combine(root, ReproductionRunner.FolderName(DateTime.UtcNow, name));
                for (var i = 2; Directory.Exists(dir); i++)
                {
                    dir = Path.Combine(root, ReproductionRunner.FolderName(DateTime.UtcNow, name) + $"-{i}");
                }

                var report = new Report(dir, $"interact run: {scenario.Name}");
                ScenarioReport.Write(report, scenario, factual, counterfactual);
                report.Save();
                dir = report.Directory;
            }

            if (ctx.Json)
            {
                ctx.WriteJson(new
                {
                    scenario = scenario.Name,
                    seed = scenario.Seed,
                    users = scenario.Users,
                    items = scenario.Items,
                    horizon = scenario.Horizon,
                    parts = scenario.Description,
                    factual = Summary(factual),
                    counterfactual = counterfactual is null ? null : Summary(counterfactual),
                    report_dir = dir,
                });
            }
            else
            {
                ctx.Out.WriteLine(string.Create(CultureInfo.InvariantCulture,
                    $"{scenario.Name}: {scenario.Users} users x {scenario.Horizon} steps, seed {scenario.Seed}, {factual.Seconds:F2} s ({factual.UserStepsPerSecond:N0} user-steps/s)"));
                var width = factual.Series.Keys.Select(k => k.Length).DefaultIfEmpty(6).Max();
                ctx.Out.WriteLine($"{"metric".PadRight(width)}  {factual.Recommender,14}{(counterfactual is null ? "" : $"  {counterfactual.Recommender,14}")}");
                foreach (var (key, values) in factual.Series)
                {
                    var line = $"{key.PadRight(width)}  {values[^1].ToString("G6", CultureInfo.InvariantCulture),14}";
                    if (counterfactual is not null)
                    {
                        line += $"  {counterfactual.Series[key][^1].ToString("G6", CultureInfo.InvariantCulture),14}";
                    }

                    ctx.Out.WriteLine(line);
                }

                if (dir is not null)
                {
                    ctx.Out.WriteLine($"report: {Path.Combine(dir, "report.md")}");
                }
            }

            return CliApp.Success;
        });
    }

    private static object Summary(SimulationResult r) => new
    {
        recommender = r.Recommender,
        seconds = Math.Round(r.Seconds, 4),
        user_steps_per_second = Math.Round(r.UserStepsPerSecond),
        final = r.Series.ToDictionary(kv => kv.Key, kv => kv.Value[^1]),
        series = r.Series,
    };

    private static void AddParts(CliApp app, Command group)
    {
        var command = new Command("parts", "List the part types a scenario can name.");
        group.Subcommands.Add(command);
        app.SetAction(command, (ctx, _) =>
        {
            var parts = new SortedDictionary<string, string[]>(StringComparer.Ordinal)
            {
                ["user_model"] = ScenarioReader.UserModels,
                ["recommender"] = ScenarioReader.Recommenders,
                ["creators"] = ScenarioReader.CreatorModels,
                ["metrics"] = ScenarioReader.MetricNames,
            };
            if (ctx.Json)
            {
                ctx.WriteJson(parts);
            }
            else
            {
                foreach (var (kind, names) in parts)
                {
                    ctx.Out.WriteLine($"{kind}: {string.Join(", ", names)}");
                }
            }

            return Task.FromResult(CliApp.Success);
        });
    }
}

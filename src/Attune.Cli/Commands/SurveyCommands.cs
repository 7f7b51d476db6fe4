using System.CommandLine;
using System.Globalization;
using System.Text.Json;
using Attune.Core.Errors;
using Attune.Core.IO;
using Attune.Core.Reports;
using Attune.Core.Reproductions;
using Attune.Core.Statistics;
using Attune.Llm;
using Attune.Surveys;
using Attune.Surveys.Data;
using Attune.Surveys.Planning;
using Attune.Surveys.Simulation;
using Attune.Surveys.Testing;
using Microsoft.Extensions.AI;

namespace Attune.Cli.Commands;

/// <summary>
/// <c>attune survey test | power | simulate</c> (Attune.Surveys) and the <c>survey-misalignment</c>
/// reproduction. In <c>survey test</c>, <c>--llm FILE</c> names the file of LLM answers (the global
/// <c>--llm</c> option, read as a path there); in <c>survey simulate</c> it is the model spec.
/// </summary>
public sealed class SurveyCommands : ICommandModule
{
    public IEnumerable<IReproduction> Reproductions => [new SurveyMisalignmentReproduction()];

    public void AddCommands(CliApp app)
    {
        ArgumentNullException.ThrowIfNull(app);
        var survey = app.AddGroup("survey", "Test whether LLM-simulated survey answers match human sub-populations (Hong, Caldas & Leqi 2025).");
        survey.Subcommands.Add(TestCommand(app));
        survey.Subcommands.Add(PowerCommand(app));
        survey.Subcommands.Add(SimulateCommand(app));
    }

    private static Command TestCommand(CliApp app)
    {
        var human = new Option<string>("--human") { Description = "Human answers: JSON lines, long CSV (question,group,option,count) or an OpinionQA folder.", Required = true };
        var stat = new Option<string>("--stat") { Description = "chi2 (Pearson's X² on the 2xK table) or ks (max CDF gap over ordered options).", DefaultValueFactory = _ => "chi2" };
        var permutations = new Option<int>("--permutations") { Description = "Permutations per test, B; p = (1 + #{T* >= T}) / (B + 1).", DefaultValueFactory = _ => 10_000 };
        var asymptotic = new Option<bool>("--asymptotic") { Description = "Use the asymptotic chi-square p-value instead of permutations (chi2 only)." };
        var alpha = new Option<double>("--alpha") { Description = "Level for the adjusted p-values.", DefaultValueFactory = _ => 0.05 };
        var correction = new Option<string>("--correction") { Description = "bh, by, holm or bonferroni; applied within each group and over all tests.", DefaultValueFactory = _ => "bh" };
        var bootstrap = new Option<int>("--bootstrap") { Description = "Bootstrap resamples for the effect-size intervals (0: none).", DefaultValueFactory = _ => 500 };
        var keepRefusals = new Option<bool>("--keep-refusals") { Description = "Keep refusal options (dropped by default)." };
        var reportDir = new Option<string?>("--report") { Description = "Write a report (report.md, metrics.json, per-group bar chart, per-question heat map) into this folder." }.OutputFolder();
        var command = new Command("test", "Per question x group: permutation test of human vs LLM answers, effect sizes, corrections. The LLM answers file is given with --llm FILE.")
        {
            human, stat, permutations, asymptotic, alpha, correction, bootstrap, keepRefusals, reportDir,
        };
        app.SetAction(command, (ctx, ct) => Task.Run(() =>
        {
            var llmPath = ctx.Get(ctx.App.LlmOption);
            if (string.IsNullOrWhiteSpace(llmPath))
                throw new AttuneInputException("attune survey test needs the LLM answers: --llm FILE");
            var options = new SurveyTestOptions
            {
                Statistic = ParseStat(ctx.Get(stat)!),
                Permutations = Positive(ctx.Get(permutations), "--permutations"),
                Asymptotic = ctx.Get(asymptotic),
                Alpha = Probability(ctx.Get(alpha), "--alpha"),
                Correction = ParseCorrection(ctx.Get(correction)!),
                BootstrapResamples = NonNegative(ctx.Get(bootstrap), "--bootstrap"),
                Seed = ctx.Seed,
            };
            if (options.Asymptotic && options.Statistic != SurveyStatistic.ChiSquare)
                throw new AttuneInputException("--asymptotic: the asymptotic p-value exists for --stat chi2 only");
            var humanAnswers = SurveyReader.Read(ctx.Get(human)!);
            var llmAnswers = SurveyReader.Read(llmPath);
            var tables = SurveyPairing.Pair(humanAnswers, llmAnswers, ctx.Get(keepRefusals), out int unmatched);
            if (tables.Count == 0)
                throw new AttuneInputException("no question x group appears in both files", llmPath);
            if (!ctx.Json)
                ctx.Log($"testing {tables.Count} question x group pairs ({unmatched} human tables without LLM answers skipped)");
            var result = MisalignmentTest.Run(tables, options);

            string? dir = ctx.Get(reportDir);
            if (!string.IsNullOrWhiteSpace(dir))
            {
                var report = new Report(dir, "Survey misalignment test");
                SurveyReportWriter.Write(report, result, options);
                report.Metric("results", result.Results).Metric("summary", result.Summary).Metric("overall", result.Overall).Metric("seed", options.Seed);
                report.Save();
                ctx.Log($"report: {Path.Combine(report.Directory, "report.md")}");
            }

            if (ctx.Json)
            {
                ctx.WriteJson(new
                {
                    results = result.Results,
                    summary = result.Summary,
                    overall = result.Overall,
                    settings = new
                    {
                        statistic = ctx.Get(stat),
                        permutations = options.Asymptotic ? 0 : options.Permutations,
                        asymptotic = options.Asymptotic,
                        alpha = options.Alpha,
                        correction = ctx.Get(correction),
                        bootstrap = options.BootstrapResamples,
                        seed = options.Seed,
                        unmatched_human_tables = unmatched,
                    },
                });
            }
            else
            {
                WriteTable(ctx.Out, [["GROUP", "QUESTIONS", "REJECTED", "SHARE", "MEAN TV"],
                    .. result.Summary.Append(result.Overall).Select(s => new[]
                    {
                        s.Group, I(s.Questions), I(s.Rejected), F(s.ShareRejected), F(s.MeanTvDistance),
                    })]);
                ctx.Out.WriteLine();
                ctx.Out.WriteLine($"{result.Overall.Rejected} of {result.Overall.Questions} question x group tests rejected after {ctx.Get(correction)} over all tests at alpha {F(options.Alpha)}; seed {options.Seed}");
            }

            return CliApp.Success;
        }, ct));
        return command;
    }

    private static Command PowerCommand(CliApp app)
    {
        var tv = new Option<double>("--tv") { Description = "Total-variation distance to detect.", DefaultValueFactory = _ => 0.1 };
        var alpha = new Option<double>("--alpha") { Description = "Per-test level (use alpha / number of tests for a Bonferroni plan).", DefaultValueFactory = _ => 0.05 };
        var power = new Option<double>("--power") { Description = "Target power.", DefaultValueFactory = _ => 0.8 };
        var nHuman = new Option<int>("--n-human") { Description = "Human answers per question and group.", DefaultValueFactory = _ => 500 };
        var nLlm = new Option<string>("--n-llm") { Description = "LLM sample sizes to try, comma-separated.", DefaultValueFactory = _ => "25,50,100,200,400,800,1600" };
        var baseline = new Option<string>("--baseline") { Description = "The human answer distribution, comma-separated (normalised).", DefaultValueFactory = _ => "0.2,0.2,0.2,0.2,0.2" };
        var replicates = new Option<int>("--replicates") { Description = "Simulated tests per sample size.", DefaultValueFactory = _ => 400 };
        var permutations = new Option<int>("--permutations") { Description = "Permutations per simulated test.", DefaultValueFactory = _ => 999 };
        var stat = new Option<string>("--stat") { Description = "chi2 or ks.", DefaultValueFactory = _ => "chi2" };
        var asymptotic = new Option<bool>("--asymptotic") { Description = "Asymptotic chi-square p-values (fast)." };
        var reportDir = new Option<string?>("--report") { Description = "Write report.md with the power curve into this folder." }.OutputFolder();
        var command = new Command("power", "How many LLM samples per question are needed to detect a TV distance at a given alpha and power, by simulation.")
        {
            tv, alpha, power, nHuman, nLlm, baseline, replicates, permutations, stat, asymptotic, reportDir,
        };
        app.SetAction(command, (ctx, ct) => Task.Run(() =>
        {
            var options = new PowerOptions
            {
                TvDistance = ctx.Get(tv),
                Alpha = Probability(ctx.Get(alpha), "--alpha"),
                TargetPower = Probability(ctx.Get(power), "--power"),
                HumanSamples = Positive(ctx.Get(nHuman), "--n-human"),
                LlmSamples = [.. NonEmpty(Numbers(ctx.Get(nLlm)!, "--n-llm"), "--n-llm").Select(x => x == Math.Floor(x) && x is >= 1 and <= 10_000_000 ? (int)x : throw new AttuneInputException($"--n-llm: '{F(x)}' is not a whole number from 1 to 10000000"))],
                Baseline = Numbers(ctx.Get(baseline)!, "--baseline"),
                Replicates = Positive(ctx.Get(replicates), "--replicates"),
                Permutations = Positive(ctx.Get(permutations), "--permutations"),
                Statistic = ParseStat(ctx.Get(stat)!),
                Asymptotic = ctx.Get(asymptotic),
                Seed = ctx.Seed,
            };
            if (options.Baseline.Length < 2 || options.Baseline.Any(x => x < 0) || options.Baseline.Sum() <= 0)
                throw new AttuneInputException("--baseline: needs at least 2 non-negative numbers with a positive sum");
            double room = 1 - options.Baseline[^1] / options.Baseline.Sum();
            if (!(options.TvDistance > 0) || options.TvDistance > room)
                throw new AttuneInputException(string.Create(CultureInfo.InvariantCulture, $"--tv: {options.TvDistance} must lie in (0, {room:0.###}] for this baseline (the shift moves mass onto the last option)"));
            if (options.Asymptotic && options.Statistic != SurveyStatistic.ChiSquare)
                throw new AttuneInputException("--asymptotic: the asymptotic p-value exists for --stat chi2 only");
            var curve = PowerAnalysis.Simulate(options, ctx.Json ? null : ctx.Log);

            string? dir = ctx.Get(reportDir);
            if (!string.IsNullOrWhiteSpace(dir))
            {
                var report = new Report(dir, "Survey power analysis");
                report.Paragraph(string.Create(CultureInfo.InvariantCulture,
                    $"Detecting TV = {options.TvDistance} at alpha = {options.Alpha} with {options.HumanSamples} human answers; {options.Replicates} simulated tests per point; seed {options.Seed}."));
                report.LinePlot("power-curve", "Power vs LLM samples per question", "LLM samples per question", "power",
                [
                    new Series("power", [.. curve.Points.Select(p => (double)p.NLlm)], [.. curve.Points.Select(p => p.Power)]),
                    new Series($"target {F(options.TargetPower)}", [.. curve.Points.Select(p => (double)p.NLlm)], [.. curve.Points.Select(_ => options.TargetPower)]),
                ]);
                report.Table(["n LLM", "power", "95% CI"], curve.Points.Select(p => (IReadOnlyList<string>)[I(p.NLlm), F(p.Power), $"[{F(p.PowerInterval[0])}, {F(p.PowerInterval[1])}]"]));
                report.Metric("curve", curve);
                report.Save();
                ctx.Log($"report: {Path.Combine(report.Directory, "report.md")}");
            }

            if (ctx.Json)
            {
                ctx.WriteJson(curve);
            }
            else
            {
                WriteTable(ctx.Out, [["N_LLM", "POWER", "95% CI"], .. curve.Points.Select(p => new[] { I(p.NLlm), F(p.Power), $"[{F(p.PowerInterval[0])}, {F(p.PowerInterval[1])}]" })]);
                ctx.Out.WriteLine();
                ctx.Out.WriteLine(curve.RequiredNLlm is { } n
                    ? $"about {n} LLM samples per question reach power {F(options.TargetPower)} against TV {F(options.TvDistance)} at alpha {F(options.Alpha)}"
                    : $"power {F(options.TargetPower)} is not reached at the sample sizes tried; try larger --n-llm");
            }

            return CliApp.Success;
        }, ct));
        return command;
    }

    private static Command SimulateCommand(CliApp app)
    {
        var questions = new Option<string>("--questions") { Description = "Questions: JSON lines {question, text, options[, refusals]} or an OpinionQA folder (info.csv).", Required = true };
        var groups = new Option<string>("--groups") { Description = "Groups to simulate, comma-separated, e.g. RACE=Black,RACE=White.", Required = true };
        var samples = new Option<int>("--samples") { Description = "Answers per question x group x persona style (with --logprobs: the sample size the probabilities stand for).", DefaultValueFactory = _ => 50 };
        var style = new Option<string>("--style") { Description = "Persona prompt styles, comma-separated: qa, bio, portray.", DefaultValueFactory = _ => "qa" };
        var retries = new Option<int>("--retries") { Description = "Follow-ups after an unparseable reply.", DefaultValueFactory = _ => 2 };
        var temperature = new Option<double>("--temperature") { Description = "Sampling temperature.", DefaultValueFactory = _ => 1.0 };
        var logprobs = new Option<bool>("--logprobs") { Description = "Option probabilities from the first token's log-probs, where the endpoint returns them (else sample)." };
        var concurrency = new Option<int>("--concurrency") { Description = "Calls in flight at once.", DefaultValueFactory = _ => 4 };
        var timeout = new Option<double>("--timeout") { Description = "Seconds per call before it is retried.", DefaultValueFactory = _ => 120 };
        var output = new Option<string>("--out") { Description = "Where to write the LLM answers (JSON lines, the format 'survey test --llm' reads).", DefaultValueFactory = _ => "llm-answers.jsonl" }.OutputFile();
        var record = new Option<string?>("--record") { Description = "Also append every exchange to this log (replay it later with --llm replay:FILE)." };
        var command = new Command("simulate", "Ask a language model the questions as a member of each group; write the answers as JSON lines.")
        {
            questions, groups, samples, style, retries, temperature, logprobs, concurrency, timeout, output, record,
        };
        app.SetAction(command, async (ctx, ct) =>
        {
            var spec = ctx.LlmSpec ?? throw new AttuneInputException("attune survey simulate needs a language model: pass --llm SPEC or set ATTUNE_LLM (" + LlmSpec.SyntaxHintText + ")");
            var qs = SurveyQuestion.Read(ctx.Get(questions)!);
            var gs = ctx.Get(groups)!.Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries);
            if (gs.Length == 0) throw new AttuneInputException("--groups: no group given");
            var styles = ctx.Get(style)!.Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries).Select(PersonaPrompts.ParseStyle).Distinct().ToList();
            if (styles.Count == 0) throw new AttuneInputException("--style: no style given");
            double seconds = ctx.Get(timeout);
            if (!(seconds > 0)) throw new AttuneInputException("--timeout: must be a positive number of seconds");
            var options = new SimulationOptions
            {
                Samples = Positive(ctx.Get(samples), "--samples"),
                Styles = styles,
                MaxRetries = NonNegative(ctx.Get(retries), "--retries"),
                Temperature = ctx.Get(temperature),
                LogProbs = ctx.Get(logprobs),
                Concurrency = Positive(ctx.Get(concurrency), "--concurrency"),
                Seed = ctx.Seed,
            };

            var builder = LlmEndpoints.Create(spec).AsBuilder();
            string? recordPath = ctx.Get(record);
            if (!string.IsNullOrWhiteSpace(recordPath)) builder = builder.UseRecording(recordPath);
            bool replay = spec.StartsWith("replay:", StringComparison.OrdinalIgnoreCase);
            if (!replay) builder = builder.UseRetry(3).UseTimeout(TimeSpan.FromSeconds(seconds));
            using var client = builder.Use(inner => new CaptureChatClient(inner)).Build();

            var simulator = new SurveySimulator(client, options);
            var answers = await simulator.RunAsync(qs, gs, ctx.Json ? null : ctx.Log, ct);
            string outPath = ctx.Get(output)!;
            var lines = string.Concat(answers.Select(a => JsonSerializer.Serialize(a, JsonLines.Options) + "\n"));
            AtomicFile.WriteAllText(outPath, lines);

            int unparseable = answers.Sum(a => a.Unparseable);
            if (ctx.Json)
            {
                ctx.WriteJson(new
                {
                    llm = spec,
                    output = Path.GetFullPath(outPath),
                    questions = qs.Count,
                    groups = gs,
                    styles = styles.Select(s => s.ToString().ToLowerInvariant()),
                    samples = options.Samples,
                    records = answers.Select(a => new
                    {
                        question = a.Question,
                        group = a.Group,
                        persona = a.Persona,
                        method = a.Method,
                        n = a.Answers?.Count ?? a.N,
                        unparseable = a.Unparseable,
                        retries = a.Retries,
                    }),
                    unparseable,
                    retries = answers.Sum(a => a.Retries),
                });
            }
            else
            {
                ctx.Out.WriteLine($"{answers.Count} question x group x persona records -> {outPath}");
                ctx.Out.WriteLine($"{answers.Count(a => a.Method == "logprobs")} from log-probs, {answers.Count(a => a.Method == "sampled")} sampled; {unparseable} unparseable answers, {answers.Sum(a => a.Retries)} follow-ups");
            }

            return CliApp.Success;
        });
        return command;
    }

    internal static SurveyStatistic ParseStat(string text) => text.Trim().ToLowerInvariant() switch
    {
        "chi2" or "chisq" or "chi-square" => SurveyStatistic.ChiSquare,
        "ks" => SurveyStatistic.KolmogorovSmirnov,
        _ => throw new AttuneInputException($"--stat: unknown statistic '{text}' (known: chi2, ks)"),
    };

    internal static PAdjustMethod ParseCorrection(string text) => text.Trim().ToLowerInvariant() switch
    {
        "bh" => PAdjustMethod.BenjaminiHochberg,
        "by" => PAdjustMethod.BenjaminiYekutieli,
        "holm" => PAdjustMethod.Holm,
        "bonferroni" => PAdjustMethod.Bonferroni,
        _ => throw new AttuneInputException($"--correction: unknown correction '{text}' (known: bh, by, holm, bonferroni)"),
    };

    private static int Positive(int value, string name) =>
        value >= 1 ? value : throw new AttuneInputException($"{name}: {value} must be at least 1");

    private static int NonNegative(int value, string name) =>
        value >= 0 ? value : throw new AttuneInputException($"{name}: {value} cannot be negative");

    private static double Probability(double value, string name) =>
        value > 0 && value < 1 ? value : throw new AttuneInputException($"{name}: {value.ToString(CultureInfo.InvariantCulture)} must lie strictly between 0 and 1");

    private static double[] Numbers(string text, string name) =>
        [.. text.Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries).Select(s =>
            double.TryParse(s, NumberStyles.Float, CultureInfo.InvariantCulture, out var x) && double.IsFinite(x)
                ? x : throw new AttuneInputException($"{name}: '{s}' is not a number"))];

    private static double[] NonEmpty(double[] values, string name) =>
        values.Length > 0 ? values : throw new AttuneInputException($"{name}: expected comma-separated numbers, got none");

    private static string F(double x) => x.ToString("0.###", CultureInfo.InvariantCulture);

    private static string I(int x) => x.ToString(CultureInfo.InvariantCulture);

    private static void WriteTable(TextWriter output, IReadOnlyList<string[]> rows)
    {
        var widths = Enumerable.Range(0, rows[0].Length).Select(i => rows.Max(r => r[i].Length)).ToArray();
        foreach (var row in rows)
            output.WriteLine(string.Join("  ", row.Select((cell, i) => i == row.Length - 1 ? cell : cell.PadRight(widths[i]))).TrimEnd());
    }
}

using System.CommandLine;
using System.Diagnostics;
using System.Globalization;
using Attune.Bandits;
using Attune.Core.Errors;
using Attune.Core.Reproductions;

namespace Attune.Cli.Commands;

/// <summary><c>attune bandit simulate|analyze|bench</c> and the <c>bandit-preference-dynamics</c> reproduction.</summary>
public sealed class BanditCommands : ICommandModule
{
    public IEnumerable<IReproduction> Reproductions => [new PreferenceDynamicsReproduction()];

    public void AddCommands(CliApp app)
    {
        var bandit = app.AddGroup("bandit", "Bandit policies, simulations and tests of whether preferences stay fixed.");

        var policy = new Option<string>("--policy")
        {
            Description = $"Policy, or several separated by ';' (NAME or NAME:key=value,...). Known: {string.Join(", ", Policies.Names)}.",
            DefaultValueFactory = _ => "ucb1",
        };
        var env = new Option<string>("--env") { Description = $"Environment: {string.Join(", ", Environments.Names)}.", DefaultValueFactory = _ => "bernoulli" };
        var arms = new Option<int>("--arms") { Description = "Number of arms (1 to 1000).", DefaultValueFactory = _ => 5 }.Range(1, 1000);
        var rounds = new Option<int>("--rounds") { Description = "Rounds per run.", DefaultValueFactory = _ => 1000 }.Range(1, 10_000_000);
        var runs = new Option<int>("--runs") { Description = "Independent seeded runs (played in parallel).", DefaultValueFactory = _ => 100 }.Range(1, 100_000);
        var curve = new Option<bool>("--curve") { Description = "With --json, include the per-round mean curves." };
        var simulate = new Command("simulate", "Simulate policies on an environment; print regret and enjoyment over runs.") { policy, env, arms, rounds, runs, curve };
        app.SetAction(simulate, (ctx, ct) =>
        {
            int k = ctx.Get(arms), t = ctx.Get(rounds), n = ctx.Get(runs);
            var specs = (ctx.Get(policy) ?? "ucb1").Split(';', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries);
            if (specs.Length == 0)
            {
                throw new AttuneInputException($"--policy '{ctx.Get(policy)}': expected at least one policy (NAME or NAME:key=value, separated by ';')");
            }

            foreach (var spec in specs)
            {
                _ = Policies.Create(spec, k, t);
            }

            _ = Environments.Create(ctx.Get(env) ?? "bernoulli", k, ctx.Seed);
            var results = new List<SimulationResult>();
            foreach (var spec in specs)
            {
                ctx.Log($"simulating {spec} on {ctx.Get(env)}: {k} arms, {t} rounds, {n} runs, seed {ctx.Seed}");
                results.Add(Simulator.Run(spec, ctx.Get(env) ?? "bernoulli", k, t, n, ctx.Seed, ct));
            }

            if (ctx.Json)
            {
                var withCurves = ctx.Get(curve);
                ctx.WriteJson(results.Select(r => new
                {
                    r.Policy, r.Environment, r.Arms, r.Rounds, r.Runs, r.Seed,
                    mean_final_regret = r.MeanFinalRegret, final_regret_se = r.FinalRegretSe,
                    mean_total_reward = r.MeanTotalReward, total_reward_se = r.TotalRewardSe,
                    arm_share = r.ArmShare,
                    mean_cumulative_regret = withCurves ? r.MeanCumulativeRegret : null,
                    mean_reward = withCurves ? r.MeanReward : null,
                }));
            }
            else
            {
                ctx.Out.WriteLine($"{"policy",-36} {"regret",10} {"+-se",8} {"reward",10} {"+-se",8}");
                foreach (var r in results)
                {
                    ctx.Out.WriteLine(string.Create(CultureInfo.InvariantCulture,
                        $"{r.Policy,-36} {r.MeanFinalRegret,10:F2} {r.FinalRegretSe,8:F2} {r.MeanTotalReward,10:F2} {r.TotalRewardSe,8:F2}"));
                }
            }

            return Task.FromResult(CliApp.Success);
        });
        bandit.Subcommands.Add(simulate);

        var file = new Argument<string>("responses") { Description = "The study server's CSV export (participant, condition, round, arm, rating, ...)." };
        var permutations = new Option<int>("--permutations") { Description = "Permutations for the pooled tests (99 to 1000000).", DefaultValueFactory = _ => 1999 }.Range(99, 1_000_000);
        var alpha = new Option<double>("--alpha") { Description = "Level of the tests (above 0, below 1).", DefaultValueFactory = _ => 0.05 }.Above(0, 0.999);
        var analyze = new Command("analyze", "Test whether participants' preferences stayed fixed; per-condition enjoyment.") { file, permutations, alpha };
        app.SetAction(analyze, (ctx, _) =>
        {
            var path = ctx.Get(file)!;
            var responses = ResponseCsv.Read(path);
            if (responses.Count == 0)
            {
                throw new AttuneInputException("no ratings in the file", path);
            }

            var result = PreferenceAnalysis.Analyze(responses, ctx.Seed, ctx.Get(permutations), ctx.Get(alpha));
            if (ctx.Json)
            {
                ctx.WriteJson(result);
                return Task.FromResult(CliApp.Success);
            }

            var o = ctx.Out;
            o.WriteLine($"{result.Participants} participants, {result.Ratings} ratings, {result.Trends.Count} participant-arm series with 3+ ratings (seed {result.Seed})");
            o.WriteLine();
            o.WriteLine($"{"condition",-24} {"n",4} {"mean rating",12} {"95% CI",20}");
            foreach (var e in result.Enjoyment)
            {
                o.WriteLine(string.Create(CultureInfo.InvariantCulture, $"{e.Condition,-24} {e.Participants,4} {e.MeanRating,12:F2} {(e.Lower is null ? "(one participant)" : $"[{e.Lower:F2}, {e.Upper:F2}]"),20}"));
            }

            o.WriteLine();
            o.WriteLine($"fixed preferences {(result.Verdict.Rejected ? "REJECTED" : "not rejected")} at alpha {result.Verdict.Alpha.ToString(CultureInfo.InvariantCulture)}:");
            foreach (var line in result.Verdict.Evidence)
            {
                o.WriteLine($"  - {line}");
            }

            return Task.FromResult(CliApp.Success);
        });
        bandit.Subcommands.Add(analyze);

        var seconds = new Option<double>("--seconds") { Description = "Seconds per policy (above 0, at most 3600).", DefaultValueFactory = _ => 1 }.Above(0, 3600);
        var bench = new Command("bench", "Bandit decisions (select + update) per second on one core, per policy.") { arms, seconds };
        app.SetAction(bench, (ctx, ct) =>
        {
            var k = ctx.Get(arms);
            var names = Policies.Names.Where(n => n != "self-selected").ToList();
            ctx.Log(string.Create(CultureInfo.InvariantCulture, $"bench: {names.Count} policies, {ctx.Get(seconds)} s each, {k} arms (Ctrl-C stops it)"));
            var rows = new List<object>();
            foreach (var name in names)
            {
                ct.ThrowIfCancellationRequested();
                var rate = DecisionsPerSecond(name, k, ctx.Get(seconds), ctx.Seed, ct);
                rows.Add(new { policy = name, arms = k, decisions_per_second = Math.Round(rate) });
                if (!ctx.Json)
                {
                    ctx.Out.WriteLine(string.Create(CultureInfo.InvariantCulture, $"{name,-24} {rate,14:N0} decisions/s (one thread, {k} arms)"));
                }
            }

            if (ctx.Json)
            {
                ctx.WriteJson(rows);
            }

            return Task.FromResult(CliApp.Success);
        });
        bandit.Subcommands.Add(bench);
    }

    /// <summary>
    /// Select-and-update decisions per second on one thread, Bernoulli rewards, policy restarted every
    /// 1000 rounds; <paramref name="ct"/> is observed every 1000 decisions (well under a millisecond).
    /// </summary>
    internal static double DecisionsPerSecond(string policyName, int arms, double seconds, int seed, CancellationToken ct = default)
    {
        var rng = new Random(seed);
        var env = new BernoulliEnvironment(Environments.SpreadMeans(arms, seed));
        long decisions = 0;
        var clock = Stopwatch.StartNew();
        while (clock.Elapsed.TotalSeconds < seconds)
        {
            ct.ThrowIfCancellationRequested();
            var policy = Policies.Create(policyName, arms, 1000);
            for (var t = 0; t < 1000; t++)
            {
                var arm = policy.SelectArm(rng);
                policy.Update(arm, env.Pull(arm, rng));
            }

            decisions += 1000;
        }

        return decisions / clock.Elapsed.TotalSeconds;
    }
}

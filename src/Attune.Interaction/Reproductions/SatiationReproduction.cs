using System.Globalization;
using Attune.Core.Reports;
using Attune.Core.Reproductions;

namespace Attune.Interaction.Reproductions;

/// <summary>
/// Rebounding bandits (Leqi et al. 2021): K arms (topics) with base rewards b_k and identical
/// satiation dynamics s_{k,t+1} = γ(s_{k,t} + 1[a_t = k]), reward b_k − λ s_{k,t}. The claim: when
/// γ and λ are shared, the greedy policy that pulls the arm with the highest current reward (and so
/// cycles through arms) is optimal, beating always pulling the arm with the best base reward. The
/// simulator runs both policies; an exhaustive search over every arm sequence of a short horizon
/// gives the optimum to compare with.
/// </summary>
public sealed class SatiationReproduction : IReproduction
{
    public string Name => "interaction-satiation";

    public string Paper =>
        "Leqi, Kılınç-Karzan, Lipton, Montgomery 2021 (Rebounding bandits for modeling satiation effects, NeurIPS); surveyed in Dean, Dong, Jagadeesan, Leqi 2024 (arXiv 2404.12366)";

    public string Summary =>
        "Identical deterministic satiation dynamics: greedy on the current reward is optimal and beats always pulling the best base arm.";

    public Task<ReproductionResult> RunAsync(ReproductionContext context, CancellationToken cancellationToken) =>
        Task.Run(() => Run(context, cancellationToken), cancellationToken);

    /// <summary>The simulator setting: one item per arm, satiation users with base rewards, no noise, slate of one.</summary>
    public static Scenario Setting(double[] baseReward, double gamma, double lambda, int horizon, int seed, Func<Recommender> policy) => new()
    {
        Name = "satiation",
        Seed = seed,
        Users = 2,
        Items = baseReward.Length,
        Topics = baseReward.Length,
        Dimension = 1,
        Horizon = horizon,
        SlateSize = 1,
        UserModel = () => new SatiationUsers([gamma], [lambda], baseReward),
        Choice = new ChoiceModel { Noise = RatingNoise.None },
        Recommender = policy,
        Customize = w =>
        {
            for (var k = 0; k < baseReward.Length; k++)
            {
                w.Item(k)[0] = (float)baseReward[k];
            }
        },
    };

    /// <summary>The largest total reward over every arm sequence of length <paramref name="horizon"/>, by exhaustive search.</summary>
    public static double Optimum(double[] b, double gamma, double lambda, int horizon, out int[] best)
    {
        var k = b.Length;
        var s = new double[k];
        var seq = new int[horizon];
        var bestSeq = new int[horizon];
        var bestValue = double.NegativeInfinity;

        void Search(int t, double total)
        {
            if (t == horizon)
            {
                if (total > bestValue + 1e-12)
                {
                    bestValue = total;
                    Array.Copy(seq, bestSeq, horizon);
                }

                return;
            }

            Span<double> saved = stackalloc double[k];
            s.CopyTo(saved);
            for (var a = 0; a < k; a++)
            {
                var reward = b[a] - (lambda * s[a]);
                for (var j = 0; j < k; j++)
                {
                    s[j] = gamma * (s[j] + (j == a ? 1 : 0));
                }

                seq[t] = a;
                Search(t + 1, total + reward);
                saved.CopyTo(s);
            }
        }

        Search(0, 0);
        best = bestSeq;
        return bestValue;
    }

    private static ReproductionResult Run(ReproductionContext context, CancellationToken ct)
    {
        var report = context.Report;
        var result = new ReproductionResult();
        double[] b = [1.0, 0.8, 0.6];
        const double gamma = 0.6, lambda = 0.5;
        var horizon = context.Quick ? 50 : 200;
        var searchHorizon = context.Quick ? 10 : 12;
        report.Heading("Setting").Paragraph(string.Create(CultureInfo.InvariantCulture,
            $"{b.Length} arms (topics) with base rewards [{string.Join(", ", b)}], shared gamma = {gamma}, lambda = {lambda}; reward b_k - lambda s_k, " +
            $"s_(k,t+1) = gamma (s_(k,t) + 1[a_t = k]), no noise. Policies run in the simulator for {horizon} steps: greedy on the current reward " +
            $"(the oracle recommender, which scores by the user's current utility) and always the best base arm (a fixed feed ranked by b_k). " +
            $"The optimum over all {b.Length}^{searchHorizon} arm sequences of {searchHorizon} steps is found by exhaustive search."));

        Func<Recommender> greedy = () => new OracleRecommender();
        Func<Recommender> fixedBest = () => new MassMediaRecommender(FeedSource.Axis, [1f]);
        var runs = new List<(string Label, SimulationResult Result)>();
        foreach (var (label, policy) in new[] { ("greedy (highest current reward)", greedy), ("always the best base arm", fixedBest) })
        {
            ct.ThrowIfCancellationRequested();
            var s = Setting(b, gamma, lambda, horizon, context.Seed, policy);
            s.Metrics.Add(() => new EngagementMetric());
            runs.Add((label, Simulation.Run(s, null, ct)));
        }

        double Total(SimulationResult r, int steps) => r.Series["utility"].Take(steps).Sum();
        var greedyTotal = Total(runs[0].Result, horizon);
        var fixedTotal = Total(runs[1].Result, horizon);
        var optimum = Optimum(b, gamma, lambda, searchHorizon, out var bestSequence);
        // Greedy is myopic, so its first steps in the long run are its whole run over the short horizon.
        var greedyShort = Total(runs[0].Result, searchHorizon);
        var fixedShort = Total(runs[1].Result, searchHorizon);

        var x = Enumerable.Range(1, horizon).Select(t => (double)t).ToArray();
        report.Heading("Results")
            .Table(["policy", $"total reward over {horizon} steps", $"total over the first {searchHorizon} steps"],
            [
                [runs[0].Label, F(greedyTotal), F(greedyShort)],
                [runs[1].Label, F(fixedTotal), F(fixedShort)],
                [$"optimum by exhaustive search ({b.Length}^{searchHorizon} sequences)", "", F(optimum)],
            ])
            .Paragraph($"An optimal sequence: {string.Join(" ", bestSequence)}.");
        report.LinePlot("reward", "Reward per step", "step", "reward", runs.Select(r => new Series(r.Label, x, r.Result.Series["utility"])));
        report.LinePlot("cumulative", "Cumulative reward", "step", "total reward", runs.Select(r =>
        {
            double acc = 0;
            return new Series(r.Label, x, r.Result.Series["utility"].Select(v => acc += v).ToArray());
        }));

        result.Metrics["greedy_total"] = greedyTotal;
        result.Metrics["best_base_arm_total"] = fixedTotal;
        result.Metrics["optimum_short"] = optimum;
        result.Metrics["greedy_short"] = greedyShort;
        result.Metrics["horizon"] = horizon;
        result.Metrics["search_horizon"] = searchHorizon;
        result.Claims.Add(new Claim(
            "With identical satiation dynamics, pulling the arm with the highest current reward beats always pulling the arm with the best base reward.",
            greedyTotal > fixedTotal,
            string.Create(CultureInfo.InvariantCulture, $"total reward over {horizon} steps: greedy {greedyTotal:F3}, best base arm {fixedTotal:F3}")));
        result.Claims.Add(new Claim(
            "With identical satiation dynamics the greedy policy is optimal.",
            Math.Abs(greedyShort - optimum) <= 1e-4 * Math.Max(1, Math.Abs(optimum)),
            string.Create(CultureInfo.InvariantCulture, $"over {searchHorizon} steps: greedy {greedyShort:F6}, optimum of all {Math.Pow(b.Length, searchHorizon):N0} sequences {optimum:F6} (simulator in single precision; criterion: equal within 1e-4 relative)")));
        return result;
    }

    private static string F(double x) => x.ToString("F4", CultureInfo.InvariantCulture);
}

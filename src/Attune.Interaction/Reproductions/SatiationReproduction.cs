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
        const double gamma = 0.6, lambda = 0.5;
        var horizon = context.Quick ? 50 : 200;
        var searchHorizon = context.Quick ? 10 : 12;
        double[] identical = [1.0, 1.0, 1.0];
        double[] different = [1.0, 0.8, 0.6];
        report.Heading("Setting").Paragraph(string.Create(CultureInfo.InvariantCulture,
            $"Three arms (topics), one item each; reward b_k - lambda s_k with s_(k,t+1) = gamma (s_(k,t) + 1[a_t = k]), gamma = {gamma}, lambda = {lambda} for every arm, no noise. " +
            $"The paper's premise is identical deterministic dynamics: the arms are alike, so base rewards are equal too (its proof starts from 'when the expected rewards of all arms are the same'); " +
            $"we use b = [{string.Join(", ", identical)}]. Policies, run in the simulator for {horizon} steps: greedy on the current reward (the oracle recommender, which scores by the user's " +
            $"current utility) and always the arm with the best base reward (a fixed feed ranked by b_k; ties go to arm 0). The optimum over all 3^{searchHorizon} arm sequences of " +
            $"{searchHorizon} steps is found by exhaustive search. A second setting keeps gamma and lambda shared but makes the base rewards differ, b = [{string.Join(", ", different)}], " +
            $"which is outside the theorem's premise."));

        var a = Compare(identical, gamma, lambda, horizon, searchHorizon, context.Seed, ct);
        var b = Compare(different, gamma, lambda, horizon, searchHorizon, context.Seed, ct);
        var x = Enumerable.Range(1, horizon).Select(t => (double)t).ToArray();
        report.Heading("Results")
            .Table(["base rewards", "greedy, total reward", "best base arm, total reward", $"greedy, first {searchHorizon} steps", $"optimum of {searchHorizon} steps (exhaustive)", "greedy's first arms", "an optimal sequence"],
            [
                [$"[{string.Join(", ", identical)}] (paper's premise)", F(a.Greedy), F(a.Fixed), F(a.GreedyShort), F(a.Optimum), a.GreedyArms, a.OptimalArms],
                [$"[{string.Join(", ", different)}] (outside it)", F(b.Greedy), F(b.Fixed), F(b.GreedyShort), F(b.Optimum), b.GreedyArms, b.OptimalArms],
            ]);
        report.Paragraph(string.Create(CultureInfo.InvariantCulture,
            $"Outside the premise greedy is no longer optimal here: it reaches {b.GreedyShort:F4} of the optimal {b.Optimum:F4} over {searchHorizon} steps ({100 * b.GreedyShort / b.Optimum:F1}%), though it still beats the best base arm by far ({b.Greedy:F2} vs {b.Fixed:F2} over {horizon} steps)."));
        report.LinePlot("cumulative", "Cumulative reward, identical arms", "step", "total reward",
        [
            new Series("greedy (highest current reward)", x, Cumulative(a.GreedySeries)),
            new Series("always the best base arm", x, Cumulative(a.FixedSeries)),
        ]);
        report.LinePlot("cumulative-different-base", "Cumulative reward, different base rewards", "step", "total reward",
        [
            new Series("greedy (highest current reward)", x, Cumulative(b.GreedySeries)),
            new Series("always the best base arm", x, Cumulative(b.FixedSeries)),
        ]);

        result.Metrics["greedy_total"] = a.Greedy;
        result.Metrics["best_base_arm_total"] = a.Fixed;
        result.Metrics["greedy_short"] = a.GreedyShort;
        result.Metrics["optimum_short"] = a.Optimum;
        result.Metrics["different_base.greedy_short"] = b.GreedyShort;
        result.Metrics["different_base.optimum_short"] = b.Optimum;
        result.Metrics["different_base.greedy_total"] = b.Greedy;
        result.Metrics["different_base.best_base_arm_total"] = b.Fixed;
        result.Metrics["horizon"] = horizon;
        result.Metrics["search_horizon"] = searchHorizon;
        result.Claims.Add(new Claim(
            "With identical deterministic satiation dynamics, pulling the arm with the highest current reward (cycling through the arms) beats always pulling the arm with the best base reward.",
            a.Greedy > a.Fixed,
            string.Create(CultureInfo.InvariantCulture, $"total reward over {horizon} steps: greedy {a.Greedy:F3}, best base arm {a.Fixed:F3}; greedy's arms {a.GreedyArms}")));
        result.Claims.Add(new Claim(
            "With identical deterministic satiation dynamics the greedy policy is optimal.",
            Math.Abs(a.GreedyShort - a.Optimum) <= 1e-4 * Math.Max(1, Math.Abs(a.Optimum)),
            string.Create(CultureInfo.InvariantCulture, $"over {searchHorizon} steps: greedy {a.GreedyShort:F6}, optimum of all {Math.Pow(3, searchHorizon):N0} sequences {a.Optimum:F6} (simulator in single precision; criterion: equal within 1e-4 relative)")));
        return result;
    }

    private sealed record Outcome(double Greedy, double Fixed, double GreedyShort, double Optimum, string GreedyArms, string OptimalArms, double[] GreedySeries, double[] FixedSeries);

    private static Outcome Compare(double[] b, double gamma, double lambda, int horizon, int searchHorizon, int seed, CancellationToken ct)
    {
        SimulationResult Run(Func<Recommender> policy)
        {
            var s = Setting(b, gamma, lambda, horizon, seed, policy);
            s.Metrics.Add(() => new EngagementMetric());
            return Simulation.Run(s, null, ct);
        }

        var greedy = Run(() => new OracleRecommender());
        var fixedArm = Run(() => new MassMediaRecommender(FeedSource.Axis, [1f]));
        var optimum = Optimum(b, gamma, lambda, searchHorizon, out var best);

        // Greedy is myopic, so its first steps in the long run are its whole run over the short horizon.
        var greedyShort = greedy.Series["utility"].Take(searchHorizon).Sum();
        var arms = GreedyArms(b, gamma, lambda, searchHorizon);
        return new Outcome(greedy.Series["utility"].Sum(), fixedArm.Series["utility"].Sum(), greedyShort, optimum,
            string.Join(" ", arms), string.Join(" ", best), greedy.Series["utility"], fixedArm.Series["utility"]);
    }

    /// <summary>The arms greedy pulls (the same rule as the simulator's oracle, in double precision).</summary>
    public static int[] GreedyArms(double[] b, double gamma, double lambda, int horizon)
    {
        var s = new double[b.Length];
        var arms = new int[horizon];
        for (var t = 0; t < horizon; t++)
        {
            var best = 0;
            for (var k = 1; k < b.Length; k++)
            {
                if (b[k] - (lambda * s[k]) > b[best] - (lambda * s[best]))
                {
                    best = k;
                }
            }

            arms[t] = best;
            for (var k = 0; k < b.Length; k++)
            {
                s[k] = gamma * (s[k] + (k == best ? 1 : 0));
            }
        }

        return arms;
    }

    private static double[] Cumulative(double[] v)
    {
        var c = new double[v.Length];
        double acc = 0;
        for (var i = 0; i < v.Length; i++)
        {
            c[i] = acc += v[i];
        }

        return c;
    }

    private static string F(double x) => x.ToString("F4", CultureInfo.InvariantCulture);
}

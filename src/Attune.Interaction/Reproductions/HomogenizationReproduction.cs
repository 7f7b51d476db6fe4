using System.Globalization;
using Attune.Core.Reports;
using Attune.Core.Reproductions;

namespace Attune.Interaction.Reproductions;

/// <summary>
/// Algorithmic confounding (Chaney, Stewart &amp; Engelhardt 2018): users with Dirichlet preferences
/// choose from slates by utility with position attention and rate with Beta noise, never consuming
/// an item twice; a matrix factorisation retrained on the feedback it caused (after a start-up
/// period of random recommendations) should make pairs of similar users consume more similar sets
/// of items — homogenisation, measured as the Jaccard similarity of nearest-neighbour pairs — than
/// the ideal (oracle) recommender and than random recommendations. Several replicates with common
/// random numbers across recommenders.
/// </summary>
public sealed class HomogenizationReproduction : IReproduction
{
    public string Name => "interaction-homogenization";

    public string Paper =>
        "Chaney, Stewart, Engelhardt 2018 (How algorithmic confounding in recommendation systems increases homogeneity and decreases utility, RecSys); surveyed in Dean, Dong, Jagadeesan, Leqi 2024 (arXiv 2404.12366)";

    public string Summary =>
        "Feedback-loop matrix factorisation homogenises users' consumption relative to the oracle and to random recommendations.";

    public Task<ReproductionResult> RunAsync(ReproductionContext context, CancellationToken cancellationToken) =>
        Task.Run(() => Run(context, cancellationToken), cancellationToken);

    internal const double Idiosyncrasy = 0.2;

    internal static Scenario Setting(bool quick, int seed, double idiosyncrasy = Idiosyncrasy) => new()
    {
        Name = "homogenization",
        Seed = seed,
        Users = quick ? 100 : 200,
        Items = quick ? 500 : 1000,
        Dimension = 20,
        Horizon = quick ? 60 : 100,
        SlateSize = 10,
        UserInit = new VectorInit(VectorDistribution.Dirichlet, 0.1),
        ItemInit = new VectorInit(VectorDistribution.Dirichlet, 0.1),
        UserModel = () => new StaticUsers(idiosyncrasy),
        Choice = new ChoiceModel { Attention = 0.8, Noise = RatingNoise.Beta, Concentration = 20, Repeat = false },
    };

    private static ReproductionResult Run(ReproductionContext context, CancellationToken ct)
    {
        var report = context.Report;
        var result = new ReproductionResult();
        var replicates = context.Quick ? 3 : 8;
        var probe = Setting(context.Quick, context.Seed);
        var policies = new (string Label, Func<Recommender> Factory)[]
        {
            ("matrix factorisation (feedback loop)", () => new MatrixFactorisation(rank: 10, ridge: 0.1, every: 1, iterations: 2, startup: 10)),
            ("popularity", () => new PopularityRecommender()),
            ("oracle (ideal)", () => new OracleRecommender()),
            ("random", () => new RandomRecommender()),
        };
        report.Heading("Setting").Paragraph(string.Create(CultureInfo.InvariantCulture,
            $"{probe.Users} users and {probe.Items} items with Dirichlet(0.1) vectors in {probe.Dimension} dimensions; each user's true utility of each item is <p, v> + {Idiosyncrasy} e_ui with e_ui ~ N(0, 1) fixed per pair (Chaney et al. draw each true utility around <p, v>); slates of {probe.SlateSize}; " +
            $"users take the item maximising utility x rank^(-0.8) and rate it with Beta noise (concentration 20); no item is consumed twice. " +
            $"Matrix factorisation (rank 10, ALS, ridge 0.1) recommends at random for 10 start-up steps and then retrains every step on the ratings it caused. " +
            $"{probe.Horizon} steps, {replicates} replicates (seeds derived from {context.Seed}); within a replicate all recommenders share initial state and noise. " +
            $"Homogenisation: Jaccard similarity of the consumed sets of each user and their nearest neighbour by true preference (Chaney et al.'s pairing)."));

        var finals = new double[policies.Length, replicates];
        var curves = new double[policies.Length][];
        for (var p = 0; p < policies.Length; p++)
        {
            curves[p] = new double[probe.Horizon];
        }

        for (var r = 0; r < replicates; r++)
        {
            var s = Setting(context.Quick, Attune.Core.Randomness.Seeds.Derive(context.Seed, r));
            s.Metrics.Add(() => new HomogenizationMetric(PairMode.Nearest));
            s.Metrics.Add(() => new EngagementMetric());
            for (var p = 0; p < policies.Length; p++)
            {
                ct.ThrowIfCancellationRequested();
                var run = Simulation.Run(s, policies[p].Factory, ct);
                finals[p, r] = run.Final("homogenization");
                for (var t = 0; t < probe.Horizon; t++)
                {
                    curves[p][t] += run.Series["homogenization"][t] / replicates;
                }
            }

            context.Log.WriteLine(string.Create(CultureInfo.InvariantCulture, $"  replicate {r + 1}/{replicates}: MF {finals[0, r]:F4}, popularity {finals[1, r]:F4}, oracle {finals[2, r]:F4}, random {finals[3, r]:F4}"));
        }

        double Mean(int p) => Enumerable.Range(0, replicates).Average(r => finals[p, r]);
        int Wins(int a, int b) => Enumerable.Range(0, replicates).Count(r => finals[a, r] > finals[b, r]);
        var x = Enumerable.Range(1, probe.Horizon).Select(t => (double)t).ToArray();
        report.Heading("Results")
            .Table(["recommender", "homogenisation at the end (mean over replicates)", "relative to oracle"],
                policies.Select((p, i) => (IReadOnlyList<string>)[p.Label, F(Mean(i)), F(Mean(i) - Mean(2))]));
        report.LinePlot("homogenization", "Homogenisation (Jaccard of nearest-neighbour pairs), mean over replicates", "step", "Jaccard",
            policies.Select((p, i) => new Series(p.Label, x, curves[i])));
        report.BarPlot("homogenization-final", "Homogenisation at the end", "recommender", "Jaccard",
            policies.Select(p => p.Label.Split(' ')[0]).ToList(), Enumerable.Range(0, policies.Length).Select(Mean).ToList());

        // Sensitivity: the same comparison with less idiosyncratic utility (one replicate each).
        var sensitivity = new List<IReadOnlyList<string>>();
        foreach (var sigma in new[] { 0.0, 0.1 })
        {
            var s = Setting(context.Quick, context.Seed, sigma);
            s.Metrics.Add(() => new HomogenizationMetric(PairMode.Nearest));
            var mf = Simulation.Run(s, policies[0].Factory, ct).Final("homogenization");
            var oracle = Simulation.Run(s, policies[2].Factory, ct).Final("homogenization");
            sensitivity.Add([sigma.ToString(CultureInfo.InvariantCulture), F(mf), F(oracle), mf > oracle ? "yes" : "no"]);
            result.Metrics[string.Create(CultureInfo.InvariantCulture, $"sensitivity.idiosyncrasy_{sigma}.mf")] = mf;
            result.Metrics[string.Create(CultureInfo.InvariantCulture, $"sensitivity.idiosyncrasy_{sigma}.oracle")] = oracle;
        }

        sensitivity.Add([Idiosyncrasy.ToString(CultureInfo.InvariantCulture) + " (main setting)", F(Mean(0)), F(Mean(2)), Mean(0) > Mean(2) ? "yes" : "no"]);
        report.Heading("Sensitivity to idiosyncratic utility")
            .Paragraph("The comparison with the oracle depends on how much of a user's utility is idiosyncratic (not shared with similar users): the oracle serves each user's own top items, while a low-rank model trained on confounded feedback serves what similar users liked. One replicate per row:")
            .Table(["idiosyncrasy sigma", "MF homogenisation", "oracle homogenisation", "MF above oracle"], sensitivity);

        result.Metrics["homogenization_mf"] = Mean(0);
        result.Metrics["homogenization_popularity"] = Mean(1);
        result.Metrics["homogenization_oracle"] = Mean(2);
        result.Metrics["homogenization_random"] = Mean(3);
        result.Metrics["replicates"] = replicates;
        var overOracle = Wins(0, 2);
        var overRandom = Wins(0, 3);
        result.Claims.Add(new Claim(
            "A matrix factorisation trained on the feedback it causes homogenises users more than the ideal (oracle) recommender.",
            Mean(0) > Mean(2) && overOracle == replicates,
            string.Create(CultureInfo.InvariantCulture, $"final Jaccard: MF {Mean(0):F4} vs oracle {Mean(2):F4}; MF higher in {overOracle} of {replicates} replicates (criterion: all), with idiosyncratic utility sigma = {Idiosyncrasy}; with less idiosyncrasy the oracle homogenises more than MF: {string.Join("; ", sensitivity.Take(2).Select(r => $"sigma {r[0]}: MF {r[1]} vs oracle {r[2]}"))}")));
        result.Claims.Add(new Claim(
            "It also homogenises users more than random recommendations.",
            Mean(0) > Mean(3) && overRandom == replicates,
            string.Create(CultureInfo.InvariantCulture, $"final Jaccard: MF {Mean(0):F4} vs random {Mean(3):F4}; MF higher in {overRandom} of {replicates} replicates (criterion: all)")));
        return result;
    }

    private static string F(double x) => x.ToString("F4", CultureInfo.InvariantCulture);
}

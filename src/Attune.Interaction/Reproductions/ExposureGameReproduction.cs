using System.Globalization;
using Attune.Core.Reports;
using Attune.Core.Reproductions;
using Attune.Core.Statistics;

namespace Attune.Interaction.Reproductions;

/// <summary>
/// Exposure games (Hron et al. 2022): creators on the unit sphere compete for softmax exposure
/// with temperature τ among fixed users, moving by projected gradient ascent. The claim: at high τ
/// every creator converges to the same content (the population's average direction), while at low
/// τ creators spread out to serve different users, so content diversity falls as τ rises.
/// </summary>
public sealed class ExposureGameReproduction : IReproduction
{
    public string Name => "interaction-exposure-game";

    public string Paper =>
        "Hron, Krauth, Jordan, Kilbertus, Dean 2022 (Modeling content creator incentives on algorithm-curated platforms, arXiv 2206.13102); surveyed in Dean, Dong, Jagadeesan, Leqi 2024 (arXiv 2404.12366)";

    public string Summary =>
        "Content diversity at the creators' (approximate) equilibrium against the exposure temperature tau.";

    public Task<ReproductionResult> RunAsync(ReproductionContext context, CancellationToken cancellationToken) =>
        Task.Run(() => Run(context, cancellationToken), cancellationToken);

    internal static Scenario Setting(bool quick, int seed, double tau) => new()
    {
        Name = "exposure-game",
        Seed = seed,
        Users = quick ? 200 : 400,
        Items = 8,
        Dimension = 3,
        Horizon = quick ? 300 : 600,
        SlateSize = 1,
        UserModel = () => new StaticUsers(),
        Choice = new ChoiceModel { Noise = RatingNoise.None },
        Recommender = () => new SoftmaxRecommender(new OracleRecommender(), tau),
        Creators = () => new ExposureGame(tau, CreatorDynamics.Gradient, learningRate: 0.5 * tau / (quick ? 200 : 400) * 8, candidates: 1, every: 1),
    };

    private static ReproductionResult Run(ReproductionContext context, CancellationToken ct)
    {
        var report = context.Report;
        var result = new ReproductionResult();
        double[] taus = context.Quick ? [0.03, 0.1, 0.3, 1, 2, 3, 5, 10] : [0.01, 0.03, 0.1, 0.3, 1, 1.5, 2, 3, 5, 10, 30];
        var probe = Setting(context.Quick, context.Seed, 1);
        report.Heading("Setting").Paragraph(string.Create(CultureInfo.InvariantCulture,
            $"{probe.Users} users uniform on the unit sphere in R^{probe.Dimension} (fixed), {probe.Items} creators starting at random points of the sphere; " +
            $"exposure e_ij = softmax_j(<x_i, s_j>/tau); each creator ascends its total exposure by projected gradient steps (step size proportional to tau, " +
            $"so that the angular step does not blow up as tau falls) for {probe.Horizon} steps; the recommender shows softmax samples with the same tau. " +
            $"Content diversity = mean pairwise 1 - cos(s_j, s_l) among creators at the end (0: all identical). Temperatures: {string.Join(", ", taus)}; seed {context.Seed}, the same starting creators for every tau."));

        var diversity = new double[taus.Length];
        var exposureSpread = new double[taus.Length];
        var x = Enumerable.Range(1, probe.Horizon).Select(t => (double)t).ToArray();
        var curves = new List<Series>();
        for (var i = 0; i < taus.Length; i++)
        {
            ct.ThrowIfCancellationRequested();
            var s = Setting(context.Quick, context.Seed, taus[i]);
            s.Metrics.Add(() => new CreatorMetric());
            var run = Simulation.Run(s, null, ct);
            diversity[i] = run.Final("content_diversity");
            curves.Add(new Series($"tau = {taus[i].ToString(CultureInfo.InvariantCulture)}", x, run.Series["content_diversity"]));
            exposureSpread[i] = run.Final("creator_profit");
            context.Log.WriteLine(string.Create(CultureInfo.InvariantCulture, $"  tau {taus[i]}: content diversity {diversity[i]:F4}"));
        }

        report.Heading("Results")
            .Table(["tau", "content diversity at the end"], taus.Select((t, i) => (IReadOnlyList<string>)[t.ToString(CultureInfo.InvariantCulture), F(diversity[i])]));
        report.LinePlot("diversity-vs-tau", "Content diversity at the end against log10 tau", "log10 tau", "mean pairwise 1 - cos",
            [new Series("content diversity", taus.Select(Math.Log10).ToArray(), diversity)]);
        report.LinePlot("diversity-series", "Content diversity during the game", "step", "mean pairwise 1 - cos", curves);

        var spearman = Spearman.Test(taus, diversity);
        for (var i = 0; i < taus.Length; i++)
        {
            result.Metrics[$"diversity_tau_{taus[i].ToString(CultureInfo.InvariantCulture)}"] = diversity[i];
        }

        result.Metrics["spearman_rho"] = spearman.Rho;
        var worstRise = 0.0;
        for (var i = 1; i < taus.Length; i++)
        {
            worstRise = Math.Max(worstRise, diversity[i] - diversity[i - 1]);
        }

        result.Metrics["largest_rise_between_neighbouring_taus"] = worstRise;
        result.Claims.Add(new Claim(
            "Content diversity at equilibrium falls as the exposure temperature tau rises: diverse content at low tau, homogeneous content at high tau.",
            worstRise <= 0.1 && diversity[^1] < 0.1 * diversity[0],
            string.Create(CultureInfo.InvariantCulture, $"diversity {diversity[0]:F3} at tau {taus[0]} -> {diversity[^1]:F4} at tau {taus[^1]}; largest rise between neighbouring temperatures {worstRise:F3} (criterion: no rise above 0.1 and the end below a tenth of the start); Spearman rho(tau, diversity) = {spearman.Rho:F3} (a plateau at low tau, then a fall)")));
        result.Claims.Add(new Claim(
            "At high temperature all creators converge to the same content.",
            diversity[^1] < 0.01,
            string.Create(CultureInfo.InvariantCulture, $"diversity {diversity[^1]:F5} at tau {taus[^1]} (criterion: < 0.01)")));
        result.Claims.Add(new Claim(
            "At low temperature creators specialise to different users (diverse content).",
            diversity[0] > 0.3,
            string.Create(CultureInfo.InvariantCulture, $"diversity {diversity[0]:F3} at tau {taus[0]} (criterion: > 0.3; random points on the sphere give about 1)")));
        return result;
    }

    private static string F(double x) => x.ToString("F4", CultureInfo.InvariantCulture);
}

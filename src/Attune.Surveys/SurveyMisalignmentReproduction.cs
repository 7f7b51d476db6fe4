using System.Globalization;
using Attune.Core.Randomness;
using Attune.Core.Reports;
using Attune.Core.Reproductions;
using Attune.Core.Statistics;
using Attune.Surveys.Data;
using Attune.Surveys.Planning;
using Attune.Surveys.Testing;
using MathNet.Numerics.Distributions;

namespace Attune.Surveys;

/// <summary>
/// Hong, Caldas &amp; Leqi (2025) on a synthetic population whose truth is known: 4 groups × Q
/// questions on a 5-point scale; in group g a share f_g of the questions is answered by the "LLM"
/// from a distribution shifted by a chosen total-variation distance, the rest from the group's own
/// distribution. Shows (1) calibration under the null, (2) power against the shift for both
/// statistics, (3) false-discovery control with BH, and (4) the paper's per-group verdicts.
/// With <c>ATTUNE_SURVEY_DATA</c> set to an OpinionQA-layout folder that also holds the LLM's
/// answers (<c>llm.jsonl</c> or <c>llm.csv</c>), the same per-group report on that real data.
/// </summary>
public sealed class SurveyMisalignmentReproduction(string? dataPath) : IReproduction
{
    public const string DataVariable = "ATTUNE_SURVEY_DATA";

    private static readonly double[] Shifts = [0.05, 0.10, 0.15, 0.20];
    private static readonly double[] ShiftedShare = [0.1, 0.3, 0.5, 0.7];
    private static readonly string[] Groups = ["RACE=Black", "RACE=White", "AGE=18-29", "AGE=65+"];
    private const double Alpha = 0.05;
    private const int Options = 5;

    public SurveyMisalignmentReproduction() : this(Environment.GetEnvironmentVariable(DataVariable))
    {
    }

    public string Name => "survey-misalignment";

    public string Paper => "Hong, Caldas & Leqi, Hypothesis Testing for Quantifying LLM-Human Misalignment in Multiple Choice Settings (arXiv 2506.14997, 2025)";

    public string Summary => "Permutation tests of LLM vs human answer distributions per question and group on a synthetic population with known truth: null calibration, power vs shift, BH false-discovery control.";

    public Task<ReproductionResult> RunAsync(ReproductionContext context, CancellationToken cancellationToken) =>
        Task.Run(() => Run(context, cancellationToken), cancellationToken);

    private sealed record Truth(PairedTable Table, double Tv);

    private ReproductionResult Run(ReproductionContext context, CancellationToken ct)
    {
        ArgumentNullException.ThrowIfNull(context);
        bool quick = context.Quick;
        int questions = quick ? 150 : 500;
        int permutations = quick ? 1999 : 9999;
        int replicates = quick ? 10 : 30;
        int llmN = 200;
        var report = context.Report;
        var result = new ReproductionResult();
        var log = context.Log;

        report.Heading("Setting").Paragraph(string.Create(CultureInfo.InvariantCulture,
            $"Synthetic survey: {Groups.Length} groups x {questions} questions, {Options} ordered options. Each group's answer distribution per question is drawn from Dirichlet(1.5, ..., 1.5); " +
            $"each group has 200-600 human answers and {llmN} LLM answers per question. In group g a share f_g = [{string.Join(", ", ShiftedShare)}] of the questions is misaligned: " +
            $"the LLM answers from q = the human distribution with mass moved towards one end of the scale so that TV(p, q) is one of [{string.Join(", ", Shifts)}] (equally often); " +
            $"elsewhere q = p. B = {permutations} permutations per test, alpha = {Alpha}, BH within each group. Seed {context.Seed}."));

        // 1. Null calibration: every question aligned.
        report.Heading("1. Calibration under the null");
        var nullRng = Seeds.Create(context.Seed, 1);
        var nullTables = Population(nullRng, questions, llmN, share: _ => 0, out _);
        var rows = new List<IReadOnlyList<string>>();
        bool calibrated = true;
        string calibrationEvidence = "";
        foreach (var stat in new[] { SurveyStatistic.ChiSquare, SurveyStatistic.KolmogorovSmirnov })
        {
            ct.ThrowIfCancellationRequested();
            log.WriteLine($"  null calibration, {stat}: {nullTables.Count} tests x {permutations} permutations");
            var p = MisalignmentTest.PValues([.. nullTables.Select(t => t.Table)], new SurveyTestOptions { Statistic = stat, Permutations = permutations, Seed = Seeds.Derive(context.Seed, 11 + (int)stat) })
                .Select(x => x.PValue).ToArray();
            var ks = KolmogorovSmirnov.UniformTest(p);
            double size = p.Count(x => x <= Alpha) / (double)p.Length;
            double margin = 2.576 * Math.Sqrt(Alpha * (1 - Alpha) / p.Length);
            report.Histogram($"null-pvalues-{Slug(stat)}", $"Null p-values, {Slug(stat)} ({p.Length} tests)", "p-value", p, 20, 0, 1);
            rows.Add([Slug(stat), F(size), F(ks.Statistic), F(ks.PValue)]);
            result.Metrics[$"null.{Slug(stat)}.size"] = size;
            result.Metrics[$"null.{Slug(stat)}.ks_p"] = ks.PValue;
            calibrated &= ks.PValue > 0.01 && size <= Alpha + margin;
            calibrationEvidence += string.Create(CultureInfo.InvariantCulture, $"{Slug(stat)}: size {F(size)} (bound {F(Alpha + margin)}), KS uniformity p = {F(ks.PValue)}; ");
        }
        report.Table(["statistic", "size at 0.05", "KS D vs U(0,1)", "KS p"], rows);
        result.Claims.Add(new Claim("Under the null (LLM answers from the group's own distribution) the permutation p-values are uniform and the test keeps its level.",
            calibrated, calibrationEvidence.TrimEnd(' ', ';')));

        // 2. and 3. Mixed population, replicated.
        report.Heading("2. Power against the shift, and 3. false discoveries with BH");
        var powerHits = new Dictionary<(SurveyStatistic, double), (int Hits, int Total)>();
        var fdpBh = new List<double>();
        var fdpRaw = new List<double>();
        var powerBh = new List<double>();
        SurveyTestReport? first = null;
        List<Truth>? firstTruth = null;
        for (int rep = 0; rep < replicates; rep++)
        {
            ct.ThrowIfCancellationRequested();
            var rng = Seeds.Create(context.Seed, 100 + rep);
            var truth = Population(rng, questions, llmN, share: g => ShiftedShare[g], out _);
            var tables = truth.Select(t => t.Table).ToList();
            foreach (var stat in new[] { SurveyStatistic.ChiSquare, SurveyStatistic.KolmogorovSmirnov })
            {
                var options = new SurveyTestOptions { Statistic = stat, Permutations = permutations, Seed = Seeds.Derive(context.Seed, 1000 + rep * 2 + (int)stat), Alpha = Alpha, BootstrapResamples = rep == 0 && stat == SurveyStatistic.ChiSquare ? 200 : 0 };
                var run = MisalignmentTest.Run(tables, options);
                for (int i = 0; i < truth.Count; i++)
                {
                    var key = (stat, truth[i].Tv);
                    var (h, n) = powerHits.GetValueOrDefault(key);
                    powerHits[key] = (h + (run.Results[i].PValue <= Alpha ? 1 : 0), n + 1);
                }
                if (stat == SurveyStatistic.ChiSquare)
                {
                    int falseBh = 0, rejBh = 0, falseRaw = 0, rejRaw = 0, trueBh = 0, nonNull = 0;
                    for (int i = 0; i < truth.Count; i++)
                    {
                        bool isNull = truth[i].Tv == 0;
                        if (!isNull) nonNull++;
                        if (run.Results[i].Rejected) { rejBh++; if (isNull) falseBh++; else trueBh++; }
                        if (run.Results[i].PValue <= Alpha) { rejRaw++; if (isNull) falseRaw++; }
                    }
                    fdpBh.Add(rejBh == 0 ? 0 : (double)falseBh / rejBh);
                    fdpRaw.Add(rejRaw == 0 ? 0 : (double)falseRaw / rejRaw);
                    powerBh.Add((double)trueBh / nonNull);
                    if (rep == 0) { first = run; firstTruth = truth; }
                }
            }
            log.WriteLine($"  replicate {rep + 1}/{replicates}: FDP with BH {F(fdpBh[^1])}, without correction {F(fdpRaw[^1])}");
        }

        double[] tvAxis = [0, .. Shifts];
        var series = new List<Series>();
        var powerRows = new List<IReadOnlyList<string>>();
        foreach (var stat in new[] { SurveyStatistic.ChiSquare, SurveyStatistic.KolmogorovSmirnov })
        {
            var y = tvAxis.Select(tv => { var (h, n) = powerHits[(stat, tv)]; return (double)h / n; }).ToList();
            series.Add(new Series(Slug(stat), tvAxis, y));
            for (int i = 0; i < tvAxis.Length; i++) result.Metrics[$"power.{Slug(stat)}.tv_{F(tvAxis[i])}"] = y[i];
        }
        for (int i = 0; i < tvAxis.Length; i++)
            powerRows.Add([F(tvAxis[i]), F(series[0].Y[i]), F(series[1].Y[i]), powerHits[(SurveyStatistic.ChiSquare, tvAxis[i])].Total.ToString(CultureInfo.InvariantCulture)]);
        report.LinePlot("power-vs-shift", "Rejection rate at alpha = 0.05 (uncorrected) vs TV shift", "total-variation distance of the LLM from the group", "rejection rate", series);
        report.Table(["TV shift", "power chi-square", "power KS", "tests"], powerRows);
        var chiPower = series[0].Y;
        bool monotone = chiPower.Zip(chiPower.Skip(1), (a, b) => b >= a - 0.02).All(x => x);
        result.Claims.Add(new Claim("Power rises with the size of the misalignment, from alpha at no shift to near 1 at a large shift (chi-square).",
            monotone && chiPower[^1] >= 0.9 && chiPower[0] <= Alpha + 0.03,
            $"rejection rate at TV {string.Join(", ", tvAxis.Select(F))}: {string.Join(", ", chiPower.Select(F))}"));

        double meanBh = fdpBh.Average(), meanRaw = fdpRaw.Average();
        double se = fdpBh.Count > 1 ? Math.Sqrt(fdpBh.Select(x => (x - meanBh) * (x - meanBh)).Sum() / (fdpBh.Count - 1) / fdpBh.Count) : 0;
        result.Metrics["fdr.bh.mean_fdp"] = meanBh;
        result.Metrics["fdr.uncorrected.mean_fdp"] = meanRaw;
        result.Metrics["fdr.bh.power"] = powerBh.Average();
        report.Table(["procedure", "mean false-discovery proportion", "replicates"],
        [
            ["BH within each group", F(meanBh) + " ± " + F(se), replicates.ToString(CultureInfo.InvariantCulture)],
            ["no correction (p <= 0.05)", F(meanRaw), replicates.ToString(CultureInfo.InvariantCulture)],
        ]);
        result.Claims.Add(new Claim("Benjamini-Hochberg keeps the false-discovery rate at or below alpha, where uncorrected testing does not.",
            meanBh <= Alpha + 2 * se + 0.005 && meanRaw > meanBh,
            string.Create(CultureInfo.InvariantCulture, $"mean FDP with BH {F(meanBh)} (SE {F(se)}) vs {F(meanRaw)} uncorrected, over {replicates} replicates; share of misaligned tests found with BH {F(powerBh.Average())}")));

        // 4. Per-group verdicts, as in the paper's figures.
        report.Heading("4. Per-group verdicts (first replicate, chi-square, BH within group)");
        SurveyReportWriter.Write(report, first!, new SurveyTestOptions { Permutations = permutations, Seed = context.Seed }, "synthetic");
        var shares = first!.Summary.Select(s => s.ShareRejected).ToList();
        var trueShares = Groups.Select(g => firstTruth!.Where(t => t.Table.Group == g).Average(t => t.Tv > 0 ? 1.0 : 0)).ToList();
        bool ordered = shares.Zip(shares.Skip(1), (a, b) => b > a).All(x => x);
        result.Claims.Add(new Claim("The per-group share of rejected questions tracks how misaligned the simulated group really is (the paper's per-subpopulation verdicts).",
            ordered,
            $"share rejected {string.Join(", ", shares.Select(F))} for groups with true misaligned share {string.Join(", ", trueShares.Select(F))}"));

        if (!string.IsNullOrWhiteSpace(dataPath))
        {
            RealData(report, result, dataPath, permutations, context);
        }
        else
        {
            report.Heading("Real data").Paragraph($"Not run: set {DataVariable} to an OpinionQA-layout folder (info.csv, *_data.json) that also holds the LLM answers as llm.jsonl or llm.csv.");
            result.Claims.Add(Claim.NotMeasured(RealDataClaim,
                $"no LLM-simulated answers were given (set {DataVariable} to a folder with the human answers and llm.jsonl or llm.csv)."));
        }
        return result;
    }

    /// <summary>The paper's finding about real models; its criterion (fixed before any run): the share of
    /// question x group tests rejected after the multiple-testing correction at alpha exceeds alpha.</summary>
    internal const string RealDataClaim = "LLM-simulated answers are misaligned with human sub-populations: more question x group tests reject than the level alpha allows (the paper's finding on real models).";

    private static void RealData(Report report, ReproductionResult result, string folder, int permutations, ReproductionContext context)
    {
        report.Heading($"Real data: {folder}");
        var human = SurveyReader.Read(folder);
        var llmFile = new[] { "llm.jsonl", "llm.csv" }.Select(f => Path.Combine(folder, f)).FirstOrDefault(File.Exists)
            ?? throw new Core.Errors.AttuneInputException("no LLM answers (llm.jsonl or llm.csv) in the folder", folder);
        var llm = SurveyReader.Read(llmFile);
        var tables = SurveyPairing.Pair(human, llm, keepRefusals: false, out int unmatched);
        var options = new SurveyTestOptions { Permutations = permutations, Seed = context.Seed, Alpha = Alpha, BootstrapResamples = 200 };
        var run = MisalignmentTest.Run(tables, options);
        report.Paragraph($"{tables.Count} question x group pairs with LLM answers ({unmatched} human tables had none).");
        SurveyReportWriter.Write(report, run, options, "real");
        result.Metrics["real.tests"] = tables.Count;
        result.Metrics["real.share_rejected"] = run.Overall.ShareRejected;
        foreach (var s in run.Summary) result.Metrics[$"real.share_rejected.{s.Group}"] = s.ShareRejected;
        result.Claims.Add(new Claim(RealDataClaim, run.Overall.ShareRejected > Alpha,
            $"{F(run.Overall.ShareRejected)} of {tables.Count} tests rejected after the multiple-testing correction at alpha = {F(Alpha)} (answers from `{llmFile}`)."));
    }

    /// <summary>Draws the population; <paramref name="share"/>(g) is the misaligned share of group g.</summary>
    private static List<Truth> Population(Random rng, int questions, int llmN, Func<int, double> share, out int misaligned)
    {
        var list = new List<Truth>();
        misaligned = 0;
        var dirichlet = new Gamma(1.5, 1.0, rng);
        var labels = Enumerable.Range(1, Options).Select(k => k.ToString(CultureInfo.InvariantCulture)).ToArray();
        for (int g = 0; g < Groups.Length; g++)
        {
            int shifted = (int)Math.Round(share(g) * questions);
            for (int q = 0; q < questions; q++)
            {
                var p = new double[Options];
                for (int k = 0; k < Options; k++) p[k] = dirichlet.Sample();
                double sum = p.Sum();
                for (int k = 0; k < Options; k++) p[k] /= sum;
                double tv = q < shifted ? Shifts[q % Shifts.Length] : 0;
                if (tv > 0) misaligned++;
                var qd = ShiftOrdered(p, tv);
                int humanN = rng.Next(200, 601);
                list.Add(new Truth(new PairedTable
                {
                    Question = $"Q{q + 1:000}", Group = Groups[g], Options = labels,
                    Human = PowerAnalysis.Multinomial(rng, p, humanN), Llm = PowerAnalysis.Multinomial(rng, qd, llmN),
                }, tv));
            }
        }
        return list;
    }

    /// <summary>Moves mass towards whichever end of the scale has room for a TV shift of <paramref name="tv"/>.</summary>
    internal static double[] ShiftOrdered(double[] p, double tv)
    {
        if (tv <= 0) return p;
        if (1 - p[^1] >= tv) return PowerAnalysis.Shift(p, tv);
        var reversed = p.Reverse().ToArray();
        return [.. PowerAnalysis.Shift(reversed, tv).Reverse()];
    }

    private static string Slug(SurveyStatistic s) => s == SurveyStatistic.ChiSquare ? "chi-square" : "ks";

    private static string F(double x) => x.ToString("0.###", CultureInfo.InvariantCulture);
}

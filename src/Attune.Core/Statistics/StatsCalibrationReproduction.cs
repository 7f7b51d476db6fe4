using System.Globalization;
using Attune.Core.Randomness;
using Attune.Core.Reports;
using Attune.Core.Reproductions;

namespace Attune.Core.Statistics;

/// <summary>
/// The model-free reproduction that checks Attune's own statistics engine: under the null the
/// permutation test's p-values are uniform and its size is its nominal level; under an ordered
/// location shift its power rises with the effect size. Survey answers on a 5-point scale, two
/// groups of a few hundred answers each, the chi-square and the ordinal Kolmogorov–Smirnov
/// statistics.
/// </summary>
public sealed class StatsCalibrationReproduction : IReproduction
{
    private static readonly double[] BaseDistribution = [0.10, 0.20, 0.30, 0.25, 0.15];

    public string Name => "stats-calibration";

    public string Paper =>
        "Permutation tests (Fisher 1935; Phipson & Smyth 2010, p = (1 + b)/(B + 1)) as used for survey misalignment testing";

    public string Summary =>
        "Null p-value histograms and power curves of the two-sample permutation test with chi-square and KS statistics on 2x5 tables.";

    public Task<ReproductionResult> RunAsync(ReproductionContext context, CancellationToken cancellationToken) =>
        Task.Run(() => Run(context, cancellationToken), cancellationToken);

    private static ReproductionResult Run(ReproductionContext context, CancellationToken ct)
    {
        var quick = context.Quick;
        var perGroup = 300;
        var nullTests = quick ? 2000 : 4000;
        var powerTests = quick ? 400 : 1000;
        var permutations = quick ? 999 : 9999;
        double[] mixes = quick ? [0, 0.05, 0.10, 0.15, 0.20, 0.30, 0.40, 0.50] : [0, 0.025, 0.05, 0.075, 0.10, 0.125, 0.15, 0.20, 0.25, 0.30, 0.40, 0.50];
        const double alpha = 0.05;
        var statistics = new (string Name, CountStatistic Statistic)[]
        {
            ("chi-square", CountStatistics.ChiSquare),
            ("KS (ordinal)", CountStatistics.KolmogorovSmirnov),
        };

        var report = context.Report;
        var result = new ReproductionResult();
        report.Heading("Setting")
            .Paragraph(string.Create(CultureInfo.InvariantCulture,
                $"Two groups of {perGroup} answers each on a 5-point scale; the first group always answers from p0 = [{string.Join(", ", BaseDistribution)}]. " +
                $"Null: the second group answers from p0 too ({nullTests} tests). Alternative: the second group answers from (1 - m) p0 + m shift(p0), " +
                $"where shift moves every answer one category up ({powerTests} tests per m). Each test uses B = {permutations} permutations, " +
                $"p = (1 + #{{T* >= T}}) / (B + 1), level alpha = {alpha}."));

        // Null calibration.
        report.Heading("Null p-values");
        var nullRows = new List<IReadOnlyList<string>>();
        var nullP = new Dictionary<string, double[]>();
        for (var s = 0; s < statistics.Length; s++)
        {
            var (name, statistic) = statistics[s];
            context.Log.WriteLine($"  null calibration, {name}: {nullTests} tests x {permutations} permutations");
            var pvalues = PValues(BaseDistribution, BaseDistribution, perGroup, nullTests, permutations, statistic, context.Seed, stream: s, ct);
            nullP[name] = pvalues;
            var uniform = KolmogorovSmirnov.UniformTest(pvalues);
            var size = pvalues.Count(p => p <= alpha) / (double)nullTests;
            report.Histogram($"null-pvalues-{Slug(name)}", $"Null p-values, {name} ({nullTests} tests)", "p-value", pvalues, 20, 0, 1);
            nullRows.Add([name, F(size), F(uniform.Statistic), F(uniform.PValue), F(pvalues.Average())]);
            result.Metrics[$"null.{Slug(name)}.size_at_0.05"] = size;
            result.Metrics[$"null.{Slug(name)}.ks_uniform_d"] = uniform.Statistic;
            result.Metrics[$"null.{Slug(name)}.ks_uniform_p"] = uniform.PValue;
        }

        report.Table(["statistic", "size at 0.05", "KS D vs U(0,1)", "KS p", "mean p"], nullRows);

        // 99% Monte-Carlo margin around the nominal size.
        var margin = 2.576 * Math.Sqrt(alpha * (1 - alpha) / nullTests);
        var chi = nullP["chi-square"];
        var chiUniform = KolmogorovSmirnov.UniformTest(chi);
        result.Claims.Add(new Claim(
            "Under the null hypothesis the permutation test's p-values are uniform on (0, 1] (chi-square statistic).",
            chiUniform.PValue > 0.01,
            string.Create(CultureInfo.InvariantCulture,
                $"{nullTests} null tests: KS distance from U(0,1) D = {chiUniform.Statistic:F4}, p = {chiUniform.PValue:F3} (not rejected at 0.01 means reproduced).")));

        var sizes = statistics.Select(s => nullP[s.Name].Count(p => p <= alpha) / (double)nullTests).ToArray();
        result.Claims.Add(new Claim(
            $"The test is valid: under the null it rejects at level {alpha} no more often than {alpha} (within Monte-Carlo error) for both statistics.",
            sizes.All(z => z <= alpha + margin),
            string.Create(CultureInfo.InvariantCulture,
                $"rejection rates {string.Join(", ", statistics.Select((s, i) => $"{s.Name} {sizes[i]:F4}"))}; 99% Monte-Carlo upper bound {alpha + margin:F4}.")));

        // Power against an ordered location shift.
        report.Heading("Power against an ordered shift");
        var power = new double[statistics.Length][];
        var effect = new double[mixes.Length];
        for (var m = 0; m < mixes.Length; m++)
        {
            effect[m] = Distances.TotalVariation(BaseDistribution, Mix(mixes[m]));
        }

        for (var s = 0; s < statistics.Length; s++)
        {
            power[s] = new double[mixes.Length];
            for (var m = 0; m < mixes.Length; m++)
            {
                ct.ThrowIfCancellationRequested();
                var pvalues = PValues(BaseDistribution, Mix(mixes[m]), perGroup, powerTests, permutations, statistics[s].Statistic,
                    context.Seed, stream: 1000 + (100 * s) + m, ct);
                power[s][m] = pvalues.Count(p => p <= alpha) / (double)powerTests;
            }

            context.Log.WriteLine($"  power, {statistics[s].Name}: {string.Join(" ", power[s].Select(F))}");
        }

        report.LinePlot("power-curve", $"Power at alpha = {alpha} against effect size", "effect size (total variation distance)", "power",
            statistics.Select((s, i) => new Series(s.Name, effect, power[i])));
        report.Table(["mix m", "effect (TV)", .. statistics.Select(s => $"power, {s.Name}")],
            mixes.Select((mix, m) => (IReadOnlyList<string>)[F(mix), F(effect[m]), .. power.Select(p => F(p[m]))]));
        for (var s = 0; s < statistics.Length; s++)
        {
            for (var m = 0; m < mixes.Length; m++)
            {
                result.Metrics[string.Create(CultureInfo.InvariantCulture, $"power.{Slug(statistics[s].Name)}.tv_{effect[m]:F3}")] = power[s][m];
            }
        }

        // Monotone up to Monte-Carlo noise (two binomial standard errors), and high at the largest effect.
        var noise = 2 * Math.Sqrt(0.25 / powerTests);
        var monotone = power.All(p => p.Zip(p.Skip(1)).All(pair => pair.Second >= pair.First - noise));
        var top = power.Min(p => p[^1]);
        result.Claims.Add(new Claim(
            "Power rises with the effect size, from the nominal level at no effect to near 1 at a large effect, for both statistics.",
            monotone && top >= 0.8 && power.All(p => p[0] <= alpha + (2.576 * Math.Sqrt(alpha * (1 - alpha) / powerTests))),
            string.Create(CultureInfo.InvariantCulture,
                $"power at TV = 0: {string.Join(", ", power.Select(p => F(p[0])))}; at TV = {effect[^1]:F3}: {string.Join(", ", power.Select(p => F(p[^1])))}; non-decreasing within 2 s.e.: {monotone}.")));

        var gains = Enumerable.Range(1, mixes.Length - 1).Select(m => power[1][m] - power[0][m]).ToArray();
        result.Claims.Add(new Claim(
            "Against an ordered location shift the ordinal KS statistic is more powerful than the chi-square statistic, which ignores the order of the categories.",
            gains.Average() > 0,
            string.Create(CultureInfo.InvariantCulture,
                $"mean power gain of KS over chi-square across the {gains.Length} non-null effects: {gains.Average():+0.000;-0.000}; largest gain {gains.Max():F3}.")));
        return result;
    }

    /// <summary>P-values of <paramref name="tests"/> independent tests of samples drawn from <paramref name="pa"/> and <paramref name="pb"/>.</summary>
    private static double[] PValues(double[] pa, double[] pb, int n, int tests, int permutations, CountStatistic statistic, int seed, int stream, CancellationToken ct)
    {
        var pvalues = new double[tests];
        Parallel.For(0, tests, new ParallelOptions { CancellationToken = ct }, t =>
        {
            var rng = Seeds.Create(seed, ((long)stream << 32) + t);
            var a = Sample(pa, n, rng);
            var b = Sample(pb, n, rng);
            pvalues[t] = PermutationTest.Categorical(a, b, pa.Length, statistic, permutations, Seeds.Derive(seed, ((long)stream << 32) + t + (1L << 31))).PValue;
        });
        return pvalues;
    }

    private static int[] Sample(double[] p, int n, Random rng)
    {
        var answers = new int[n];
        for (var i = 0; i < n; i++)
        {
            var u = rng.NextDouble();
            var k = 0;
            for (var acc = p[0]; u >= acc && k < p.Length - 1; acc += p[++k])
            {
            }

            answers[i] = k;
        }

        return answers;
    }

    private static double[] Mix(double m)
    {
        var k = BaseDistribution.Length;
        var shifted = new double[k];
        for (var i = 0; i < k; i++)
        {
            shifted[Math.Min(i + 1, k - 1)] += BaseDistribution[i];
        }

        return [.. BaseDistribution.Select((p, i) => ((1 - m) * p) + (m * shifted[i]))];
    }


    private static string Slug(string name) => new([.. name.ToLowerInvariant().Where(char.IsLetterOrDigit)]);

    private static string F(double x) => x.ToString("F3", CultureInfo.InvariantCulture);
}

using Attune.Core.Randomness;
using Attune.Core.Statistics;
using Attune.Surveys.Planning;
using Attune.Surveys.Testing;

namespace Attune.Surveys.Tests;

public class TestingTests
{
    private static PairedTable Table(int[] human, int[] llm, string q = "Q", string g = "G") => new()
    {
        Question = q, Group = g, Options = [.. Enumerable.Range(0, human.Length).Select(k => k.ToString(System.Globalization.CultureInfo.InvariantCulture))],
        Human = human, Llm = llm,
    };

    [Fact]
    public void Chi_square_statistic_and_asymptotic_p_equal_the_closed_form()
    {
        // Expected counts are 20 in every cell: X² = 2·(10² + 0 + 10²)/20 = 20 with 2 df, p = exp(−20/2).
        var report = MisalignmentTest.Run([Table([10, 20, 30], [30, 20, 10])], new SurveyTestOptions { Asymptotic = true, BootstrapResamples = 0 });
        var r = Assert.Single(report.Results);
        Assert.Equal(20.0, r.Statistic, 12);
        Assert.Equal(Math.Exp(-10), r.PValue, 15);

        // An option empty in both rows is dropped: same statistic, still 2 df.
        var dropped = MisalignmentTest.Run([Table([10, 0, 20, 30], [30, 0, 20, 10])], new SurveyTestOptions { Asymptotic = true, BootstrapResamples = 0 });
        Assert.Equal(20.0, dropped.Results[0].Statistic, 12);
        Assert.Equal(Math.Exp(-10), dropped.Results[0].PValue, 15);

        // 2×2: X² = N(ad − bc)² / (r1 r2 c1 c2), df 1, p = erfc(√(X²/2)).
        int a = 12, b = 8, c = 5, d = 15, n = a + b + c + d;
        double x2 = n * Math.Pow(a * d - b * c, 2) / ((double)(a + b) * (c + d) * (a + c) * (b + d));
        var two = MisalignmentTest.Run([Table([a, b], [c, d])], new SurveyTestOptions { Asymptotic = true, BootstrapResamples = 0 });
        Assert.Equal(x2, two.Results[0].Statistic, 10);
        Assert.Equal(MathNet.Numerics.SpecialFunctions.Erfc(Math.Sqrt(x2 / 2)), two.Results[0].PValue, 12);
    }

    [Theory]
    [InlineData(SurveyStatistic.ChiSquare)]
    [InlineData(SurveyStatistic.KolmogorovSmirnov)]
    public void Permutation_p_on_a_tiny_table_equals_exact_enumeration(SurveyStatistic statistic)
    {
        int[] human = [4, 1, 0, 2], llm = [1, 2, 3, 1];
        double exact = ExactPValue(human, llm, MisalignmentTest.StatisticFunction(statistic));
        const int b = 200_000;
        var p = MisalignmentTest.PValues([Table(human, llm)], new SurveyTestOptions { Statistic = statistic, Permutations = b, Seed = 5 })[0].PValue;
        double se = Math.Sqrt(exact * (1 - exact) / b);
        Assert.InRange(p, exact - 4 * se - 1.0 / b, exact + 4 * se + 1.0 / b);
    }

    /// <summary>P(T ≥ t) over every table with the same margins, each with its multivariate hypergeometric probability.</summary>
    private static double ExactPValue(int[] a, int[] b, CountStatistic statistic)
    {
        int k = a.Length;
        var pooled = a.Zip(b, (x, y) => x + y).ToArray();
        int na = a.Sum(), n = pooled.Sum();
        double observed = statistic(a, b), total = 0, tail = 0;
        var x = new int[k];
        void Recurse(int i, int left)
        {
            if (i == k - 1)
            {
                if (left > pooled[i]) return;
                x[i] = left;
                double prob = 1;
                for (int j = 0; j < k; j++) prob *= Binomial(pooled[j], x[j]);
                prob /= Binomial(n, na);
                var y = pooled.Zip(x, (c, xa) => c - xa).ToArray();
                total += prob;
                if (statistic(x, y) >= observed - 1e-9 * Math.Abs(observed)) tail += prob;
                return;
            }
            for (int v = 0; v <= Math.Min(pooled[i], left); v++)
            {
                x[i] = v;
                Recurse(i + 1, left - v);
            }
        }
        Recurse(0, na);
        Assert.Equal(1.0, total, 10);
        return tail;
    }

    private static double Binomial(int n, int k) => Math.Round(Math.Exp(MathNet.Numerics.SpecialFunctions.FactorialLn(n) - MathNet.Numerics.SpecialFunctions.FactorialLn(k) - MathNet.Numerics.SpecialFunctions.FactorialLn(n - k)));

    [Theory]
    [InlineData(SurveyStatistic.ChiSquare)]
    [InlineData(SurveyStatistic.KolmogorovSmirnov)]
    public void Null_p_values_are_uniform(SurveyStatistic statistic)
    {
        var rng = Seeds.Create(11);
        double[] p0 = [0.1, 0.2, 0.3, 0.25, 0.15];
        var tables = Enumerable.Range(0, 1000).Select(_ => Table(PowerAnalysis.Multinomial(rng, p0, 300), PowerAnalysis.Multinomial(rng, p0, 150))).ToList();
        var p = MisalignmentTest.PValues(tables, new SurveyTestOptions { Statistic = statistic, Permutations = 999, Seed = 3 }).Select(x => x.PValue).ToArray();
        Assert.True(KolmogorovSmirnov.UniformTest(p).PValue > 0.01);
        Assert.InRange(p.Count(x => x <= 0.05) / 1000.0, 0.02, 0.08);
    }

    [Fact]
    public void Shifted_answers_are_detected_and_ks_uses_the_order()
    {
        var rng = Seeds.Create(12);
        double[] p0 = [0.2, 0.2, 0.2, 0.2, 0.2];
        var q = PowerAnalysis.Shift(p0, 0.15);
        var tables = Enumerable.Range(0, 200).Select(_ => Table(PowerAnalysis.Multinomial(rng, p0, 400), PowerAnalysis.Multinomial(rng, q, 200))).ToList();
        double Power(SurveyStatistic s) => MisalignmentTest.PValues(tables, new SurveyTestOptions { Statistic = s, Permutations = 999 }).Count(x => x.PValue <= 0.05) / 200.0;
        double chi = Power(SurveyStatistic.ChiSquare), ks = Power(SurveyStatistic.KolmogorovSmirnov);
        Assert.True(chi > 0.6, $"chi-square power {chi}");
        Assert.True(ks > 0.6, $"KS power {ks}");
    }

    [Fact]
    public void Corrections_are_applied_within_each_group_and_overall()
    {
        var rng = Seeds.Create(13);
        var tables = new List<PairedTable>();
        foreach (var g in new[] { "G1", "G2" })
        {
            for (int i = 0; i < 20; i++)
            {
                double[] h = [0.3, 0.4, 0.3];
                double[] l = i < 5 ? [0.6, 0.3, 0.1] : h;
                tables.Add(Table(PowerAnalysis.Multinomial(rng, h, 200), PowerAnalysis.Multinomial(rng, l, 200), $"Q{i}", g));
            }
        }
        foreach (var method in new[] { PAdjustMethod.BenjaminiHochberg, PAdjustMethod.BenjaminiYekutieli, PAdjustMethod.Holm, PAdjustMethod.Bonferroni })
        {
            var options = new SurveyTestOptions { Permutations = 2000, Correction = method, BootstrapResamples = 0, Seed = 4 };
            var report = MisalignmentTest.Run(tables, options);
            var raw = report.Results.Select(r => r.PValue).ToArray();
            Assert.Equal(MultipleTesting.Adjust(raw, method), report.Results.Select(r => r.PAdjustedOverall).ToArray());
            foreach (var g in new[] { "G1", "G2" })
            {
                var inGroup = report.Results.Where(r => r.Group == g).ToArray();
                Assert.Equal(MultipleTesting.Adjust(inGroup.Select(r => r.PValue).ToArray(), method), inGroup.Select(r => r.PAdjusted).ToArray());
                var s = report.Summary.Single(x => x.Group == g);
                Assert.Equal(20, s.Questions);
                Assert.Equal(inGroup.Count(r => r.PAdjusted <= 0.05), s.Rejected);
                Assert.Equal(s.Rejected / 20.0, s.ShareRejected);
            }
            Assert.All(report.Results, r => Assert.Equal(r.PAdjusted <= 0.05, r.Rejected));
        }
    }

    // Benjamini & Hochberg (1995), §4: 15 p-values from a study of myocardial infarction treatments.
    // BH at q = 0.05 rejects the 4 smallest; Bonferroni (and Holm) reject 3. Adjusted values as R's p.adjust gives them.
    private static readonly double[] BhExample = [0.0001, 0.0004, 0.0019, 0.0095, 0.0201, 0.0278, 0.0298, 0.0344, 0.0459, 0.3240, 0.4262, 0.5719, 0.6528, 0.7590, 1.000];

    [Fact]
    public void Published_worked_examples_of_BH_BY_and_Holm()
    {
        var bh = MultipleTesting.Adjust(BhExample, PAdjustMethod.BenjaminiHochberg);
        double[] bhR = [0.0015, 0.003, 0.0095, 0.035625, 0.0603, 0.063857, 0.063857, 0.0645, 0.0765, 0.486, 0.581182, 0.714875, 0.753231, 0.813214, 1.0];
        for (int i = 0; i < bhR.Length; i++) Assert.Equal(bhR[i], bh[i], 1e-6);
        Assert.Equal(4, bh.Count(p => p <= 0.05));

        var by = MultipleTesting.Adjust(BhExample, PAdjustMethod.BenjaminiYekutieli);
        double[] byR = [0.004977, 0.009955, 0.031523, 0.118212, 0.200089, 0.211893, 0.211893, 0.214026, 0.253845, 1, 1, 1, 1, 1, 1];
        for (int i = 0; i < byR.Length; i++) Assert.Equal(byR[i], by[i], 1e-6);
        Assert.Equal(3, by.Count(p => p <= 0.05));

        var holm = MultipleTesting.Adjust(BhExample, PAdjustMethod.Holm);
        double[] holmR = [0.0015, 0.0056, 0.0247, 0.114, 0.2211, 0.278, 0.278, 0.278, 0.3213, 1, 1, 1, 1, 1, 1];
        for (int i = 0; i < holmR.Length; i++) Assert.Equal(holmR[i], holm[i], 1e-6);
        Assert.Equal(3, holm.Count(p => p <= 0.05));

        // Holm (1979) as usually worked: p = (0.01, 0.04, 0.03, 0.005) at 0.05 rejects H1 and H4 only.
        var small = MultipleTesting.Adjust([0.01, 0.04, 0.03, 0.005], PAdjustMethod.Holm);
        Assert.Equal([0.03, 0.06, 0.06, 0.02], small.Select(x => Math.Round(x, 10)).ToArray());
    }

    [Fact]
    public void Effect_sizes_and_bootstrap_intervals()
    {
        var e = EffectSizes.Estimate([50, 50, 0], [0, 50, 50], 1000, 0.95, seed: 1);
        Assert.Equal(0.5, e.TotalVariation.Estimate, 12);
        Assert.Equal(1.0, e.Wasserstein.Estimate, 12); // every answer moves one place up
        Assert.InRange(e.TotalVariation.Estimate, e.TotalVariation.Lower, e.TotalVariation.Upper);
        Assert.InRange(e.TotalVariation.Upper - e.TotalVariation.Lower, 0.05, 0.3);
        Assert.Equal(e, EffectSizes.Estimate([50, 50, 0], [0, 50, 50], 1000, 0.95, seed: 1));

        // Coverage: TV between two samples of the same p is biased upwards, so check a real gap: p vs shifted q.
        var rng = Seeds.Create(3);
        double[] p = [0.2, 0.3, 0.5], q = [0.4, 0.3, 0.3];
        int covered = 0;
        for (int i = 0; i < 200; i++)
        {
            var ci = EffectSizes.Estimate(PowerAnalysis.Multinomial(rng, p, 500), PowerAnalysis.Multinomial(rng, q, 500), 300, 0.9, seed: i).TotalVariation;
            if (ci.Lower <= 0.2 && 0.2 <= ci.Upper) covered++;
        }
        Assert.InRange(covered / 200.0, 0.82, 0.97);
    }

    [Fact]
    public void Run_is_deterministic_for_a_seed()
    {
        var tables = new[] { Table([10, 20, 30], [15, 15, 20]), Table([5, 5], [9, 1]) };
        var o = new SurveyTestOptions { Permutations = 3000, Seed = 9, BootstrapResamples = 100 };
        var a = MisalignmentTest.Run(tables, o);
        var b = MisalignmentTest.Run(tables, o with { MaxDegreeOfParallelism = 1 });
        Assert.Equal(a.Results.Select(r => (r.PValue, r.TvInterval![0], r.TvInterval[1])), b.Results.Select(r => (r.PValue, r.TvInterval![0], r.TvInterval[1])));
    }
}

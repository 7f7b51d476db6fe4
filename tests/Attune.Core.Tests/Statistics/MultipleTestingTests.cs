using Attune.Core.Randomness;
using Attune.Core.Statistics;

namespace Attune.Core.Tests.Statistics;

public class MultipleTestingTests
{
    // p = (0.01, 0.04, 0.03, 0.005, 0.5), m = 5; sorted: 0.005 0.01 0.03 0.04 0.5. Worked by hand
    // from the definitions R's p.adjust implements:
    //   bonferroni: min(1, 5p)                           → 0.05 0.2 0.15 0.025 1
    //   holm: cummax of (5,4,3,2,1)·p_(i) = .025 .04 .09 .08 .5 → .025 .04 .09 .09 .5
    //   BH: cummin from the top of (5/i)·p_(i) = .025 .025 .05 .05 .5 → unchanged
    //   BY: BH · (1 + 1/2 + 1/3 + 1/4 + 1/5 = 137/60), capped at 1.
    private static readonly double[] P = [0.01, 0.04, 0.03, 0.005, 0.5];

    [Fact]
    public void Bonferroni_by_hand() =>
        AssertClose([0.05, 0.2, 0.15, 0.025, 1], MultipleTesting.Adjust(P, PAdjustMethod.Bonferroni));

    [Fact]
    public void Holm_by_hand() =>
        AssertClose([0.04, 0.09, 0.09, 0.025, 0.5], MultipleTesting.Adjust(P, PAdjustMethod.Holm));

    [Fact]
    public void Benjamini_Hochberg_by_hand() =>
        AssertClose([0.025, 0.05, 0.05, 0.025, 0.5], MultipleTesting.Adjust(P, PAdjustMethod.BenjaminiHochberg));

    [Fact]
    public void Benjamini_Yekutieli_by_hand()
    {
        const double q = 137.0 / 60;
        AssertClose([0.025 * q, 0.05 * q, 0.05 * q, 0.025 * q, 1], MultipleTesting.Adjust(P, PAdjustMethod.BenjaminiYekutieli));
    }

    [Fact]
    public void Ties_and_monotonicity_by_hand()
    {
        // p = (0.02, 0.02, 0.5): holm (3, 2, 1)·p = .06 .04 .5 → cummax .06 .06 .5;
        // BH (3/1, 3/2, 3/3)·p = .06 .03 .5 → cummin from the top .03 .03 .5.
        AssertClose([0.06, 0.06, 0.5], MultipleTesting.Adjust([0.02, 0.02, 0.5], PAdjustMethod.Holm));
        AssertClose([0.03, 0.03, 0.5], MultipleTesting.Adjust([0.02, 0.02, 0.5], PAdjustMethod.BenjaminiHochberg));
        // R's own ?p.adjust-style check: a single p-value is unchanged by every method.
        foreach (var method in Enum.GetValues<PAdjustMethod>())
            AssertClose([0.3], MultipleTesting.Adjust([0.3], method));
        Assert.Empty(MultipleTesting.Adjust([], PAdjustMethod.Holm));
    }

    [Fact]
    public void Reject_flags_use_adjusted_p_at_most_alpha()
    {
        Assert.Equal([true, true, true, true, false], MultipleTesting.Reject(P, 0.05, PAdjustMethod.BenjaminiHochberg));
        Assert.Equal([true, false, false, true, false], MultipleTesting.Reject(P, 0.05, PAdjustMethod.Holm));
        Assert.Equal([false, false, false, false, false], MultipleTesting.Reject(P, 0.05, PAdjustMethod.BenjaminiYekutieli)); // 0.025·137/60 = 0.057 > 0.05
        Assert.ThrowsAny<ArgumentException>(() => MultipleTesting.Reject(P, 0, PAdjustMethod.Holm));
        Assert.ThrowsAny<ArgumentException>(() => MultipleTesting.Reject(P, 1.5, PAdjustMethod.Holm));
    }

    [Fact]
    public void Adjusted_p_values_are_monotone_at_least_raw_and_ordered_between_methods()
    {
        // Property check over seeded random families: adjusted p ≥ raw p, ≤ 1, in the same order
        // as the raw p, and Holm ≤ Bonferroni, BH ≤ Holm, BH ≤ BY.
        var rng = Seeds.Create(2718);
        for (int trial = 0; trial < 500; trial++)
        {
            int m = rng.Next(1, 60);
            var p = Enumerable.Range(0, m).Select(_ => rng.Next(4) == 0 ? Math.Round(rng.NextDouble(), 2) : Math.Pow(rng.NextDouble(), 3)).ToArray();
            var adjusted = Enum.GetValues<PAdjustMethod>().ToDictionary(k => k, k => MultipleTesting.Adjust(p, k));
            foreach (var a in adjusted.Values)
            {
                for (int i = 0; i < m; i++)
                {
                    Assert.InRange(a[i], p[i], 1.0);
                    for (int j = 0; j < m; j++)
                        if (p[i] <= p[j]) Assert.True(a[i] <= a[j]);
                }
            }
            for (int i = 0; i < m; i++)
            {
                Assert.True(adjusted[PAdjustMethod.Holm][i] <= adjusted[PAdjustMethod.Bonferroni][i] + 1e-15);
                Assert.True(adjusted[PAdjustMethod.BenjaminiHochberg][i] <= adjusted[PAdjustMethod.Holm][i] + 1e-15);
                Assert.True(adjusted[PAdjustMethod.BenjaminiHochberg][i] <= adjusted[PAdjustMethod.BenjaminiYekutieli][i] + 1e-15);
            }
        }
    }

    [Fact]
    public void Bad_p_values_are_rejected()
    {
        Assert.ThrowsAny<ArgumentException>(() => MultipleTesting.Adjust([0.1, double.NaN], PAdjustMethod.Holm));
        Assert.ThrowsAny<ArgumentException>(() => MultipleTesting.Adjust([0.1, 1.2], PAdjustMethod.BenjaminiHochberg));
        Assert.ThrowsAny<ArgumentException>(() => MultipleTesting.Adjust([-0.1], PAdjustMethod.Bonferroni));
        Assert.ThrowsAny<ArgumentException>(() => MultipleTesting.Adjust([0.1], (PAdjustMethod)42));
    }

    private static void AssertClose(double[] expected, double[] actual)
    {
        Assert.Equal(expected.Length, actual.Length);
        for (int i = 0; i < expected.Length; i++) Assert.Equal(expected[i], actual[i], 12);
    }
}

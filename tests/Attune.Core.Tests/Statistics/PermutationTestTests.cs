using Attune.Core.Randomness;
using Attune.Core.Statistics;

namespace Attune.Core.Tests.Statistics;

public class PermutationTestTests
{
    private static readonly CountStatistic[] AllStatistics =
        [CountStatistics.ChiSquare, CountStatistics.KolmogorovSmirnov, CountStatistics.TotalVariation, CountStatistics.Wasserstein1];

    private static double AbsMeanDifference(ReadOnlySpan<double> a, ReadOnlySpan<double> b)
    {
        double sa = 0, sb = 0;
        foreach (double v in a) sa += v;
        foreach (double v in b) sb += v;
        return Math.Abs(sa / a.Length - sb / b.Length);
    }

    [Fact]
    public void TwoSample_matches_exact_enumeration_of_all_splits()
    {
        // Reference: the exact permutation p-value P(T* >= T) obtained by enumerating all
        // C(9, 4) = 126 ways to choose the first group from the pooled sample (computed below,
        // independently of the engine). The Monte-Carlo p with B = 20,000 must lie within 4
        // binomial standard errors of it.
        double[] a = [1.2, 3.4, 0.5, 2.2];
        double[] b = [4.1, 5.0, 3.3, 6.2, 2.9];
        double[] pooled = [.. a, .. b];
        double observed = AbsMeanDifference(a, b);
        int hits = 0, total = 0;
        foreach (var subset in Subsets(pooled.Length, a.Length))
        {
            var first = subset.Select(i => pooled[i]).ToArray();
            var second = Enumerable.Range(0, pooled.Length).Except(subset).Select(i => pooled[i]).ToArray();
            total++;
            if (AbsMeanDifference(first, second) >= observed - 1e-12) hits++;
        }
        Assert.Equal(126, total);
        double exact = (double)hits / total;

        const int B = 20_000;
        var result = PermutationTest.TwoSample<double>(a, b, AbsMeanDifference, B, seed: 11);
        Assert.Equal(observed, result.Statistic, 12);
        Assert.Equal(B, result.Permutations);
        Assert.Equal((1.0 + result.Exceedances) / (B + 1.0), result.PValue, 15);
        double se = Math.Sqrt(exact * (1 - exact) / B);
        Assert.InRange(result.PValue, exact - 4 * se, exact + 4 * se);
    }

    [Fact]
    public void Categorical_matches_exact_multivariate_hypergeometric_enumeration_for_every_statistic()
    {
        // Reference: under the null the first row of a 2×K table with fixed margins has the
        // multivariate hypergeometric law P(x) = Π_k C(c_k, x_k) / C(N, n_a). Enumerating every
        // feasible x gives the exact p = Σ P(x)·1[T(x) ≥ T(obs)], ties included.
        int[] countsA = [3, 1, 2, 0];
        int[] countsB = [1, 4, 1, 2];
        var first = Expand(countsA);
        var second = Expand(countsB);
        const int B = 20_000;
        foreach (var statistic in AllStatistics)
        {
            double exact = ExactCategoricalPValue(countsA, countsB, statistic);
            var result = PermutationTest.Categorical(first, second, 4, statistic, B, seed: 5);
            Assert.Equal(statistic(countsA, countsB), result.Statistic, 12);
            double se = Math.Sqrt(exact * (1 - exact) / B);
            Assert.InRange(result.PValue, exact - 4 * se - 1e-4, exact + 4 * se + 1e-4);
        }
    }

    [Fact]
    public void Categorical_on_a_larger_table_agrees_with_exact_enumeration()
    {
        // Same reference as above on a 2×3 table with 30 + 25 answers (exact sum over all feasible tables).
        int[] countsA = [12, 10, 8];
        int[] countsB = [5, 9, 11];
        const int B = 20_000;
        foreach (var statistic in new CountStatistic[] { CountStatistics.ChiSquare, CountStatistics.Wasserstein1 })
        {
            double exact = ExactCategoricalPValue(countsA, countsB, statistic);
            var result = PermutationTest.CategoricalCounts(countsA, countsB, statistic, B, seed: 99);
            double se = Math.Sqrt(exact * (1 - exact) / B);
            Assert.InRange(result.PValue, exact - 4 * se, exact + 4 * se);
        }
    }

    [Fact]
    public void Hypergeometric_table_inversion_reproduces_the_exact_pmf()
    {
        // Reference: P(X = x) = C(K, x) C(N−K, n−x) / C(N, n) (closed form). Inverting a fine
        // deterministic grid of M uniforms must give each value with frequency within 1/M + 1e-12.
        foreach (var (N, K, n) in new[] { (20, 7, 9), (50, 45, 10), (600, 120, 300), (13, 13, 4), (30, 1, 29) })
        {
            var lf = Hypergeometric.LogFactorials(N);
            var table = new HypergeometricTable(N, K, n, lf, new double[n + 1]);
            const int M = 200_000;
            var freq = new double[n + 1];
            for (int i = 0; i < M; i++) freq[table.Invert((i + 0.5) / M)] += 1.0 / M;
            for (int x = 0; x <= n; x++)
            {
                double exact = x > K || n - x > N - K ? 0 : Choose(K, x) * Choose(N - K, n - x) / Choose(N, n);
                Assert.InRange(freq[x], exact - 1.0 / M - 1e-12, exact + 1.0 / M + 1e-12);
            }
        }
    }

    [Fact]
    public void Identical_groups_give_p_value_one_because_ties_count()
    {
        // T = 0 for identical rows and every T* ≥ 0, so every permutation ties or exceeds: p = 1 exactly.
        int[] counts = [10, 20, 30];
        foreach (var statistic in AllStatistics)
        {
            var r = PermutationTest.CategoricalCounts(counts, counts, statistic, 500, seed: 1);
            Assert.Equal(500, r.Exceedances);
            Assert.Equal(1.0, r.PValue);
        }
    }

    [Fact]
    public void TwoSample_null_p_values_are_uniform()
    {
        // Under H0 with a continuous statistic the Monte-Carlo p-value is uniform on {1/(B+1), …, 1};
        // 1,000 of them must pass a one-sample KS test against Uniform(0, 1) at level 0.01.
        const int Tests = 1000, B = 199;
        var p = new double[Tests];
        Parallel.For(0, Tests, i =>
        {
            var rng = Seeds.Create(2024, i);
            var a = Enumerable.Range(0, 15).Select(_ => Normal(rng)).ToArray();
            var b = Enumerable.Range(0, 20).Select(_ => Normal(rng)).ToArray();
            p[i] = PermutationTest.TwoSample<double>(a, b, AbsMeanDifference, B, Seeds.Derive(7, i), maxDegreeOfParallelism: 1).PValue;
        });
        var ks = KolmogorovSmirnov.UniformTest(p);
        Assert.True(ks.PValue > 0.01, $"KS D = {ks.Statistic}, p = {ks.PValue}");
    }

    [Fact]
    public void Categorical_null_p_values_are_not_anti_conservative()
    {
        // Under H0 a valid permutation p-value satisfies P(p ≤ α) ≤ α. With 1,000 tests the
        // binomial standard deviation at α = 0.05 is 0.0069; allow 0.05 + 0.025 (3.6 SD).
        const int Tests = 1000, B = 199;
        double[] probabilities = [0.1, 0.4, 0.3, 0.2];
        var rng = Seeds.Create(77);
        var tests = new (int[], int[])[Tests];
        for (int i = 0; i < Tests; i++)
            tests[i] = (Draw(rng, probabilities, 40), Draw(rng, probabilities, 60));
        foreach (var statistic in new CountStatistic[] { CountStatistics.ChiSquare, CountStatistics.KolmogorovSmirnov })
        {
            var results = PermutationTest.CategoricalMany(tests, 4, statistic, B, seed: 3);
            double rejectRate = results.Count(r => r.PValue <= 0.05) / (double)Tests;
            Assert.True(rejectRate <= 0.075, $"P(p <= 0.05) = {rejectRate}");
            Assert.True(rejectRate >= 0.01, $"P(p <= 0.05) = {rejectRate}: implausibly conservative");
        }
    }

    [Fact]
    public void Categorical_detects_a_real_difference()
    {
        // Power sanity check: 200 answers per group with clearly different distributions.
        var rng = Seeds.Create(8);
        var a = Draw(rng, [0.1, 0.2, 0.3, 0.4], 200);
        var b = Draw(rng, [0.4, 0.3, 0.2, 0.1], 200);
        var r = PermutationTest.Categorical(a, b, 4, CountStatistics.Wasserstein1, 2000, seed: 1);
        Assert.Equal(0, r.Exceedances);
        Assert.Equal(1.0 / 2001, r.PValue, 15);
    }

    [Fact]
    public void Same_seed_gives_identical_results_and_thread_count_does_not_matter()
    {
        var rng = Seeds.Create(3);
        var a = Draw(rng, [0.25, 0.25, 0.25, 0.25], 120);
        var b = Draw(rng, [0.2, 0.3, 0.25, 0.25], 150);
        const int B = 5500; // six chunks, the last one partial
        var one = PermutationTest.Categorical(a, b, 4, CountStatistics.ChiSquare, B, seed: 42, maxDegreeOfParallelism: 1);
        var two = PermutationTest.Categorical(a, b, 4, CountStatistics.ChiSquare, B, seed: 42, maxDegreeOfParallelism: 2);
        var all = PermutationTest.Categorical(a, b, 4, CountStatistics.ChiSquare, B, seed: 42);
        var again = PermutationTest.Categorical(a, b, 4, CountStatistics.ChiSquare, B, seed: 42);
        Assert.Equal(one, two);
        Assert.Equal(one, all);
        Assert.Equal(one, again);
        var other = PermutationTest.Categorical(a, b, 4, CountStatistics.ChiSquare, B, seed: 43);
        Assert.NotEqual(one.Exceedances, other.Exceedances);

        double[] x = [.. a.Select(v => v + 0.5 * Math.Sin(v))], y = [.. b.Select(v => (double)v)];
        var s1 = PermutationTest.TwoSample<double>(x, y, AbsMeanDifference, B, seed: 9, maxDegreeOfParallelism: 1);
        var s2 = PermutationTest.TwoSample<double>(x, y, AbsMeanDifference, B, seed: 9, maxDegreeOfParallelism: 2);
        var s3 = PermutationTest.TwoSample<double>(x, y, AbsMeanDifference, B, seed: 9);
        Assert.Equal(s1, s2);
        Assert.Equal(s1, s3);
    }

    [Fact]
    public void Batch_results_equal_single_tests_with_derived_seeds_whatever_the_thread_count()
    {
        var rng = Seeds.Create(12);
        var tests = Enumerable.Range(0, 40)
            .Select(_ => (Draw(rng, [0.2, 0.2, 0.2, 0.2, 0.2], rng.Next(20, 80)), Draw(rng, [0.3, 0.1, 0.2, 0.2, 0.2], rng.Next(20, 80))))
            .ToArray();
        var batch1 = PermutationTest.CategoricalMany(tests, 5, CountStatistics.TotalVariation, 1500, seed: 21, maxDegreeOfParallelism: 1);
        var batch2 = PermutationTest.CategoricalMany(tests, 5, CountStatistics.TotalVariation, 1500, seed: 21, maxDegreeOfParallelism: 2);
        Assert.Equal(batch1, batch2);
        for (int i = 0; i < tests.Length; i++)
        {
            var single = PermutationTest.Categorical(tests[i].Item1, tests[i].Item2, 5, CountStatistics.TotalVariation, 1500, Seeds.Derive(21, i));
            Assert.Equal(single, batch1[i]);
        }
        var counts = tests.Select(t => (CountStatistics.Count(t.Item1, 5), CountStatistics.Count(t.Item2, 5))).ToArray();
        Assert.Equal(batch1, PermutationTest.CategoricalCountsMany(counts, CountStatistics.TotalVariation, 1500, seed: 21));
    }

    [Fact]
    public void CountAtLeast_matches_a_plain_loop()
    {
        var rng = Seeds.Create(1);
        for (int n = 0; n < 40; n++)
        {
            var values = Enumerable.Range(0, n).Select(_ => Math.Round(rng.NextDouble(), 1)).ToArray();
            if (n > 3) values[2] = double.NaN;
            Assert.Equal(values.Count(v => v >= 0.5), PermutationTest.CountAtLeast(values, 0.5));
        }
    }

    [Fact]
    public void Bad_input_is_rejected_with_argument_exceptions()
    {
        int[] ok = [0, 1, 1];
        Assert.ThrowsAny<ArgumentException>(() => PermutationTest.Categorical([], ok, 2, CountStatistics.ChiSquare, 10, 1));
        Assert.ThrowsAny<ArgumentException>(() => PermutationTest.Categorical(ok, [0, 2], 2, CountStatistics.ChiSquare, 10, 1));
        Assert.ThrowsAny<ArgumentException>(() => PermutationTest.Categorical(ok, [0, -1], 2, CountStatistics.ChiSquare, 10, 1));
        Assert.ThrowsAny<ArgumentException>(() => PermutationTest.Categorical(ok, ok, 1, CountStatistics.ChiSquare, 10, 1));
        Assert.ThrowsAny<ArgumentException>(() => PermutationTest.Categorical(ok, ok, 2, CountStatistics.ChiSquare, 0, 1));
        Assert.ThrowsAny<ArgumentException>(() => PermutationTest.CategoricalCounts([1, -1], [1, 2], CountStatistics.ChiSquare, 10, 1));
        Assert.ThrowsAny<ArgumentException>(() => PermutationTest.CategoricalCounts([1, 2, 3], [1, 2], CountStatistics.ChiSquare, 10, 1));
        Assert.ThrowsAny<ArgumentException>(() => PermutationTest.CategoricalCounts([0, 0], [1, 2], CountStatistics.ChiSquare, 10, 1));
        Assert.ThrowsAny<ArgumentException>(() => PermutationTest.CategoricalCounts([3], [1], CountStatistics.ChiSquare, 10, 1));
        Assert.ThrowsAny<ArgumentException>(() => PermutationTest.CategoricalMany([(ok, [0, 5])], 2, CountStatistics.ChiSquare, 10, 1));
        Assert.ThrowsAny<ArgumentException>(() => PermutationTest.TwoSample<double>([], [1.0], AbsMeanDifference, 10, 1));
        Assert.ThrowsAny<ArgumentException>(() => PermutationTest.TwoSample<double>([1.0], [2.0], AbsMeanDifference, -3, 1));
        Assert.ThrowsAny<ArgumentException>(() => PermutationTest.TwoSample<double>([1.0], [2.0], (_, _) => double.NaN, 10, 1));
        var e = Assert.ThrowsAny<ArgumentException>(() => PermutationTest.Categorical(ok, [0, 3], 2, CountStatistics.ChiSquare, 10, 1));
        Assert.Contains("0..1", e.Message, StringComparison.Ordinal);
    }

    internal static double ExactCategoricalPValue(int[] countsA, int[] countsB, CountStatistic statistic)
    {
        int k = countsA.Length;
        var pooled = countsA.Zip(countsB, (x, y) => x + y).ToArray();
        int n = pooled.Sum(), na = countsA.Sum();
        double observed = statistic(countsA, countsB);
        double p = 0, mass = 0;
        var x = new int[k];
        void Recurse(int j, int left)
        {
            if (j == k - 1)
            {
                if (left > pooled[j]) return;
                x[j] = left;
                double prob = 1;
                for (int i = 0; i < k; i++) prob *= Choose(pooled[i], x[i]);
                prob /= Choose(n, na);
                var y = pooled.Zip(x, (c, v) => c - v).ToArray();
                mass += prob;
                if (statistic(x, y) >= observed - 1e-9 * Math.Abs(observed)) p += prob;
                return;
            }
            for (int v = 0; v <= Math.Min(pooled[j], left); v++)
            {
                x[j] = v;
                Recurse(j + 1, left - v);
            }
        }
        Recurse(0, na);
        Assert.Equal(1.0, mass, 10); // the enumeration covers the whole null distribution
        return p;
    }

    internal static double Choose(int n, int k)
    {
        if (k < 0 || k > n) return 0;
        double r = 1;
        for (int i = 1; i <= k; i++) r = r * (n - k + i) / i;
        return r;
    }

    private static IEnumerable<int[]> Subsets(int n, int k)
    {
        var idx = Enumerable.Range(0, k).ToArray();
        while (true)
        {
            yield return (int[])idx.Clone();
            int i = k - 1;
            while (i >= 0 && idx[i] == n - k + i) i--;
            if (i < 0) yield break;
            idx[i]++;
            for (int j = i + 1; j < k; j++) idx[j] = idx[j - 1] + 1;
        }
    }

    private static int[] Expand(int[] counts) =>
        counts.SelectMany((c, k) => Enumerable.Repeat(k, c)).ToArray();

    internal static int[] Draw(Random rng, double[] probabilities, int n)
    {
        var answers = new int[n];
        for (int i = 0; i < n; i++)
        {
            double u = rng.NextDouble(), c = 0;
            int k = 0;
            while (k < probabilities.Length - 1 && u >= (c += probabilities[k])) k++;
            answers[i] = k;
        }
        return answers;
    }

    internal static double Normal(Random rng) =>
        Math.Sqrt(-2 * Math.Log(1 - rng.NextDouble())) * Math.Cos(2 * Math.PI * rng.NextDouble());
}

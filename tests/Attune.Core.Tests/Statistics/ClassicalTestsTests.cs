using Attune.Core.Randomness;
using Attune.Core.Statistics;

namespace Attune.Core.Tests.Statistics;

public class ClassicalTestsTests
{
    [Fact]
    public void ChiSquare_on_Agrestis_gender_by_party_table()
    {
        // Agresti, An Introduction to Categorical Data Analysis (2nd ed., 2007), Table 2.5:
        // gender × party identification, females 762/327/468, males 484/239/477; published
        // X² = 30.1 with df = 2. For df = 2 the upper tail is exactly exp(−x/2) (closed form);
        // 30.070149 is the same table worked by hand (expected = row × column / N).
        var r = ChiSquareTest.TwoByK([762, 327, 468], [484, 239, 477]);
        Assert.Equal(30.070149095754676, r.Statistic, 9);
        Assert.Equal(30.1, Math.Round(r.Statistic, 1));
        Assert.Equal(2, r.DegreesOfFreedom);
        Assert.Equal(Math.Exp(-r.Statistic / 2), r.PValue, 15);
        Assert.Equal(2.9535891832117516e-07, r.PValue, 15);
    }

    [Fact]
    public void ChiSquare_drops_empty_columns()
    {
        // Columns zero in both rows are dropped, leaving the 2×2 table {10, 5 | 5, 10}:
        // X² = N(ad − bc)² / (r1 r2 c1 c2) = 30·75² / 15⁴ = 10/3 (closed form), df = 1,
        // p = P(χ²₁ ≥ x) = erfc(√(x/2)) = 0.06788915486182903.
        var r = ChiSquareTest.TwoByK([10, 0, 5, 0], [5, 0, 10, 0]);
        Assert.Equal(10.0 / 3, r.Statistic, 12);
        Assert.Equal(1, r.DegreesOfFreedom);
        Assert.Equal(0.06788915486182903, r.PValue, 12);

        var degenerate = ChiSquareTest.TwoByK([4, 0], [7, 0]);
        Assert.Equal(new ChiSquareResult(0, 0, 1), degenerate);
    }

    [Fact]
    public void Count_statistics_on_a_hand_worked_table()
    {
        // a = {2, 3, 5} (n = 10) → proportions .2 .3 .5, CDF .2 .5 1;
        // b = {5, 5, 0} (n = 10) → proportions .5 .5 0,  CDF .5 1 1.
        // TV = ½(.3 + .2 + .5) = .5; KS = max(.3, .5, 0) = .5; W1 = .3 + .5 = .8 (moving .3 from 0→… by hand).
        int[] a = [2, 3, 5], b = [5, 5, 0];
        Assert.Equal(0.5, CountStatistics.TotalVariation(a, b), 12);
        Assert.Equal(0.5, CountStatistics.KolmogorovSmirnov(a, b), 12);
        Assert.Equal(0.8, CountStatistics.Wasserstein1(a, b), 12);
        Assert.Equal(0.5, Distances.TotalVariation([0.2, 0.3, 0.5], [0.5, 0.5, 0]), 12);
        Assert.Equal(0.5, Distances.KolmogorovSmirnov([0.2, 0.3, 0.5], [0.5, 0.5, 0]), 12);
        Assert.Equal(0.8, Distances.Wasserstein1([0.2, 0.3, 0.5], [0.5, 0.5, 0]), 12);
        // Point masses at 0 and K−1 are K−1 apart in W1 and 1 apart in TV and KS.
        Assert.Equal(4, CountStatistics.Wasserstein1([7, 0, 0, 0, 0], [0, 0, 0, 0, 3]), 12);
        Assert.Equal(1, CountStatistics.TotalVariation([7, 0, 0, 0, 0], [0, 0, 0, 0, 3]), 12);
        Assert.Equal(1, CountStatistics.KolmogorovSmirnov([7, 0, 0, 0, 0], [0, 0, 0, 0, 3]), 12);
    }

    [Fact]
    public void Count_statistics_agree_with_their_definitions_on_random_tables()
    {
        // Property check against brute-force definitions: Σ(O−E)²/E, and ECDFs built from
        // the expanded answers.
        var rng = Seeds.Create(31);
        for (int trial = 0; trial < 300; trial++)
        {
            int k = rng.Next(2, 8);
            var a = Enumerable.Range(0, k).Select(_ => rng.Next(0, 6)).ToArray();
            var b = Enumerable.Range(0, k).Select(_ => rng.Next(0, 6)).ToArray();
            a[0]++;
            b[k - 1]++;
            double na = a.Sum(), nb = b.Sum(), n = na + nb, x2 = 0;
            for (int j = 0; j < k; j++)
            {
                double c = a[j] + b[j];
                if (c == 0) continue;
                double ea = na * c / n, eb = nb * c / n;
                x2 += (a[j] - ea) * (a[j] - ea) / ea + (b[j] - eb) * (b[j] - eb) / eb;
            }
            Assert.Equal(x2, CountStatistics.ChiSquare(a, b), 9);

            var xa = a.SelectMany((c, j) => Enumerable.Repeat(j, c)).ToArray();
            var xb = b.SelectMany((c, j) => Enumerable.Repeat(j, c)).ToArray();
            double ks = 0, w1 = 0, tv = 0;
            for (int j = 0; j < k; j++)
            {
                double fa = xa.Count(v => v <= j) / na, fb = xb.Count(v => v <= j) / nb;
                ks = Math.Max(ks, Math.Abs(fa - fb));
                w1 += Math.Abs(fa - fb);
                tv += Math.Abs(xa.Count(v => v == j) / na - xb.Count(v => v == j) / nb) / 2;
            }
            Assert.Equal(ks, CountStatistics.KolmogorovSmirnov(a, b), 12);
            Assert.Equal(w1, CountStatistics.Wasserstein1(a, b), 12);
            Assert.Equal(tv, CountStatistics.TotalVariation(a, b), 12);
        }
    }

    [Fact]
    public void Kolmogorov_Smirnov_uniform_test_matches_closed_forms()
    {
        // n = 1: P(D₁ ≥ d) = 2(1 − d) for d ≥ ½ (closed form). Sample {0.2}: D = 0.8, p = 0.4.
        var one = KolmogorovSmirnov.UniformTest([0.2]);
        Assert.Equal(0.8, one.Statistic, 12);
        Assert.Equal(0.4, one.PValue, 9);

        // Small d: P(D_n ≤ 1/(2n) + v) = n! (2v)ⁿ for 0 ≤ v ≤ 1/(2n) (Kolmogorov 1933; closed form).
        // Sample {0.2, 0.5, 0.8}: D = 0.2, v = 1/30, P(D ≤ 0.2) = 6·(1/15)³, p = 1 − 6/3375.
        var three = KolmogorovSmirnov.UniformTest([0.8, 0.2, 0.5]);
        Assert.Equal(0.2, three.Statistic, 12);
        Assert.Equal(1 - 6.0 / 3375, three.PValue, 9);

        // Marsaglia, Tsang & Wang (2003), J. Stat. Software 8(18), worked example:
        // K(10, 0.274) = 0.6284796154565043 (also confirmed by a 400,000-draw simulation, 0.6284 ± 0.0008).
        Assert.Equal(0.6284796154565043, KolmogorovSmirnov.Cdf(10, 0.274), 12);

        // Large n: Stephens' (1970) approximation Q((√n + 0.12 + 0.11/√n) d) with the Kolmogorov
        // series Q(λ) = 2 Σ (−1)^{k−1} exp(−2k²λ²), accurate to about 1e-3 here.
        foreach (var (n, d) in new[] { (1000, 0.043), (400, 0.06), (2000, 0.02) })
        {
            double lambda = (Math.Sqrt(n) + 0.12 + 0.11 / Math.Sqrt(n)) * d, q = 0;
            for (int k = 1; k < 100; k++) q += 2 * Math.Pow(-1, k - 1) * Math.Exp(-2.0 * k * k * lambda * lambda);
            Assert.Equal(q, KolmogorovSmirnov.PValue(n, d), 2);
        }

        // Very large n uses the corrected limit; it must still agree with the series and be fast.
        double big = (Math.Sqrt(1_000_000) + 0.12 + 0.11 / 1000) * 0.0012, qBig = 0;
        for (int k = 1; k < 100; k++) qBig += 2 * Math.Pow(-1, k - 1) * Math.Exp(-2.0 * k * k * big * big);
        Assert.Equal(qBig, KolmogorovSmirnov.PValue(1_000_000, 0.0012), 9);
    }

    [Fact]
    public void Kolmogorov_Smirnov_rejects_a_non_uniform_sample_and_accepts_a_uniform_one()
    {
        var rng = Seeds.Create(5);
        var uniform = Enumerable.Range(0, 500).Select(_ => rng.NextDouble()).ToArray();
        var squared = uniform.Select(u => u * u).ToArray();
        Assert.True(KolmogorovSmirnov.UniformTest(uniform).PValue > 0.01);
        Assert.True(KolmogorovSmirnov.UniformTest(squared).PValue < 1e-6);
        Assert.ThrowsAny<ArgumentException>(() => KolmogorovSmirnov.UniformTest([]));
        Assert.ThrowsAny<ArgumentException>(() => KolmogorovSmirnov.UniformTest([0.5, 1.5]));
        Assert.ThrowsAny<ArgumentException>(() => KolmogorovSmirnov.UniformTest([0.5, double.NaN]));
    }

    [Fact]
    public void Mann_Kendall_on_hand_worked_series()
    {
        // 1, 2, 3, 4, 5: S = 10 (all 10 pairs increase), Var = 5·4·15/18 = 50/3,
        // Z = (10 − 1)/√(50/3) = 2.2045407685, p = 2(1 − Φ(Z)) = 0.0274863361, tau = 1.
        var r = MannKendall.Test([1, 2, 3, 4, 5]);
        Assert.Equal(10, r.S);
        Assert.Equal(50.0 / 3, r.Variance, 12);
        Assert.Equal(2.2045407685048604, r.Z, 9);
        Assert.Equal(0.027486336111510353, r.PValue, 9);
        Assert.Equal(1, r.Tau, 12);

        // 1, 2, 2, 3: S = 5 (the tied pair gives 0); one tie group of 2:
        // Var = (4·3·13 − 2·1·9)/18 = 23/3; Z = 4/√(23/3) = 1.4446302370, p = 0.1485617749; tau = 5/6.
        r = MannKendall.Test([1, 2, 2, 3]);
        Assert.Equal(5, r.S);
        Assert.Equal(23.0 / 3, r.Variance, 12);
        Assert.Equal(1.4446302370292303, r.Z, 9);
        Assert.Equal(0.1485617748918687, r.PValue, 9);
        Assert.Equal(5.0 / 6, r.Tau, 12);

        // 5, 3, 3, 1, 2, 0 (decreasing with a tie): S = −12, Var = (6·5·17 − 18)/18 = 82/3,
        // Z = (−12 + 1)/√(82/3) = −2.1040031531, p = 0.0353781720, tau = −12/15.
        r = MannKendall.Test([5, 3, 3, 1, 2, 0]);
        Assert.Equal(-12, r.S);
        Assert.Equal(82.0 / 3, r.Variance, 12);
        Assert.Equal(-2.104003153109016, r.Z, 9);
        Assert.Equal(0.035378171962853595, r.PValue, 9);
        Assert.Equal(-0.8, r.Tau, 12);

        // Hollander & Wolfe data from R's ?cor.test, y ordered by x: Kendall's T = 26 there,
        // i.e. S = 2·26 − 36 = 16, tau = 0.4444 (R prints tau 0.4444444); normal approximation
        // with continuity correction: Var = 9·8·23/18 = 92, Z = 15/√92, p = 0.1178508950.
        double[] x = [44.4, 45.9, 41.9, 53.3, 44.7, 44.1, 50.7, 45.2, 60.1];
        double[] y = [2.6, 3.1, 2.5, 5.0, 3.6, 4.0, 5.2, 2.8, 3.8];
        var ordered = x.Zip(y).OrderBy(t => t.First).Select(t => t.Second).ToArray();
        r = MannKendall.Test(ordered);
        Assert.Equal(16, r.S);
        Assert.Equal(4.0 / 9, r.Tau, 12);
        Assert.Equal(0.11785089502136512, r.PValue, 9);

        Assert.ThrowsAny<ArgumentException>(() => MannKendall.Test([1, 2]));
        Assert.ThrowsAny<ArgumentException>(() => MannKendall.Test([1, double.NaN, 3]));
    }

    [Fact]
    public void Spearman_with_ties_and_exact_p_values()
    {
        // Average ranks: 5, 6, 7, 8, 7 → 1, 2, 3.5, 5, 3.5 (R's rank()).
        Assert.Equal([1, 2, 3.5, 5, 3.5], Ranks.Average([5, 6, 7, 8, 7]));

        // x = 1..4, y = 1, 3, 2, 2 → ranks of y 1, 4, 2.5, 2.5; Pearson correlation of the ranks
        // by hand: deviations dx = −1.5 −.5 .5 1.5, dy = −1.5 1.5 0 0, Σdx·dy = 1.5, Σdx² = 5,
        // Σdy² = 4.5 → ρ = 1.5/√22.5 = 1/√10.
        // t = ρ√(2/(1−ρ²)) = √2/3; with 2 df the two-sided p is closed form: 1 − |t|/√(2 + t²) = 1 − 1/√10.
        var r = Spearman.Test([1, 2, 3, 4], [1, 3, 2, 2]);
        Assert.Equal(1 / Math.Sqrt(10), r.Rho, 12);
        Assert.Equal(1 - 1 / Math.Sqrt(10), r.PValue, 9);
        Assert.False(r.Exact);

        // R's ?cor.test example (Hollander & Wolfe 1973, p. 187): cor.test(x, y, method = "spearman")
        // prints S = 48, p-value = 0.0968, rho = 0.6 (exact for n = 9, no ties). Enumerating all 9!
        // pairings by hand-written code gives 35126/362880 = 0.0967978.
        double[] x = [44.4, 45.9, 41.9, 53.3, 44.7, 44.1, 50.7, 45.2, 60.1];
        double[] y = [2.6, 3.1, 2.5, 5.0, 3.6, 4.0, 5.2, 2.8, 3.8];
        var exact = Spearman.Test(x, y, exact: true);
        Assert.Equal(0.6, exact.Rho, 12);
        Assert.Equal(0.0968, Math.Round(exact.PValue, 4));
        Assert.Equal(35126.0 / 362880, exact.PValue, 12);

        // Perfect order, n = 4: only the identity and the reversal reach |ρ| = 1 → exact p = 2/24
        // (R: cor.test(1:4, 1:4, method = "spearman") gives p-value = 0.08333).
        Assert.Equal(2.0 / 24, Spearman.Test([1, 2, 3, 4], [10, 20, 30, 40], exact: true).PValue, 12);
        Assert.Equal(-1, Spearman.Test([1, 2, 3, 4], [4, 3, 2, 1]).Rho, 12);

        // n = 3: t with 1 df is Cauchy, p = 1 − (2/π) atan|t| (closed form). y = 1, 3, 2 → ρ = 0.5, t = 0.5·√(1/0.75).
        var three = Spearman.Test([1, 2, 3], [1, 3, 2]);
        double t3 = 0.5 * Math.Sqrt(1 / 0.75);
        Assert.Equal(0.5, three.Rho, 12);
        Assert.Equal(1 - 2 / Math.PI * Math.Atan(t3), three.PValue, 9);

        Assert.ThrowsAny<ArgumentException>(() => Spearman.Test([1, 2, 3], [1, 2]));
        Assert.ThrowsAny<ArgumentException>(() => Spearman.Test([1, 2, 3], [5, 5, 5]));
        Assert.ThrowsAny<ArgumentException>(() => Spearman.Test([1, 2], [1, 2]));
        Assert.ThrowsAny<ArgumentException>(() => Spearman.Test(new double[11], new double[11], exact: true));
    }

    [Fact]
    public void Distances_reject_bad_input()
    {
        Assert.ThrowsAny<ArgumentException>(() => Distances.TotalVariation([0.5, 0.5], [1.0]));
        Assert.ThrowsAny<ArgumentException>(() => Distances.TotalVariation([1.0], [1.0]));
        Assert.ThrowsAny<ArgumentException>(() => Distances.Wasserstein1([0.5, -0.5], [0.5, 0.5]));
        Assert.ThrowsAny<ArgumentException>(() => Distances.KolmogorovSmirnov([0, 0], [0.5, 0.5]));
        Assert.ThrowsAny<ArgumentException>(() => ChiSquareTest.TwoByK([1, -2], [3, 4]));
        Assert.ThrowsAny<ArgumentException>(() => ChiSquareTest.TwoByK([1, 2], [3, 4, 5]));
        Assert.ThrowsAny<ArgumentException>(() => CountStatistics.ChiSquare([1, 2], [3]));
    }
}

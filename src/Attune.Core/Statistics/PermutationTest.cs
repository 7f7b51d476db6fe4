using System.Numerics;
using System.Runtime.InteropServices;
using Attune.Core.Randomness;

namespace Attune.Core.Statistics;

/// <summary>
/// Two-sample Monte-Carlo permutation tests. The p-value is (1 + #{T* ≥ T}) / (B + 1), where T is
/// the observed statistic, T* the statistic of a random relabelling and B the number of
/// relabellings; T* counts as ≥ T when T* ≥ T − 1e-9·|T|, so exact ties are not lost to rounding.
/// Larger statistics mean "more different" (use an absolute value for a two-sided test).
/// <para>
/// Determinism: the B permutations are cut into fixed chunks of <see cref="ChunkSize"/>; chunk c
/// draws from <c>Seeds.Create(seed, c)</c>. The chunks' exceedance counts are integers summed
/// after the parallel loop, so the result depends on the seed only, not on the number of threads
/// or their scheduling. (The categorical engine draws its uniforms from xoshiro256** seeded with
/// <c>Seeds.Derive(seed, c)</c>, which is cheaper than <see cref="Random"/> on that hot path.) In <see cref="CategoricalMany"/> test i uses seed
/// <c>Seeds.Derive(seed, i)</c>, so its result equals the single test run with that seed.
/// </para>
/// </summary>
public static class PermutationTest
{
    /// <summary>Permutations per random stream (and per unit of parallel work within one test).</summary>
    public const int ChunkSize = 1000;

    /// <summary>Relative tolerance under which a permuted statistic counts as a tie with the observed one.</summary>
    public const double RelativeTieTolerance = 1e-9;

    /// <summary>
    /// General two-sample permutation test: pools the samples, reshuffles the labels
    /// <paramref name="permutations"/> times and evaluates <paramref name="statistic"/> on the two
    /// relabelled groups (same sizes as the originals). The statistic must not keep the spans it is
    /// given; it is called concurrently from several threads.
    /// </summary>
    /// <param name="maxDegreeOfParallelism">−1 for all cores; the result does not depend on it.</param>
    public static PermutationResult TwoSample<T>(
        ReadOnlySpan<T> first,
        ReadOnlySpan<T> second,
        Func<ReadOnlySpan<T>, ReadOnlySpan<T>, double> statistic,
        int permutations,
        int seed,
        int maxDegreeOfParallelism = -1)
    {
        Validate.NotEmpty(first, nameof(first));
        Validate.NotEmpty(second, nameof(second));
        ArgumentNullException.ThrowIfNull(statistic);
        Validate.Permutations(permutations);

        int n1 = first.Length;
        var pooled = new T[n1 + second.Length];
        first.CopyTo(pooled);
        second.CopyTo(pooled.AsSpan(n1));
        double observed = statistic(first, second);
        CheckObserved(observed);
        double threshold = Threshold(observed);

        int chunks = ChunkCount(permutations);
        var exceedances = new int[chunks];
        Parallel.For(0, chunks, Options(maxDegreeOfParallelism), c =>
        {
            int count = ChunkLength(permutations, c);
            var buffer = (T[])pooled.Clone();
            var stats = new double[count];
            var rng = Seeds.Create(seed, c);
            for (int p = 0; p < count; p++)
            {
                PartialShuffle(buffer, n1, rng);
                stats[p] = statistic(buffer.AsSpan(0, n1), buffer.AsSpan(n1));
            }
            exceedances[c] = CountAtLeast(stats, threshold);
        });
        return Result(observed, permutations, exceedances.Sum());
    }

    /// <summary>
    /// Permutation test of whether two groups' answers to one multiple-choice question (category
    /// indices 0..<paramref name="categories"/>−1) come from the same distribution, with a statistic
    /// of the 2×K table (see <see cref="CountStatistics"/>). Instead of shuffling answers, the first
    /// group's counts are drawn directly from their null distribution (multivariate hypergeometric
    /// given the pooled counts) by sequential hypergeometric draws: O(K) work per permutation
    /// whatever the sample sizes.
    /// </summary>
    public static PermutationResult Categorical(
        int[] first,
        int[] second,
        int categories,
        CountStatistic statistic,
        int permutations,
        int seed,
        int maxDegreeOfParallelism = -1)
    {
        ArgumentNullException.ThrowIfNull(first);
        ArgumentNullException.ThrowIfNull(second);
        Validate.Categories(categories);
        return CategoricalCounts(
            CountStatistics.Count(first, categories), CountStatistics.Count(second, categories),
            statistic, permutations, seed, maxDegreeOfParallelism);
    }

    /// <summary>As <see cref="Categorical"/>, from the two rows of the 2×K table of counts.</summary>
    public static PermutationResult CategoricalCounts(
        ReadOnlySpan<int> countsA,
        ReadOnlySpan<int> countsB,
        CountStatistic statistic,
        int permutations,
        int seed,
        int maxDegreeOfParallelism = -1)
    {
        ArgumentNullException.ThrowIfNull(statistic);
        Validate.Permutations(permutations);
        var table = new Table(countsA.ToArray(), countsB.ToArray());
        double observed = statistic(countsA, countsB);
        CheckObserved(observed);
        var logFactorials = Hypergeometric.LogFactorials(table.Total);

        int chunks = ChunkCount(permutations);
        var exceedances = new int[chunks];
        Parallel.For(0, chunks, Options(maxDegreeOfParallelism), c =>
        {
            var work = new Workspace(table.Categories, ChunkLength(permutations, 0));
            var sampler = new MultivariateHypergeometricSampler(table.Pooled, table.SizeA, logFactorials);
            exceedances[c] = CategoricalChunk(sampler, table.Categories, statistic, Threshold(observed), seed, c, ChunkLength(permutations, c), work);
        });
        return Result(observed, permutations, exceedances.Sum());
    }

    /// <summary>
    /// Many categorical tests (e.g. one per survey question and sub-population) in parallel over
    /// the tests. Each element holds the two groups' answers as category indices. Result i equals
    /// <c>Categorical(tests[i].First, tests[i].Second, categories, statistic, permutations, Seeds.Derive(seed, i))</c>.
    /// </summary>
    public static PermutationResult[] CategoricalMany(
        IReadOnlyList<(int[] First, int[] Second)> tests,
        int categories,
        CountStatistic statistic,
        int permutations,
        int seed,
        int maxDegreeOfParallelism = -1)
    {
        ArgumentNullException.ThrowIfNull(tests);
        Validate.Categories(categories);
        var tables = new (int[] CountsA, int[] CountsB)[tests.Count];
        for (int i = 0; i < tests.Count; i++)
        {
            var (a, b) = tests[i];
            if (a is null || b is null)
                throw new ArgumentException($"tests[{i}] has a null sample.", nameof(tests));
            try
            {
                tables[i] = (CountStatistics.Count(a, categories), CountStatistics.Count(b, categories));
            }
            catch (ArgumentException e)
            {
                throw new ArgumentException($"tests[{i}]: {e.Message}", nameof(tests), e);
            }
        }
        return CategoricalCountsMany(tables, statistic, permutations, seed, maxDegreeOfParallelism);
    }

    /// <summary>As <see cref="CategoricalMany"/>, from 2×K count tables (all with the same K or not: each is tested alone).</summary>
    public static PermutationResult[] CategoricalCountsMany(
        IReadOnlyList<(int[] CountsA, int[] CountsB)> tables,
        CountStatistic statistic,
        int permutations,
        int seed,
        int maxDegreeOfParallelism = -1)
    {
        ArgumentNullException.ThrowIfNull(tables);
        ArgumentNullException.ThrowIfNull(statistic);
        Validate.Permutations(permutations);
        var prepared = new Table[tables.Count];
        int maxTotal = 0, maxK = 0;
        for (int i = 0; i < tables.Count; i++)
        {
            var (a, b) = tables[i];
            if (a is null || b is null)
                throw new ArgumentException($"tables[{i}] has a null row.", nameof(tables));
            try
            {
                prepared[i] = new Table(a, b);
            }
            catch (ArgumentException e)
            {
                throw new ArgumentException($"tables[{i}]: {e.Message}", nameof(tables), e);
            }
            maxTotal = Math.Max(maxTotal, prepared[i].Total);
            maxK = Math.Max(maxK, prepared[i].Categories);
        }
        var logFactorials = Hypergeometric.LogFactorials(maxTotal);
        var results = new PermutationResult[prepared.Length];
        int chunks = ChunkCount(permutations);
        Parallel.For(0, prepared.Length, Options(maxDegreeOfParallelism),
            () => new Workspace(maxK, ChunkLength(permutations, 0)),
            (i, _, work) =>
            {
                var table = prepared[i];
                double observed = statistic(table.CountsA, table.CountsB);
                CheckObserved(observed);
                double threshold = Threshold(observed);
                int testSeed = Seeds.Derive(seed, i);
                var sampler = new MultivariateHypergeometricSampler(table.Pooled, table.SizeA, logFactorials);
                int exceedances = 0;
                for (int c = 0; c < chunks; c++)
                    exceedances += CategoricalChunk(sampler, table.Categories, statistic, threshold, testSeed, c, ChunkLength(permutations, c), work);
                results[i] = Result(observed, permutations, exceedances);
                return work;
            },
            _ => { });
        return results;
    }

    /// <summary>One chunk of sequential-hypergeometric relabellings; returns its exceedance count.</summary>
    private static int CategoricalChunk(
        MultivariateHypergeometricSampler sampler, int categories, CountStatistic statistic, double threshold, int seed, int chunk, int count, Workspace work)
    {
        var rng = new Xoshiro256(Seeds.Derive(seed, chunk));
        Span<int> a = work.A.AsSpan(0, categories);
        Span<int> b = work.B.AsSpan(0, categories);
        Span<double> stats = work.Stats.AsSpan(0, count);
        for (int p = 0; p < count; p++)
        {
            sampler.Sample(ref rng, a, b);
            stats[p] = statistic(a, b);
        }
        return CountAtLeast(stats, threshold);
    }

    /// <summary>#{i : values[i] ≥ threshold}, with SIMD compares (NaN never counts).</summary>
    internal static int CountAtLeast(ReadOnlySpan<double> values, double threshold)
    {
        int i = 0, count = 0;
        if (Vector.IsHardwareAccelerated && values.Length >= Vector<double>.Count)
        {
            var t = new Vector<double>(threshold);
            var acc = Vector<long>.Zero;
            var vectors = MemoryMarshal.Cast<double, Vector<double>>(values);
            foreach (var v in vectors)
                acc -= Vector.GreaterThanOrEqual(v, t); // each true lane is −1
            count = (int)Vector.Sum(acc);
            i = vectors.Length * Vector<double>.Count;
        }
        for (; i < values.Length; i++)
            if (values[i] >= threshold) count++;
        return count;
    }

    /// <summary>Fisher–Yates on only as many positions as the smaller group needs: afterwards the first n1 items are a uniformly random subset.</summary>
    private static void PartialShuffle<T>(T[] buffer, int n1, Random rng)
    {
        int n = buffer.Length;
        if (n1 <= n - n1)
        {
            for (int i = 0; i < n1; i++)
            {
                int j = rng.Next(i, n);
                (buffer[i], buffer[j]) = (buffer[j], buffer[i]);
            }
        }
        else
        {
            for (int i = n - 1; i >= n1; i--)
            {
                int j = rng.Next(0, i + 1);
                (buffer[i], buffer[j]) = (buffer[j], buffer[i]);
            }
        }
    }

    private static double Threshold(double observed) => observed - RelativeTieTolerance * Math.Abs(observed);

    private static void CheckObserved(double observed)
    {
        if (double.IsNaN(observed))
            throw new ArgumentException("the statistic of the observed samples is NaN.", "statistic");
    }

    private static PermutationResult Result(double observed, int permutations, int exceedances) =>
        new(observed, (1.0 + exceedances) / (permutations + 1.0), permutations, exceedances);

    private static int ChunkCount(int permutations) => (permutations + ChunkSize - 1) / ChunkSize;

    private static int ChunkLength(int permutations, int chunk) => Math.Min(ChunkSize, permutations - chunk * ChunkSize);

    private static ParallelOptions Options(int maxDegreeOfParallelism) =>
        new() { MaxDegreeOfParallelism = maxDegreeOfParallelism };

    /// <summary>A validated 2×K table with its pooled counts.</summary>
    private sealed class Table
    {
        public Table(int[] countsA, int[] countsB)
        {
            Validate.Counts(countsA, countsB);
            CountsA = countsA;
            CountsB = countsB;
            Pooled = new int[countsA.Length];
            long total = 0, sizeA = 0;
            for (int k = 0; k < countsA.Length; k++)
            {
                Pooled[k] = countsA[k] + countsB[k];
                total += Pooled[k];
                sizeA += countsA[k];
            }
            if (total > int.MaxValue / 2)
                throw new ArgumentException($"the table holds {total} answers; at most {int.MaxValue / 2} are supported.", nameof(countsA));
            Total = (int)total;
            SizeA = (int)sizeA;
        }

        public int[] CountsA { get; }
        public int[] CountsB { get; }
        public int[] Pooled { get; }
        public int Total { get; }
        public int SizeA { get; }
        public int Categories => Pooled.Length;
    }

    /// <summary>Per-thread buffers: the two count rows and the chunk's statistics.</summary>
    private sealed class Workspace(int categories, int chunkLength)
    {
        public int[] A { get; } = new int[categories];
        public int[] B { get; } = new int[categories];
        public double[] Stats { get; } = new double[chunkLength];
    }
}

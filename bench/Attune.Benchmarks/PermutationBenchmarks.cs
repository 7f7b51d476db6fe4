using Attune.Core.Randomness;
using Attune.Core.Statistics;
using BenchmarkDotNet.Attributes;

namespace Attune.Benchmarks;

/// <summary>
/// The survey-misalignment workload: 2,000 two-sample tests, each on a 2×5 table with a few
/// hundred answers per group (200..400), 10,000 permutations each, run as one batch on all cores.
/// SciPy's <c>permutation_test</c> takes about 130 ms for one such test.
/// </summary>
[SimpleJob(warmupCount: 1, iterationCount: 3)]
[MemoryDiagnoser]
public class PermutationBenchmarks
{
    private const int Tests = 2000;
    private const int Categories = 5;
    private (int[] First, int[] Second)[] _tests = [];

    [Params(10_000)]
    public int Permutations { get; set; }

    [GlobalSetup]
    public void Setup()
    {
        var rng = Seeds.Create(42);
        _tests = new (int[], int[])[Tests];
        double[] human = [0.1, 0.2, 0.3, 0.25, 0.15];
        double[] model = [0.12, 0.18, 0.3, 0.22, 0.18];
        for (int i = 0; i < Tests; i++)
            _tests[i] = (Answers(rng, human, rng.Next(200, 401)), Answers(rng, model, rng.Next(200, 401)));
    }

    [Benchmark(Description = "2000 tests x 10k perms, 2x5, chi-square")]
    public PermutationResult[] CategoricalManyChiSquare() =>
        PermutationTest.CategoricalMany(_tests, Categories, CountStatistics.ChiSquare, Permutations, seed: 7);

    [Benchmark(Description = "2000 tests x 10k perms, 2x5, KS")]
    public PermutationResult[] CategoricalManyKolmogorovSmirnov() =>
        PermutationTest.CategoricalMany(_tests, Categories, CountStatistics.KolmogorovSmirnov, Permutations, seed: 7);

    [Benchmark(Description = "1 test x 10k perms, shuffle engine, chi-square on answers")]
    public PermutationResult TwoSampleShuffleOneTest()
    {
        var (first, second) = _tests[0];
        return PermutationTest.TwoSample<int>(first, second, static (a, b) =>
        {
            Span<int> ca = stackalloc int[Categories];
            Span<int> cb = stackalloc int[Categories];
            foreach (int x in a) ca[x]++;
            foreach (int x in b) cb[x]++;
            return CountStatistics.ChiSquare(ca, cb);
        }, Permutations, seed: 7);
    }

    private static int[] Answers(Random rng, double[] probabilities, int n)
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
}

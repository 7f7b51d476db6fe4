using Attune.Core.Randomness;
using Attune.Surveys.Data;
using Attune.Surveys.Planning;
using Attune.Surveys.Testing;
using BenchmarkDotNet.Attributes;

namespace Attune.Benchmarks;

/// <summary>
/// The job: 500 questions × 4 groups (2,000 tests on 2×5 tables), 10,000 permutations each,
/// as <c>attune survey test</c> runs it (pairing done, no bootstrap). With ATTUNE_SURVEY_BENCH_DIR
/// set to a folder written by <c>bench/peers/make_survey_data.py</c>, the tables are read from its
/// human.jsonl and llm.jsonl — the same data the SciPy peer (<c>bench/peers/survey_scipy.py</c>)
/// tests; otherwise tables of the same shape are drawn here.
/// </summary>
[SimpleJob(warmupCount: 1, iterationCount: 5)]
[MemoryDiagnoser]
public class SurveyBenchmarks
{
    private IReadOnlyList<PairedTable> _tables = [];

    [GlobalSetup]
    public void Setup()
    {
        var dir = Environment.GetEnvironmentVariable("ATTUNE_SURVEY_BENCH_DIR");
        if (!string.IsNullOrEmpty(dir))
        {
            _tables = SurveyPairing.Pair(SurveyReader.Read(Path.Combine(dir, "human.jsonl")), SurveyReader.Read(Path.Combine(dir, "llm.jsonl")), false, out _);
            return;
        }

        var rng = Seeds.Create(42);
        var gamma = new MathNet.Numerics.Distributions.Gamma(1.5, 1.0, rng);
        var labels = new[] { "1", "2", "3", "4", "5" };
        var tables = new List<PairedTable>();
        for (int q = 0; q < 500; q++)
        {
            foreach (var g in new[] { "RACE=Black", "RACE=White", "AGE=18-29", "AGE=65+" })
            {
                var p = Enumerable.Range(0, 5).Select(_ => gamma.Sample()).ToArray();
                var s = p.Sum();
                p = [.. p.Select(x => x / s)];
                var l = rng.NextDouble() < 0.3 ? PowerAnalysis.Shift(p, 0.3 * (1 - p[4])) : p;
                tables.Add(new PairedTable
                {
                    Question = $"Q{q}", Group = g, Options = labels,
                    Human = PowerAnalysis.Multinomial(rng, p, rng.Next(200, 601)), Llm = PowerAnalysis.Multinomial(rng, l, 200),
                });
            }
        }
        _tables = tables;
    }

    [Benchmark(Description = "survey test 500q x 4g x 10k perms, chi2")]
    public SurveyTestReport ChiSquare() =>
        MisalignmentTest.Run(_tables, new SurveyTestOptions { Statistic = SurveyStatistic.ChiSquare, Permutations = 10_000, BootstrapResamples = 0, Seed = 7 });

    [Benchmark(Description = "survey test 500q x 4g x 10k perms, KS")]
    public SurveyTestReport KolmogorovSmirnov() =>
        MisalignmentTest.Run(_tables, new SurveyTestOptions { Statistic = SurveyStatistic.KolmogorovSmirnov, Permutations = 10_000, BootstrapResamples = 0, Seed = 7 });

    [Benchmark(Description = "effect sizes only: 2000 tables x 500 bootstrap resamples")]
    public EffectSize[] Bootstrap() => EffectSizes.Estimate(_tables, 500, 0.95, seed: 7);
}

using System.Text.Json.Serialization;
using Attune.Core.Randomness;
using Attune.Core.Statistics;
using Attune.Surveys.Testing;

namespace Attune.Surveys.Planning;

/// <summary>Settings of a power simulation.</summary>
public sealed record PowerOptions
{
    /// <summary>The human group's answer distribution over the options (normalised); default uniform over 5.</summary>
    public double[] Baseline { get; init; } = [0.2, 0.2, 0.2, 0.2, 0.2];

    /// <summary>The total-variation distance between the human and the LLM distribution to detect.</summary>
    public double TvDistance { get; init; } = 0.1;

    /// <summary>Human answers per question and group.</summary>
    public int HumanSamples { get; init; } = 500;

    /// <summary>The LLM sample sizes to try (the x axis of the curve).</summary>
    public int[] LlmSamples { get; init; } = [25, 50, 100, 200, 400, 800, 1600];

    /// <summary>Per-test level (divide by the number of tests for a Bonferroni-style plan).</summary>
    public double Alpha { get; init; } = 0.05;

    public double TargetPower { get; init; } = 0.8;

    /// <summary>Simulated tests per sample size.</summary>
    public int Replicates { get; init; } = 400;

    public int Permutations { get; init; } = 999;

    public SurveyStatistic Statistic { get; init; } = SurveyStatistic.ChiSquare;

    public bool Asymptotic { get; init; }

    public int Seed { get; init; } = Seeds.Default;
}

/// <summary>One point of the power curve, with a 95% Wilson interval for the simulated power.</summary>
public sealed record PowerPoint(
    [property: JsonPropertyName("n_llm")] int NLlm,
    [property: JsonPropertyName("power")] double Power,
    [property: JsonPropertyName("power_ci")] double[] PowerInterval);

public sealed record PowerCurve(
    [property: JsonPropertyName("tv_distance")] double TvDistance,
    [property: JsonPropertyName("alpha")] double Alpha,
    [property: JsonPropertyName("target_power")] double TargetPower,
    [property: JsonPropertyName("n_human")] int NHuman,
    [property: JsonPropertyName("baseline")] double[] Baseline,
    [property: JsonPropertyName("alternative")] double[] Alternative,
    [property: JsonPropertyName("points")] IReadOnlyList<PowerPoint> Points,
    [property: JsonPropertyName("required_n_llm")] int? RequiredNLlm);

/// <summary>
/// How many LLM samples per question are needed to detect a given total-variation distance at a
/// given α and power, by simulation: for each LLM sample size n, draw the human answers from the
/// baseline p and the LLM answers from an alternative q with TV(p, q) = d, run the test, and count
/// rejections. The alternative moves a share m of every option's mass onto the last (highest)
/// option, q = (1 − m)·p + m·δ_K, so TV(p, q) = m·(1 − p_K): an ordered shift that both the
/// chi-square and the KS statistic can see.
/// </summary>
public static class PowerAnalysis
{
    /// <summary>The alternative q at total-variation distance <paramref name="tv"/> from <paramref name="baseline"/>.</summary>
    public static double[] Shift(ReadOnlySpan<double> baseline, double tv)
    {
        double sum = 0;
        foreach (double x in baseline)
        {
            if (!double.IsFinite(x) || x < 0) throw new ArgumentException("the baseline must hold non-negative numbers", nameof(baseline));
            sum += x;
        }
        if (baseline.Length < 2 || sum <= 0) throw new ArgumentException("the baseline needs at least 2 options and positive mass", nameof(baseline));
        var p = new double[baseline.Length];
        for (int k = 0; k < p.Length; k++) p[k] = baseline[k] / sum;
        double room = 1 - p[^1];
        if (tv < 0 || tv > room + 1e-12)
            throw new ArgumentOutOfRangeException(nameof(tv), tv, $"a shift onto the last option reaches at most TV = {room:0.###} from this baseline");
        double m = room == 0 ? 0 : tv / room;
        var q = new double[p.Length];
        for (int k = 0; k < p.Length; k++) q[k] = (1 - m) * p[k];
        q[^1] += m;
        return q;
    }

    public static PowerCurve Simulate(PowerOptions options, Action<string>? progress = null)
    {
        ArgumentNullException.ThrowIfNull(options);
        if (options.HumanSamples < 1) throw new ArgumentOutOfRangeException(nameof(options), "HumanSamples must be positive");
        if (options.Replicates < 1) throw new ArgumentOutOfRangeException(nameof(options), "Replicates must be positive");
        if (options.LlmSamples.Length == 0 || options.LlmSamples.Any(n => n < 1)) throw new ArgumentOutOfRangeException(nameof(options), "LLM sample sizes must be positive");
        var p = Shift(options.Baseline, 0);
        var q = Shift(options.Baseline, options.TvDistance);
        var points = new List<PowerPoint>();
        var testOptions = new SurveyTestOptions
        {
            Statistic = options.Statistic, Permutations = options.Permutations, Asymptotic = options.Asymptotic, BootstrapResamples = 0,
        };
        for (int s = 0; s < options.LlmSamples.Length; s++)
        {
            int n = options.LlmSamples[s];
            var rng = Seeds.Create(options.Seed, s);
            var tables = new PairedTable[options.Replicates];
            var labels = Enumerable.Range(0, p.Length).Select(k => k.ToString(System.Globalization.CultureInfo.InvariantCulture)).ToArray();
            for (int r = 0; r < tables.Length; r++)
            {
                tables[r] = new PairedTable
                {
                    Question = "sim", Group = "sim", Options = labels,
                    Human = Multinomial(rng, p, options.HumanSamples), Llm = Multinomial(rng, q, n),
                };
            }
            var pv = MisalignmentTest.PValues(tables, testOptions with { Seed = Seeds.Derive(options.Seed, 1000 + s) });
            int hits = pv.Count(x => x.PValue <= options.Alpha);
            var (lo, hi) = Wilson(hits, tables.Length);
            points.Add(new PowerPoint(n, (double)hits / tables.Length, [lo, hi]));
            progress?.Invoke($"n_llm = {n}: power {(double)hits / tables.Length:0.###}");
        }
        int? required = points.FirstOrDefault(x => x.Power >= options.TargetPower)?.NLlm;
        return new PowerCurve(options.TvDistance, options.Alpha, options.TargetPower, options.HumanSamples, p, q, points, required);
    }

    /// <summary>n draws from the categorical distribution <paramref name="p"/>, tabulated.</summary>
    public static int[] Multinomial(Random rng, ReadOnlySpan<double> p, int n)
    {
        ArgumentNullException.ThrowIfNull(rng);
        var counts = new int[p.Length];
        for (int i = 0; i < n; i++)
        {
            double u = rng.NextDouble(), c = 0;
            int k = 0;
            while (k < p.Length - 1 && u >= (c += p[k])) k++;
            counts[k]++;
        }
        return counts;
    }

    /// <summary>95% Wilson score interval for a binomial proportion.</summary>
    public static (double Low, double High) Wilson(int successes, int trials) => Attune.Core.Statistics.Proportions.Wilson(successes, trials);
}

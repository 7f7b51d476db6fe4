using Attune.Core.Randomness;
using Attune.Core.Statistics;

namespace Attune.Surveys.Testing;

/// <summary>Total-variation and 1-Wasserstein distances between the human and LLM answer shares, with bootstrap intervals.</summary>
public readonly record struct EffectSize(ConfidenceInterval TotalVariation, ConfidenceInterval Wasserstein);

/// <summary>
/// Effect sizes of a 2×K table. The interval is a stratified percentile bootstrap: each resample
/// redraws the human answers (n_h with replacement from the human answers) and, independently,
/// the LLM answers, and recomputes the distances (<see cref="CountStatistics.TotalVariation"/>,
/// <see cref="CountStatistics.Wasserstein1"/> on the ordinal positions 0..K−1).
/// Quantiles are R's type 7, as <see cref="Bootstrap.Percentile{T}"/>.
/// </summary>
public static class EffectSizes
{
    public static EffectSize[] Estimate(IReadOnlyList<PairedTable> tables, int resamples, double level, int seed, int maxDegreeOfParallelism = -1)
    {
        ArgumentNullException.ThrowIfNull(tables);
        ArgumentOutOfRangeException.ThrowIfNegative(resamples);
        if (!(level > 0 && level < 1)) throw new ArgumentOutOfRangeException(nameof(level), level, "the confidence level must lie strictly between 0 and 1");
        var results = new EffectSize[tables.Count];
        Parallel.For(0, tables.Count, new ParallelOptions { MaxDegreeOfParallelism = maxDegreeOfParallelism }, i =>
            results[i] = Estimate(tables[i].Human, tables[i].Llm, resamples, level, Seeds.Derive(seed, i)));
        return results;
    }

    public static EffectSize Estimate(int[] human, int[] llm, int resamples, double level, int seed)
    {
        ArgumentNullException.ThrowIfNull(human);
        ArgumentNullException.ThrowIfNull(llm);
        double tv = CountStatistics.TotalVariation(human, llm), w1 = CountStatistics.Wasserstein1(human, llm);
        if (resamples == 0)
            return new EffectSize(new ConfidenceInterval(tv, double.NaN, double.NaN, level), new ConfidenceInterval(w1, double.NaN, double.NaN, level));
        var rng = new SplitMix64(seed);
        var answersH = Expand(human);
        var answersL = Expand(llm);
        var a = new int[human.Length];
        var b = new int[llm.Length];
        var tvs = new double[resamples];
        var ws = new double[resamples];
        for (int r = 0; r < resamples; r++)
        {
            Resample(answersH, a, ref rng);
            Resample(answersL, b, ref rng);
            tvs[r] = CountStatistics.TotalVariation(a, b);
            ws[r] = CountStatistics.Wasserstein1(a, b);
        }
        return new EffectSize(Interval(tv, tvs, level), Interval(w1, ws, level));
    }

    private static ConfidenceInterval Interval(double estimate, double[] replicates, double level)
    {
        Array.Sort(replicates);
        double alpha = (1 - level) / 2;
        return new ConfidenceInterval(estimate, Quantiles.Type7(replicates, alpha), Quantiles.Type7(replicates, 1 - alpha), level);
    }

    private static int[] Expand(int[] counts)
    {
        var answers = new int[counts.Sum()];
        int i = 0;
        for (int k = 0; k < counts.Length; k++)
            for (int c = 0; c < counts[k]; c++) answers[i++] = k;
        return answers;
    }

    private static void Resample(int[] answers, int[] counts, ref SplitMix64 rng)
    {
        Array.Clear(counts);
        ulong n = (ulong)answers.Length;
        for (int i = 0; i < answers.Length; i++) counts[answers[(int)(((rng.Next() >> 32) * n) >> 32)]]++;
    }

    /// <summary>
    /// SplitMix64 (Steele, Lea &amp; Flood 2014): a small, fast generator for the resampling loop, where
    /// <see cref="Random"/>'s seeded (legacy) algorithm costs more than the rest of the work. An index
    /// below n is the top 32 bits times n, shifted (Lemire's multiply; its bias is below n / 2³², negligible here).
    /// </summary>
    private struct SplitMix64(int seed)
    {
        private ulong _state = (ulong)(uint)seed * 0x9E3779B97F4A7C15UL + 0x632BE59BD9B4E019UL;

        public ulong Next()
        {
            ulong z = _state += 0x9E3779B97F4A7C15UL;
            z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9UL;
            z = (z ^ (z >> 27)) * 0x94D049BB133111EBUL;
            return z ^ (z >> 31);
        }
    }
}

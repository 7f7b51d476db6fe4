using System.Numerics;

namespace Attune.Core.Statistics;

/// <summary>
/// Exact hypergeometric draws by table inversion: X = the number of successes among n items drawn
/// without replacement from N items of which K are successes. A table holds the CDF of one
/// (N, K, n); it is built from the mode outwards (mode probability from log-factorials, the
/// others from the ratio recurrence p(x+1)/p(x) = (K−x)(n−x) / ((x+1)(N−K−n+x+1))), cut where the
/// probability falls below 1e-18 of the mode's (the dropped mass is below 1e-15), and paired with
/// a guide table (Chen &amp; Asau 1974) so a draw costs one uniform and one or two comparisons.
/// </summary>
internal sealed class HypergeometricTable
{
    private const double RelativeCutoff = 1e-18;
    private readonly int _lo;
    private readonly double[] _cdf;
    private readonly int[] _guide;

    public HypergeometricTable(int populationSize, int successes, int draws, double[] logFactorials, Span<double> scratch)
    {
        int N = populationSize, K = successes, n = draws;
        int lo = Math.Max(0, n - (N - K));
        int hi = Math.Min(n, K);
        int mode = (int)((long)(n + 1) * (K + 1) / (N + 2));
        mode = Math.Clamp(mode, lo, hi);
        double pm = Math.Exp(Hypergeometric.LogPmf(mode, N, K, n, logFactorials));
        int other = N - K - n; // N − K − n + x = other + x

        // Walk down and up from the mode until the probabilities become negligible; the values are
        // written into scratch (length ≥ hi − lo + 1) at offset x − lo.
        scratch[mode - lo] = pm;
        int first = mode, last = mode;
        double p = pm;
        for (int x = mode; x > lo; x--)
        {
            p *= (double)x * (other + x) / ((double)(K - x + 1) * (n - x + 1)); // p(x−1)
            if (p < RelativeCutoff * pm) break;
            scratch[x - 1 - lo] = p;
            first = x - 1;
        }
        p = pm;
        for (int x = mode; x < hi; x++)
        {
            p *= (double)(K - x) * (n - x) / ((double)(x + 1) * (other + x + 1)); // p(x+1)
            if (p < RelativeCutoff * pm) break;
            scratch[x + 1 - lo] = p;
            last = x + 1;
        }

        _lo = first;
        int length = last - first + 1;
        var pmf = scratch.Slice(first - lo, length);
        double total = 0;
        foreach (double v in pmf) total += v;
        _cdf = new double[length];
        double running = 0;
        for (int i = 0; i < length; i++)
        {
            running += pmf[i] / total;
            _cdf[i] = running;
        }
        _cdf[length - 1] = double.PositiveInfinity; // the search always stops

        _guide = new int[length];
        int j = 0;
        for (int g = 0; g < length; g++)
        {
            double level = (double)g / length;
            while (_cdf[j] <= level) j++;
            _guide[g] = j;
        }
    }

    /// <summary>The value for a uniform <paramref name="u"/> in [0, 1): the smallest x with CDF(x) &gt; u.</summary>
    public int Invert(double u)
    {
        int i = _guide[(int)(u * _guide.Length)];
        while (u >= _cdf[i]) i++;
        return _lo + i;
    }
}

/// <summary>Log-factorials and the hypergeometric probability function.</summary>
internal static class Hypergeometric
{
    /// <summary>log(i!) for i = 0..<paramref name="max"/>.</summary>
    public static double[] LogFactorials(int max)
    {
        var table = new double[max + 1];
        double acc = 0;
        for (int i = 2; i <= max; i++)
        {
            acc += Math.Log(i);
            table[i] = acc;
        }
        return table;
    }

    /// <summary>log P(X = x) for population N, K successes, n draws.</summary>
    public static double LogPmf(int x, int populationSize, int successes, int draws, double[] logFactorials)
    {
        var lf = logFactorials;
        int N = populationSize, K = successes, n = draws;
        return lf[K] - lf[x] - lf[K - x] + lf[N - K] - lf[n - x] - lf[N - K - n + x] - lf[N] + lf[n] + lf[N - n];
    }
}

/// <summary>
/// Draws the first group's counts of a 2×K table from their permutation (multivariate
/// hypergeometric) distribution given the pooled counts: category j's count is hypergeometric
/// given the answers left after categories 0..j−1. The population left before category j is
/// fixed by the table, so the tables are keyed by (j, draws left) and built on first use.
/// </summary>
internal sealed class MultivariateHypergeometricSampler
{
    private readonly int[] _pooled;
    private readonly int _total;
    private readonly int _sizeA;
    private readonly int[] _populationBefore;
    private readonly HypergeometricTable?[] _tables; // [j * (sizeA + 1) + draws]
    private readonly double[] _logFactorials;
    private readonly double[] _scratch;

    public MultivariateHypergeometricSampler(int[] pooled, int sizeA, double[] logFactorials)
    {
        _pooled = pooled;
        _sizeA = sizeA;
        _logFactorials = logFactorials;
        int k = pooled.Length;
        _populationBefore = new int[k];
        int remaining = 0;
        foreach (int c in pooled) remaining += c;
        _total = remaining;
        _scratch = new double[sizeA + 1];
        _tables = new HypergeometricTable?[(k - 1) * (sizeA + 1)];
        for (int j = 0; j < k; j++)
        {
            _populationBefore[j] = remaining;
            remaining -= pooled[j];
        }
    }

    /// <summary>Fills <paramref name="a"/> with a draw of the first group's counts and <paramref name="b"/> with the rest.</summary>
    public void Sample(ref Xoshiro256 rng, Span<int> a, Span<int> b)
    {
        int k = _pooled.Length;
        int draws = _sizeA;
        int stride = _sizeA + 1;
        for (int j = 0; j < k - 1; j++)
        {
            int c = _pooled[j];
            int x;
            if (draws == 0 || c == 0) x = 0;
            else if (draws == _populationBefore[j]) x = c;
            else
            {
                var table = _tables[j * stride + draws] ??= new HypergeometricTable(_populationBefore[j], c, draws, _logFactorials, _scratch);
                x = table.Invert(rng.NextDouble());
            }
            a[j] = x;
            b[j] = c - x;
            draws -= x;
        }
        a[k - 1] = draws;
        b[k - 1] = _pooled[k - 1] - draws;
    }

    public int Total => _total;
}

/// <summary>
/// xoshiro256** (Blackman &amp; Vigna 2018), seeded by SplitMix64 from a seed that comes from
/// <see cref="Randomness.Seeds.Derive"/>. Used on the categorical engine's hot path, where
/// <see cref="Random"/>'s virtual calls cost more than the draw itself.
/// </summary>
internal struct Xoshiro256
{
    private ulong _s0, _s1, _s2, _s3;

    public Xoshiro256(int seed)
    {
        ulong x = (ulong)(uint)seed;
        _s0 = SplitMix(ref x);
        _s1 = SplitMix(ref x);
        _s2 = SplitMix(ref x);
        _s3 = SplitMix(ref x);
    }

    public ulong NextUInt64()
    {
        ulong result = BitOperations.RotateLeft(_s1 * 5, 7) * 9;
        ulong t = _s1 << 17;
        _s2 ^= _s0;
        _s3 ^= _s1;
        _s1 ^= _s2;
        _s0 ^= _s3;
        _s2 ^= t;
        _s3 = BitOperations.RotateLeft(_s3, 45);
        return result;
    }

    /// <summary>A uniform double in [0, 1) with 53 random bits.</summary>
    public double NextDouble() => (NextUInt64() >> 11) * (1.0 / (1UL << 53));

    private static ulong SplitMix(ref ulong x)
    {
        ulong z = x += 0x9E3779B97F4A7C15UL;
        z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9UL;
        z = (z ^ (z >> 27)) * 0x94D049BB133111EBUL;
        return z ^ (z >> 31);
    }
}

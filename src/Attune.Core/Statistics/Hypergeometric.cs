namespace Attune.Core.Statistics;

/// <summary>
/// Exact hypergeometric draws by inversion: the number of successes among <c>n</c> items drawn
/// without replacement from <c>N</c> items of which <c>K</c> are successes. The search starts at
/// the mode (probability from a log-factorial table) and walks outwards, always towards the more
/// likely neighbour, getting each next probability from the ratio recurrence
/// p(x+1)/p(x) = (K−x)(n−x) / ((x+1)(N−K−n+x+1)). The expected number of steps is of the order of
/// the standard deviation, so a draw costs one uniform and a handful of multiplications.
/// </summary>
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

    /// <summary>log of the hypergeometric probability P(X = x) for population N, K successes, n draws.</summary>
    public static double LogPmf(int x, int populationSize, int successes, int draws, double[] logFactorials)
    {
        var lf = logFactorials;
        int N = populationSize, K = successes, n = draws;
        return lf[K] - lf[x] - lf[K - x] + lf[N - K] - lf[n - x] - lf[N - K - n + x] - lf[N] + lf[n] + lf[N - n];
    }

    /// <summary>One draw; <paramref name="logFactorials"/> must cover <paramref name="populationSize"/>.</summary>
    public static int Sample(Random rng, int populationSize, int successes, int draws, double[] logFactorials)
    {
        int N = populationSize, K = successes, n = draws;
        if (n == 0 || K == 0) return 0;
        if (K == N) return n;
        if (n == N) return K;
        int lo = Math.Max(0, n - (N - K));
        int hi = Math.Min(n, K);
        if (lo == hi) return lo;

        int mode = (int)((long)(n + 1) * (K + 1) / (N + 2));
        if (mode < lo) mode = lo;
        if (mode > hi) mode = hi;
        double pm = Math.Exp(LogPmf(mode, N, K, n, logFactorials));

        double u = rng.NextDouble();
        double cumulative = pm;
        if (u < cumulative) return mode;

        int other = N - K - n; // so that N − K − n + x = other + x
        int up = mode + 1, down = mode - 1;
        double pUp = up <= hi ? pm * ((double)(K - mode) * (n - mode) / ((double)(mode + 1) * (other + mode + 1))) : 0;
        double pDown = down >= lo ? pm * ((double)mode * (other + mode) / ((double)(K - mode + 1) * (n - mode + 1))) : 0;
        while (pUp > 0 || pDown > 0)
        {
            if (pUp >= pDown)
            {
                cumulative += pUp;
                if (u < cumulative) return up;
                pUp = up < hi ? pUp * ((double)(K - up) * (n - up) / ((double)(up + 1) * (other + up + 1))) : 0;
                up++;
            }
            else
            {
                cumulative += pDown;
                if (u < cumulative) return down;
                pDown = down > lo ? pDown * ((double)down * (other + down) / ((double)(K - down + 1) * (n - down + 1))) : 0;
                down--;
            }
        }
        return mode; // u fell in the rounding gap above the summed mass (probability ~1e-15)
    }
}

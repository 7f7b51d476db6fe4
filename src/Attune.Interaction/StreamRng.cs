using Attune.Core.Randomness;

namespace Attune.Interaction;

/// <summary>
/// Counter-based randomness for the simulator: the stream of user <c>u</c> at step <c>t</c> of a
/// component is a SplitMix64 sequence keyed by (seed, component, t, u). Because every
/// (step, user) pair has its own stream, two runs that differ only in one part (a counterfactual
/// recommender, an intervention) see exactly the same choice and rating noise for every user at
/// every step — common random numbers — and users can be simulated in parallel without the
/// result depending on scheduling.
/// </summary>
public struct StreamRng
{
    private ulong _state;

    public StreamRng(ulong key) => _state = key;

    /// <summary>The base key of a component (choice noise, recommender exploration, ...) of a seed.</summary>
    public static ulong Key(int seed, long component) =>
        Mix(((ulong)(uint)Seeds.Derive(seed, component) << 32) ^ (ulong)component ^ 0xD1B54A32D192ED03UL);

    /// <summary>The stream for (step, index) under <paramref name="key"/>.</summary>
    public static StreamRng For(ulong key, long step, long index) =>
        new(Mix(key ^ Mix(((ulong)step * 0x9E3779B97F4A7C15UL) + ((ulong)index * 0xC2B2AE3D27D4EB4FUL) + 0x165667B19E3779F9UL)));

    /// <summary>The SplitMix64 finaliser.</summary>
    public static ulong Mix(ulong z)
    {
        unchecked
        {
            z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9UL;
            z = (z ^ (z >> 27)) * 0x94D049BB133111EBUL;
            return z ^ (z >> 31);
        }
    }

    public ulong NextUInt64()
    {
        unchecked
        {
            _state += 0x9E3779B97F4A7C15UL;
            return Mix(_state);
        }
    }

    /// <summary>Uniform on [0, 1).</summary>
    public double NextDouble() => (NextUInt64() >> 11) * (1.0 / (1UL << 53));

    /// <summary>Uniform on [0, 1) in single precision.</summary>
    public float NextFloat() => (NextUInt64() >> 40) * (1f / (1 << 24));

    /// <summary>Uniform integer in [0, n).</summary>
    public int NextInt(int n) => (int)(((NextUInt64() >> 32) * (ulong)(uint)n) >> 32);

    /// <summary>Standard normal by Box–Muller; always consumes two draws.</summary>
    public double NextGaussian()
    {
        var u1 = 1.0 - NextDouble();
        var u2 = NextDouble();
        return Math.Sqrt(-2.0 * Math.Log(u1)) * Math.Cos(2.0 * Math.PI * u2);
    }

    /// <summary>Standard Gumbel: −log(−log U).</summary>
    public double NextGumbel() => -Math.Log(-Math.Log(1.0 - NextDouble() * (1 - 1e-12)));

    /// <summary>Gamma(shape, 1) by Marsaglia–Tsang (shape &lt; 1 boosted by U^{1/shape}).</summary>
    public double NextGamma(double shape)
    {
        if (shape < 1)
        {
            var boost = Math.Pow(1.0 - NextDouble(), 1.0 / shape);
            return NextGamma(shape + 1) * boost;
        }

        var d = shape - 1.0 / 3.0;
        var c = 1.0 / Math.Sqrt(9 * d);
        while (true)
        {
            double x, v;
            do
            {
                x = NextGaussian();
                v = 1 + (c * x);
            }
            while (v <= 0);

            v = v * v * v;
            var u = 1.0 - NextDouble();
            if (Math.Log(u) < (0.5 * x * x) + d - (d * v) + (d * Math.Log(v)))
            {
                return d * v;
            }
        }
    }

    /// <summary>Beta(a, b) as a ratio of gammas.</summary>
    public double NextBeta(double a, double b)
    {
        var x = NextGamma(a);
        var y = NextGamma(b);
        return x / (x + y);
    }
}

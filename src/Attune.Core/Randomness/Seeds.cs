namespace Attune.Core.Randomness;

/// <summary>
/// Explicit, reproducible randomness. Every stochastic piece of Attune takes a seed; independent
/// streams (one per worker, one per replicate) are derived from it with <see cref="Derive"/> so
/// that results do not depend on scheduling.
/// </summary>
public static class Seeds
{
    /// <summary>The seed used when a command is given none.</summary>
    public const int Default = 20261127;

    /// <summary>A generator for <paramref name="seed"/>: the same seed gives the same sequence.</summary>
    public static Random Create(int seed) => new(seed);

    /// <summary>A generator for stream <paramref name="stream"/> of <paramref name="seed"/>.</summary>
    public static Random Create(int seed, long stream) => new(Derive(seed, stream));

    /// <summary>
    /// A seed for stream <paramref name="stream"/> derived from <paramref name="seed"/> with the
    /// SplitMix64 finaliser, so neighbouring streams are statistically unrelated.
    /// </summary>
    public static int Derive(int seed, long stream)
    {
        unchecked
        {
            ulong z = ((ulong)(uint)seed << 32) ^ (ulong)stream;
            z += 0x9E3779B97F4A7C15UL;
            z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9UL;
            z = (z ^ (z >> 27)) * 0x94D049BB133111EBUL;
            z ^= z >> 31;
            return (int)(z & 0x7FFFFFFF);
        }
    }
}

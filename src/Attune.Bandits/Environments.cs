using Attune.Core.Errors;
using MathNet.Numerics.Distributions;

namespace Attune.Bandits;

/// <summary>
/// Where rewards come from: a simulated person (or a log of real ones). Rewards are in [0, 1];
/// rating environments also give the rating on their scale through <see cref="LastRating"/>.
/// </summary>
public interface IBanditEnvironment
{
    string Name { get; }

    int Arms { get; }

    /// <summary>The expected reward of each arm now (before the next pull); the oracle for regret.</summary>
    double ExpectedReward(int arm);

    /// <summary>Shows <paramref name="arm"/> and returns the reward; advances time.</summary>
    double Pull(int arm, Random rng);

    /// <summary>The rating behind the last reward on the environment's scale, where it has one.</summary>
    int? LastRating => null;

    /// <summary>
    /// The arm a person in this environment would choose themselves: a softmax over the current
    /// expected rewards with inverse temperature 10 (they mostly, not always, pick what they enjoy now).
    /// </summary>
    int Choose(Random rng)
    {
        ArgumentNullException.ThrowIfNull(rng);
        var w = new double[Arms];
        for (var i = 0; i < Arms; i++)
        {
            w[i] = Math.Exp(10 * ExpectedReward(i));
        }

        var u = rng.NextDouble() * w.Sum();
        for (var i = 0; i < Arms; i++)
        {
            u -= w[i];
            if (u < 0)
            {
                return i;
            }
        }

        return Arms - 1;
    }
}

/// <summary>A 1..L rating scale and its map to rewards in [0, 1]: r = (rating − 1)/(L − 1).</summary>
public readonly record struct RatingScale(int Min = 1, int Max = 9)
{
    public int Levels => Max - Min + 1;

    public double ToReward(double rating) => (rating - Min) / (Max - Min);

    public int FromMean(double meanOnUnit, double noise, Random rng)
    {
        var x = Min + (meanOnUnit * (Max - Min)) + (noise == 0 ? 0 : Normal.Sample(rng, 0, noise));
        return (int)Math.Clamp(Math.Round(x), Min, Max);
    }
}

/// <summary>Stationary Bernoulli arms with success probabilities p_i.</summary>
public sealed class BernoulliEnvironment(double[] p) : IBanditEnvironment
{
    public string Name => "bernoulli";

    public int Arms => p.Length;

    public double ExpectedReward(int arm) => p[arm];

    public double Pull(int arm, Random rng)
    {
        ArgumentNullException.ThrowIfNull(rng);
        return rng.NextDouble() < p[arm] ? 1 : 0;
    }
}

/// <summary>Stationary Gaussian arms N(μ_i, σ²) (rewards not clipped).</summary>
public sealed class GaussianEnvironment(double[] means, double sd) : IBanditEnvironment
{
    public string Name => "gaussian";

    public int Arms => means.Length;

    public double ExpectedReward(int arm) => means[arm];

    public double Pull(int arm, Random rng) => Normal.Sample(rng, means[arm], sd);
}

/// <summary>Stationary categorical ratings: arm i rates level l with probability P[i][l] on the scale.</summary>
public sealed class CategoricalRatingEnvironment : IBanditEnvironment
{
    private readonly double[][] _p;
    private int? _last;

    public CategoricalRatingEnvironment(double[][] probabilities, RatingScale scale)
    {
        ArgumentNullException.ThrowIfNull(probabilities);
        _p = probabilities;
        Scale = scale;
        if (_p.Any(row => row.Length != scale.Levels))
        {
            throw new ArgumentException($"every arm needs {scale.Levels} level probabilities", nameof(probabilities));
        }
    }

    public RatingScale Scale { get; }

    public string Name => "categorical";

    public int Arms => _p.Length;

    public int? LastRating => _last;

    public double ExpectedReward(int arm) => _p[arm].Select((q, l) => q * Scale.ToReward(Scale.Min + l)).Sum() / _p[arm].Sum();

    public double Pull(int arm, Random rng)
    {
        ArgumentNullException.ThrowIfNull(rng);
        var u = rng.NextDouble() * _p[arm].Sum();
        var level = 0;
        for (; level < Scale.Levels - 1; level++)
        {
            u -= _p[arm][level];
            if (u < 0)
            {
                break;
            }
        }

        _last = Scale.Min + level;
        return Scale.ToReward(_last.Value);
    }

    /// <summary>Rating distributions peaked at each arm's mean rating, for simulations: a discretised normal with sd 1.5.</summary>
    public static CategoricalRatingEnvironment Peaked(double[] meanRatings, RatingScale scale) =>
        new([.. meanRatings.Select(m => Enumerable.Range(scale.Min, scale.Levels).Select(l => Math.Exp(-0.5 * Math.Pow((l - m) / 1.5, 2))).ToArray())], scale);
}

/// <summary>
/// Satiation with rebounding (Leqi, Kılınç-Karzan, Lipton &amp; Montgomery 2021, "Rebounding
/// bandits"): arm i's satiation evolves as s_i ← γ (s_i + 1{pulled}) and its expected reward is
/// b_i − λ s_i, so enjoyment falls with repeated exposure and recovers when the arm rests. Rewards
/// are ratings on the scale (normal noise, rounded and clipped) mapped to [0, 1].
/// </summary>
public sealed class SatiationEnvironment(double[] baseReward, double lambda, double retention, double ratingNoise, RatingScale scale) : IBanditEnvironment
{
    private readonly double[] _satiation = new double[baseReward.Length];
    private int? _last;

    public string Name => "satiation";

    public int Arms => baseReward.Length;

    public int? LastRating => _last;

    public double Satiation(int arm) => _satiation[arm];

    public double ExpectedReward(int arm) => Math.Clamp(baseReward[arm] - (lambda * _satiation[arm]), 0, 1);

    public double Pull(int arm, Random rng)
    {
        _last = scale.FromMean(ExpectedReward(arm), ratingNoise, rng);
        for (var i = 0; i < Arms; i++)
        {
            _satiation[i] = retention * (_satiation[i] + (i == arm ? 1 : 0));
        }

        return scale.ToReward(_last.Value);
    }
}

/// <summary>
/// Drifting preferences: every arm's mean takes a Gaussian random-walk step of sd δ each round
/// (reflected into [0, 1]), whether or not it is shown. Ratings as in <see cref="SatiationEnvironment"/>.
/// </summary>
public sealed class DriftingEnvironment(double[] start, double drift, double ratingNoise, RatingScale scale, int seed) : IBanditEnvironment
{
    private readonly double[] _means = [.. start];
    private readonly Random _walk = new(seed);
    private int? _last;

    public string Name => "drifting";

    public int Arms => _means.Length;

    public int? LastRating => _last;

    public double ExpectedReward(int arm) => _means[arm];

    public double Pull(int arm, Random rng)
    {
        _last = scale.FromMean(_means[arm], ratingNoise, rng);
        for (var i = 0; i < Arms; i++)
        {
            var m = _means[i] + Normal.Sample(_walk, 0, drift);
            _means[i] = m < 0 ? -m : m > 1 ? 2 - m : m;
        }

        return scale.ToReward(_last.Value);
    }
}

/// <summary>
/// Replays logged responses: pulling arm i returns the next logged reward of arm i in log order,
/// starting over when the arm's log is used up. Its expected reward is the arm's logged mean.
/// </summary>
public sealed class ReplayEnvironment : IBanditEnvironment
{
    private readonly double[][] _rewards;
    private readonly int[] _next;

    public ReplayEnvironment(IEnumerable<(int Arm, double Reward)> log, int arms)
    {
        ArgumentNullException.ThrowIfNull(log);
        var lists = Enumerable.Range(0, arms).Select(_ => new List<double>()).ToArray();
        foreach (var (arm, reward) in log)
        {
            lists[arm].Add(reward);
        }

        if (lists.Any(l => l.Count == 0))
        {
            throw new AttuneInputException("replay environment: every arm needs at least one logged response");
        }

        _rewards = [.. lists.Select(l => l.ToArray())];
        _next = new int[arms];
    }

    public string Name => "replay";

    public int Arms => _rewards.Length;

    public double ExpectedReward(int arm) => _rewards[arm].Average();

    public double Pull(int arm, Random rng)
    {
        var r = _rewards[arm][_next[arm]];
        _next[arm] = (_next[arm] + 1) % _rewards[arm].Length;
        return r;
    }
}

/// <summary>Environments by name for the command line, with spread-out arm means.</summary>
public static class Environments
{
    public static readonly IReadOnlyList<string> Names = ["bernoulli", "gaussian", "categorical", "satiation", "drifting"];

    /// <summary>Arm means 0.2 … 0.8 evenly spaced (a single arm gets 0.5), then shuffled by <paramref name="seed"/>.</summary>
    public static double[] SpreadMeans(int arms, int seed)
    {
        var means = Enumerable.Range(0, arms).Select(i => arms == 1 ? 0.5 : 0.2 + (0.6 * i / (arms - 1))).ToArray();
        new Random(seed).Shuffle(means);
        return means;
    }

    /// <summary>A fresh environment for one simulated run.</summary>
    public static IBanditEnvironment Create(string name, int arms, int seed)
    {
        ArgumentNullException.ThrowIfNull(name);
        var means = SpreadMeans(arms, seed);
        var scale = new RatingScale(1, 9);
        return name.ToLowerInvariant() switch
        {
            "bernoulli" => new BernoulliEnvironment(means),
            "gaussian" => new GaussianEnvironment(means, 0.25),
            "categorical" => CategoricalRatingEnvironment.Peaked([.. means.Select(m => 1 + (8 * m))], scale),
            "satiation" => new SatiationEnvironment(means, lambda: 0.15, retention: 0.8, ratingNoise: 1.0, scale),
            "drifting" => new DriftingEnvironment(means, drift: 0.03, ratingNoise: 1.0, scale, seed),
            _ => throw new AttuneInputException($"unknown environment '{name}'; known: {string.Join(", ", Names)}"),
        };
    }
}

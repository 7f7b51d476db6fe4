using System.Globalization;
using Attune.Core.Errors;
using MathNet.Numerics.Distributions;

namespace Attune.Bandits;

/// <summary>
/// A bandit policy over <see cref="Arms"/> arms with rewards in [0, 1]. <see cref="SelectArm"/>
/// does not change the policy (it may draw from the generator it is given); <see cref="Update"/>
/// records the reward of the arm that was shown and advances the round. The whole state is the
/// sequence of (arm, reward) pairs seen, so a policy can always be rebuilt by replaying its
/// history: that is how the study server restores it, never from a serialised object.
/// </summary>
public interface IBanditPolicy
{
    string Name { get; }

    int Arms { get; }

    /// <summary>Rounds seen so far (number of <see cref="Update"/> calls).</summary>
    int Round { get; }

    int SelectArm(Random rng);

    void Update(int arm, double reward);

    /// <summary>
    /// The probability of each arm at the next <see cref="SelectArm"/>. Deterministic policies
    /// give one-hot vectors; randomised ones their exact distribution where it is known in
    /// closed form, else a Monte-Carlo estimate from <paramref name="draws"/> selections.
    /// </summary>
    double[] Probabilities(Random rng, int draws = 2000)
    {
        var p = new double[Arms];
        for (var i = 0; i < draws; i++)
        {
            p[SelectArm(rng)] += 1.0 / draws;
        }

        return p;
    }
}

/// <summary>Counts, sums and the round, shared by the index policies.</summary>
public abstract class BanditPolicyBase : IBanditPolicy
{
    protected BanditPolicyBase(int arms)
    {
        if (arms < 1)
        {
            throw new ArgumentOutOfRangeException(nameof(arms), arms, "a bandit needs at least one arm");
        }

        Arms = arms;
        Counts = new int[arms];
        Sums = new double[arms];
    }

    public abstract string Name { get; }

    public int Arms { get; }

    public int Round { get; private set; }

    /// <summary>Pulls of each arm.</summary>
    public int[] Counts { get; }

    /// <summary>Summed rewards of each arm.</summary>
    public double[] Sums { get; }

    public double Mean(int arm) => Counts[arm] == 0 ? 0 : Sums[arm] / Counts[arm];

    public abstract int SelectArm(Random rng);

    public virtual void Update(int arm, double reward)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(arm);
        ArgumentOutOfRangeException.ThrowIfGreaterThanOrEqual(arm, Arms);
        Counts[arm]++;
        Sums[arm] += reward;
        Round++;
    }

    public virtual double[] Probabilities(Random rng, int draws = 2000)
    {
        var p = new double[Arms];
        for (var i = 0; i < draws; i++)
        {
            p[SelectArm(rng)] += 1.0 / draws;
        }

        return p;
    }

    /// <summary>The first arm not yet pulled, or −1.</summary>
    protected int FirstUnpulled() => Array.IndexOf(Counts, 0);

    /// <summary>Index of the largest value; ties go to the lowest index, so steps can be checked by hand.</summary>
    protected static int ArgMax(ReadOnlySpan<double> values)
    {
        var best = 0;
        for (var i = 1; i < values.Length; i++)
        {
            if (values[i] > values[best])
            {
                best = i;
            }
        }

        return best;
    }

    protected double[] OneHot(int arm)
    {
        var p = new double[Arms];
        p[arm] = 1;
        return p;
    }
}

/// <summary>
/// UCB1 (Auer, Cesa-Bianchi &amp; Fischer 2002) with the exploration weight α of the study:
/// pull each arm once, then the arm maximising mean + √(α ln t / n_i), t the rounds so far.
/// α = 2 is Auer et al.'s UCB1.
/// </summary>
public sealed class Ucb1Policy(int arms, double alpha = 2) : BanditPolicyBase(arms)
{
    public double Alpha { get; } = alpha;

    public override string Name => string.Create(CultureInfo.InvariantCulture, $"ucb1(alpha={Alpha})");

    public double Index(int arm) =>
        Counts[arm] == 0 ? double.PositiveInfinity : Mean(arm) + Math.Sqrt(Alpha * Math.Log(Round) / Counts[arm]);

    public override int SelectArm(Random rng)
    {
        var unpulled = FirstUnpulled();
        if (unpulled >= 0)
        {
            return unpulled;
        }

        Span<double> index = stackalloc double[Arms];
        for (var i = 0; i < Arms; i++)
        {
            index[i] = Index(i);
        }

        return ArgMax(index);
    }

    public override double[] Probabilities(Random rng, int draws = 2000) => OneHot(SelectArm(rng));
}

/// <summary>ε-greedy: with probability ε a uniformly random arm, else the best mean (each arm once first).</summary>
public sealed class EpsilonGreedyPolicy(int arms, double epsilon = 0.1) : BanditPolicyBase(arms)
{
    public double Epsilon { get; } = epsilon;

    public override string Name => string.Create(CultureInfo.InvariantCulture, $"epsilon-greedy(epsilon={Epsilon})");

    public override int SelectArm(Random rng)
    {
        ArgumentNullException.ThrowIfNull(rng);
        var unpulled = FirstUnpulled();
        if (unpulled >= 0)
        {
            return unpulled;
        }

        return rng.NextDouble() < Epsilon ? rng.Next(Arms) : Greedy();
    }

    private int Greedy()
    {
        Span<double> means = stackalloc double[Arms];
        for (var i = 0; i < Arms; i++)
        {
            means[i] = Mean(i);
        }

        return ArgMax(means);
    }

    public override double[] Probabilities(Random rng, int draws = 2000)
    {
        if (FirstUnpulled() >= 0)
        {
            return OneHot(FirstUnpulled());
        }

        var p = new double[Arms];
        for (var i = 0; i < Arms; i++)
        {
            p[i] = Epsilon / Arms;
        }

        p[Greedy()] += 1 - Epsilon;
        return p;
    }
}

/// <summary>Explore-then-commit: each arm <c>m</c> times in turn, then the best mean for ever.</summary>
public sealed class ExploreThenCommitPolicy(int arms, int explorePerArm = 2) : BanditPolicyBase(arms)
{
    public int ExplorePerArm { get; } = explorePerArm;

    public override string Name => $"explore-then-commit(m={ExplorePerArm})";

    public override int SelectArm(Random rng)
    {
        if (Round < ExplorePerArm * Arms)
        {
            return Round % Arms;
        }

        Span<double> means = stackalloc double[Arms];
        for (var i = 0; i < Arms; i++)
        {
            means[i] = Mean(i);
        }

        return ArgMax(means);
    }

    public override double[] Probabilities(Random rng, int draws = 2000) => OneHot(SelectArm(rng));
}

/// <summary>
/// Thompson sampling with Beta(1, 1) priors on Bernoulli arms. A reward r in [0, 1] counts as a
/// success with probability r (Agrawal &amp; Goyal 2012), which keeps the posterior conjugate;
/// a draw is taken from <paramref name="rng"/> only when r is strictly between 0 and 1.
/// </summary>
public sealed class BetaThompsonPolicy(int arms, double priorAlpha = 1, double priorBeta = 1) : BanditPolicyBase(arms)
{
    private readonly double[] _successes = new double[arms];
    private readonly double[] _failures = new double[arms];
    private Random _updateRng = new(0);

    public override string Name => "thompson-beta";

    public double PosteriorAlpha(int arm) => priorAlpha + _successes[arm];

    public double PosteriorBeta(int arm) => priorBeta + _failures[arm];

    /// <summary>Generator for the Bernoulli trick on fractional rewards (default seed 0).</summary>
    public void UseUpdateGenerator(Random rng) => _updateRng = rng;

    public override int SelectArm(Random rng)
    {
        Span<double> draws = stackalloc double[Arms];
        for (var i = 0; i < Arms; i++)
        {
            draws[i] = Beta.Sample(rng, PosteriorAlpha(i), PosteriorBeta(i));
        }

        return ArgMax(draws);
    }

    public override void Update(int arm, double reward)
    {
        base.Update(arm, reward);
        var success = reward >= 1 || (reward > 0 && _updateRng.NextDouble() < reward);
        if (success)
        {
            _successes[arm]++;
        }
        else
        {
            _failures[arm]++;
        }
    }
}

/// <summary>
/// Thompson sampling for Gaussian rewards with known noise σ and a N(μ₀, τ₀²) prior: the posterior
/// of arm i after n pulls with sum S is N((μ₀/τ₀² + S/σ²)/(1/τ₀² + n/σ²), 1/(1/τ₀² + n/σ²)).
/// </summary>
public sealed class GaussianThompsonPolicy(int arms, double noiseSd = 0.25, double priorMean = 0.5, double priorSd = 1) : BanditPolicyBase(arms)
{
    public override string Name => "thompson-gaussian";

    public (double Mean, double Sd) Posterior(int arm)
    {
        var precision = (1 / (priorSd * priorSd)) + (Counts[arm] / (noiseSd * noiseSd));
        var mean = ((priorMean / (priorSd * priorSd)) + (Sums[arm] / (noiseSd * noiseSd))) / precision;
        return (mean, Math.Sqrt(1 / precision));
    }

    public override int SelectArm(Random rng)
    {
        Span<double> draws = stackalloc double[Arms];
        for (var i = 0; i < Arms; i++)
        {
            var (mean, sd) = Posterior(i);
            draws[i] = Normal.Sample(rng, mean, sd);
        }

        return ArgMax(draws);
    }
}

/// <summary>
/// Thompson sampling over rating levels, as in the study: each arm's ratings are categorical over
/// L levels with a Dirichlet(1, …, 1) prior; a draw p ~ Dirichlet(1 + counts) scores the arm by its
/// expected rating Σ_l p_l · l. Rewards in [0, 1] map to the level round(r (L − 1)).
/// </summary>
public sealed class DirichletThompsonPolicy(int arms, int levels = 9, double prior = 1) : BanditPolicyBase(arms)
{
    private readonly double[][] _counts = [.. Enumerable.Range(0, arms).Select(_ => new double[levels])];

    public int Levels { get; } = levels;

    public override string Name => $"thompson-dirichlet(levels={Levels})";

    public double[] PosteriorParameters(int arm) => [.. _counts[arm].Select(c => c + prior)];

    public override int SelectArm(Random rng)
    {
        Span<double> scores = stackalloc double[Arms];
        var p = new double[Levels];
        for (var i = 0; i < Arms; i++)
        {
            // p ~ Dirichlet(a) as normalised Gamma(a_l, 1) draws.
            double total = 0, expected = 0;
            for (var l = 0; l < Levels; l++)
            {
                p[l] = Gamma.Sample(rng, _counts[i][l] + prior, 1);
                total += p[l];
                expected += p[l] * l;
            }

            scores[i] = expected / total;
        }

        return ArgMax(scores);
    }

    public override void Update(int arm, double reward)
    {
        base.Update(arm, reward);
        var level = (int)Math.Round(Math.Clamp(reward, 0, 1) * (Levels - 1));
        _counts[arm][level]++;
    }
}

/// <summary>
/// EXP3 (Auer, Cesa-Bianchi, Freund &amp; Schapire 2002): p_i = (1 − γ) w_i / Σw + γ/K; after arm i
/// gives x, w_i ← w_i · exp(γ (x / p_i) / K). Weights are kept in log space.
/// </summary>
public sealed class Exp3Policy(int arms, double gamma = 0.1) : BanditPolicyBase(arms)
{
    private readonly double[] _logWeights = new double[arms];

    public double Gamma { get; } = gamma;

    public override string Name => string.Create(CultureInfo.InvariantCulture, $"exp3(gamma={Gamma})");

    public double[] Weights => [.. _logWeights.Select(Math.Exp)];

    public override double[] Probabilities(Random rng, int draws = 2000)
    {
        var max = _logWeights.Max();
        var w = _logWeights.Select(l => Math.Exp(l - max)).ToArray();
        var total = w.Sum();
        return [.. w.Select(x => ((1 - Gamma) * x / total) + (Gamma / Arms))];
    }

    public override int SelectArm(Random rng)
    {
        ArgumentNullException.ThrowIfNull(rng);
        var p = Probabilities(rng);
        var u = rng.NextDouble();
        for (var i = 0; i < Arms; i++)
        {
            u -= p[i];
            if (u < 0)
            {
                return i;
            }
        }

        return Arms - 1;
    }

    public override void Update(int arm, double reward)
    {
        var p = Probabilities(Random.Shared)[arm];
        base.Update(arm, reward);
        _logWeights[arm] += Gamma * (reward / p) / Arms;
    }
}

/// <summary>
/// Sliding-window UCB (Garivier &amp; Moulines 2011): means and counts over the last τ rounds only,
/// index = mean_τ + √(ξ ln min(t, τ) / N_τ,i); arms absent from the window are pulled first.
/// </summary>
public sealed class SlidingWindowUcbPolicy(int arms, int window = 20, double xi = 0.6) : BanditPolicyBase(arms)
{
    private readonly Queue<(int Arm, double Reward)> _recent = new();

    public int Window { get; } = window;

    public override string Name => $"sw-ucb(window={Window})";

    public override int SelectArm(Random rng)
    {
        var n = new double[Arms];
        var s = new double[Arms];
        foreach (var (arm, reward) in _recent)
        {
            n[arm]++;
            s[arm] += reward;
        }

        Span<double> index = stackalloc double[Arms];
        var t = Math.Min(Round, Window);
        for (var i = 0; i < Arms; i++)
        {
            if (n[i] == 0)
            {
                return i;
            }

            index[i] = (s[i] / n[i]) + Math.Sqrt(xi * Math.Log(Math.Max(t, 1)) / n[i]);
        }

        return ArgMax(index);
    }

    public override void Update(int arm, double reward)
    {
        base.Update(arm, reward);
        _recent.Enqueue((arm, reward));
        while (_recent.Count > Window)
        {
            _recent.Dequeue();
        }
    }

    public override double[] Probabilities(Random rng, int draws = 2000) => OneHot(SelectArm(rng));
}

/// <summary>
/// Discounted UCB (Kocsis &amp; Szepesvári 2006; Garivier &amp; Moulines 2011): discounted counts
/// N_i = Σ γ^{t−s} 1{I_s = i} and sums, index = mean_γ + 2 √(ξ ln n_t / N_i) with n_t = Σ N_i.
/// </summary>
public sealed class DiscountedUcbPolicy(int arms, double discount = 0.9, double xi = 0.6) : BanditPolicyBase(arms)
{
    private readonly double[] _n = new double[arms];
    private readonly double[] _s = new double[arms];

    public double Discount { get; } = discount;

    public override string Name => string.Create(CultureInfo.InvariantCulture, $"d-ucb(gamma={Discount})");

    public override int SelectArm(Random rng)
    {
        var unpulled = FirstUnpulled();
        if (unpulled >= 0)
        {
            return unpulled;
        }

        var total = _n.Sum();
        Span<double> index = stackalloc double[Arms];
        for (var i = 0; i < Arms; i++)
        {
            index[i] = _n[i] < 1e-12 ? double.PositiveInfinity
                : (_s[i] / _n[i]) + (2 * Math.Sqrt(xi * Math.Log(Math.Max(total, 1)) / _n[i]));
        }

        return ArgMax(index);
    }

    public override void Update(int arm, double reward)
    {
        base.Update(arm, reward);
        for (var i = 0; i < Arms; i++)
        {
            _n[i] *= Discount;
            _s[i] *= Discount;
        }

        _n[arm] += 1;
        _s[arm] += reward;
    }

    public override double[] Probabilities(Random rng, int draws = 2000) => OneHot(SelectArm(rng));
}

/// <summary>
/// Discounted Thompson sampling (Raj &amp; Kalyani 2017): Beta posteriors whose success and failure
/// counts decay by γ every round, S_i ← γ S_i + r 1{I_t = i}, F_i ← γ F_i + (1 − r) 1{I_t = i}.
/// </summary>
public sealed class DiscountedThompsonPolicy(int arms, double discount = 0.9, double priorAlpha = 1, double priorBeta = 1) : BanditPolicyBase(arms)
{
    private readonly double[] _s = new double[arms];
    private readonly double[] _f = new double[arms];

    public double Discount { get; } = discount;

    public override string Name => string.Create(CultureInfo.InvariantCulture, $"discounted-thompson(gamma={Discount})");

    public override int SelectArm(Random rng)
    {
        Span<double> draws = stackalloc double[Arms];
        for (var i = 0; i < Arms; i++)
        {
            draws[i] = Beta.Sample(rng, priorAlpha + _s[i], priorBeta + _f[i]);
        }

        return ArgMax(draws);
    }

    public override void Update(int arm, double reward)
    {
        base.Update(arm, reward);
        for (var i = 0; i < Arms; i++)
        {
            _s[i] *= Discount;
            _f[i] *= Discount;
        }

        _s[arm] += reward;
        _f[arm] += 1 - reward;
    }
}

/// <summary>
/// A satiation-aware policy for rebounding bandits (after Leqi et al. 2021): each arm's satiation
/// s_i evolves as s_i ← γ (s_i + 1{I_t = i}); the expected reward is b_i − λ s_i. The base b_i of
/// each arm and one pooled λ ≥ 0 are fitted by least squares on the history (within-arm
/// regression of reward on satiation); the arm maximising b̂_i − λ̂ s_i + √(2 ln t / n_i) is played.
/// </summary>
public sealed class SatiationAwarePolicy(int arms, double retention = 0.8) : BanditPolicyBase(arms)
{
    private readonly double[] _satiation = new double[arms];
    private readonly double[] _sumS = new double[arms];
    private readonly double[] _sumSS = new double[arms];
    private readonly double[] _sumSR = new double[arms];

    public double Retention { get; } = retention;

    public override string Name => string.Create(CultureInfo.InvariantCulture, $"satiation-aware(gamma={Retention})");

    public double Satiation(int arm) => _satiation[arm];

    /// <summary>The fitted λ̂ (pooled within-arm slope of reward on satiation, sign flipped, at least 0).</summary>
    public double Lambda
    {
        get
        {
            double sxy = 0, sxx = 0;
            for (var i = 0; i < Arms; i++)
            {
                if (Counts[i] < 2)
                {
                    continue;
                }

                var ms = _sumS[i] / Counts[i];
                sxy += _sumSR[i] - (Counts[i] * ms * Mean(i));
                sxx += _sumSS[i] - (Counts[i] * ms * ms);
            }

            return sxx < 1e-9 ? 0 : Math.Max(0, -sxy / sxx);
        }
    }

    public double Base(int arm) => Counts[arm] == 0 ? 0 : Mean(arm) + (Lambda * _sumS[arm] / Counts[arm]);

    public override int SelectArm(Random rng)
    {
        var unpulled = FirstUnpulled();
        if (unpulled >= 0)
        {
            return unpulled;
        }

        var lambda = Lambda;
        Span<double> index = stackalloc double[Arms];
        for (var i = 0; i < Arms; i++)
        {
            var b = Mean(i) + (lambda * _sumS[i] / Counts[i]);
            index[i] = b - (lambda * _satiation[i]) + Math.Sqrt(2 * Math.Log(Round) / Counts[i]);
        }

        return ArgMax(index);
    }

    public override void Update(int arm, double reward)
    {
        // The reward was produced at the satiation level before this pull.
        var s = _satiation[arm];
        _sumS[arm] += s;
        _sumSS[arm] += s * s;
        _sumSR[arm] += s * reward;
        base.Update(arm, reward);
        for (var i = 0; i < Arms; i++)
        {
            _satiation[i] = Retention * (_satiation[i] + (i == arm ? 1 : 0));
        }
    }

    public override double[] Probabilities(Random rng, int draws = 2000) => OneHot(SelectArm(rng));
}

/// <summary>Uniformly random arms.</summary>
public sealed class UniformRandomPolicy(int arms) : BanditPolicyBase(arms)
{
    public override string Name => "uniform";

    public override int SelectArm(Random rng)
    {
        ArgumentNullException.ThrowIfNull(rng);
        return rng.Next(Arms);
    }

    public override double[] Probabilities(Random rng, int draws = 2000) => [.. Enumerable.Repeat(1.0 / Arms, Arms)];
}

/// <summary>
/// A fixed sequence, as the study's control conditions: cyclic (0, 1, …, K−1, 0, 1, …) or blocked
/// (each arm ⌈T/K⌉ rounds in a row, arm 0 first) over <c>T</c> rounds.
/// </summary>
public sealed class FixedSequencePolicy : BanditPolicyBase
{
    public FixedSequencePolicy(int arms, int rounds, bool blocked) : base(arms)
    {
        Blocked = blocked;
        Rounds = rounds;
    }

    public bool Blocked { get; }

    public int Rounds { get; }

    public override string Name => Blocked ? "blocked" : "cyclic";

    public int ArmAt(int round)
    {
        if (!Blocked)
        {
            return round % Arms;
        }

        var block = (int)Math.Ceiling(Math.Max(Rounds, Arms) / (double)Arms);
        return Math.Min(round / block, Arms - 1);
    }

    public override int SelectArm(Random rng) => ArmAt(Round);

    public override double[] Probabilities(Random rng, int draws = 2000) => OneHot(SelectArm(rng));
}

/// <summary>
/// The participant chooses the arm. In a study the choice comes from the person; in simulation
/// from the environment's <see cref="IBanditEnvironment.Choose"/>. Selecting without a chooser fails.
/// </summary>
public sealed class SelfSelectedPolicy(int arms) : BanditPolicyBase(arms)
{
    public override string Name => "self-selected";

    /// <summary>Who chooses; set by the simulator (or left null in a study, where the person chooses).</summary>
    public Func<Random, int>? Chooser { get; set; }

    public override int SelectArm(Random rng) =>
        Chooser is null ? throw new InvalidOperationException("the self-selected policy's arm is chosen by the participant") : Chooser(rng);
}

/// <summary>Policies by name, as the command line and study configs give them.</summary>
public static class Policies
{
    public static readonly IReadOnlyList<string> Names =
    [
        "ucb1", "epsilon-greedy", "explore-then-commit", "thompson-beta", "thompson-gaussian", "thompson-dirichlet",
        "exp3", "sw-ucb", "d-ucb", "discounted-thompson", "satiation-aware", "uniform", "cyclic", "blocked", "self-selected",
    ];

    /// <summary>
    /// A policy from a name with optional parameters, e.g. <c>ucb1</c>, <c>ucb1:alpha=0.5</c>,
    /// <c>epsilon-greedy:epsilon=0.2</c>, <c>sw-ucb:window=10</c>.
    /// </summary>
    public static IBanditPolicy Create(string spec, int arms, int rounds, int levels = 9)
    {
        ArgumentNullException.ThrowIfNull(spec);
        var parts = spec.Split(':', 2);
        var name = parts[0].Trim().ToLowerInvariant();
        var args = new Dictionary<string, double>(StringComparer.OrdinalIgnoreCase);
        if (parts.Length == 2)
        {
            foreach (var kv in parts[1].Split(',', StringSplitOptions.RemoveEmptyEntries))
            {
                var pair = kv.Split('=', 2);
                if (pair.Length != 2 || !double.TryParse(pair[1], NumberStyles.Float, CultureInfo.InvariantCulture, out var v))
                {
                    throw new AttuneInputException($"policy '{spec}': parameter '{kv}' is not NAME=NUMBER");
                }

                args[pair[0].Trim()] = v;
            }
        }

        // The parameters this policy asks for; any other given is refused, not silently ignored.
        var takes = new List<string>();
        double Arg(string key, double fallback)
        {
            takes.Add(key);
            return args.TryGetValue(key, out var v) ? v : fallback;
        }

        IBanditPolicy policy = name switch
        {
            "ucb1" or "ucb" => new Ucb1Policy(arms, Arg("alpha", 2)),
            "epsilon-greedy" or "egreedy" => new EpsilonGreedyPolicy(arms, Arg("epsilon", 0.1)),
            "explore-then-commit" or "etc" => new ExploreThenCommitPolicy(arms, (int)Arg("m", 2)),
            "thompson-beta" or "thompson" => new BetaThompsonPolicy(arms),
            "thompson-gaussian" => new GaussianThompsonPolicy(arms, Arg("sigma", 0.25)),
            "thompson-dirichlet" => new DirichletThompsonPolicy(arms, (int)Arg("levels", levels)),
            "exp3" => new Exp3Policy(arms, Arg("gamma", 0.1)),
            "sw-ucb" => new SlidingWindowUcbPolicy(arms, (int)Arg("window", 20), Arg("xi", 0.6)),
            "d-ucb" => new DiscountedUcbPolicy(arms, Arg("gamma", 0.9), Arg("xi", 0.6)),
            "discounted-thompson" => new DiscountedThompsonPolicy(arms, Arg("gamma", 0.9)),
            "satiation-aware" => new SatiationAwarePolicy(arms, Arg("gamma", 0.8)),
            "uniform" or "random" => new UniformRandomPolicy(arms),
            "cyclic" => new FixedSequencePolicy(arms, rounds, blocked: false),
            "blocked" => new FixedSequencePolicy(arms, rounds, blocked: true),
            "self-selected" => new SelfSelectedPolicy(arms),
            _ => throw new AttuneInputException($"unknown policy '{parts[0]}'; known: {string.Join(", ", Names)}"),
        };
        if (args.Keys.FirstOrDefault(k => !takes.Contains(k, StringComparer.OrdinalIgnoreCase)) is { } unknown)
        {
            throw new AttuneInputException(takes.Count == 0
                ? $"policy '{spec}': {name} takes no parameters (got '{unknown}')"
                : $"policy '{spec}': unknown parameter '{unknown}' ({name} takes {string.Join(", ", takes)})");
        }

        return policy;
    }
}

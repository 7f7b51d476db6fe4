namespace Attune.Interaction;

/// <summary>
/// A user model: how a user values an item now (the true utility the choice model sees) and how
/// consuming an item changes the user (the preference dynamics x_{t+1} = f(x_t, u_t, w_t) on the
/// user side). Preference vectors live in <see cref="World.Preferences"/>; models with extra
/// state (satiation, boredom) keep it themselves, allocated once in <see cref="Initialize"/>.
/// <see cref="Update"/> touches only the given user's state, so users update in parallel.
/// </summary>
public abstract class UserModel
{
    public abstract string Name { get; }

    public virtual void Initialize(World world)
    {
    }

    /// <summary>The user's current true utility of <paramref name="item"/>; by default ⟨p_u, v_i⟩.</summary>
    public virtual float Utility(World world, int user, int item) =>
        VectorOps.Dot(world.Preference(user), world.Item(item));

    /// <summary>Utilities of every item for <paramref name="user"/> (the oracle's scores).</summary>
    public virtual void Utilities(World world, int user, Span<float> scores) =>
        VectorOps.ScoreAll(world.Preference(user), world.ItemVectorsByDimension, scores);

    /// <summary>Applies the update rule after the user consumed <paramref name="item"/> (−1: nothing) and gave <paramref name="rating"/>.</summary>
    public abstract void Update(World world, int user, int item, float rating);

    /// <summary>The preference vector the user would have after consuming <paramref name="item"/>, without changing anything.</summary>
    public virtual void Preview(World world, int user, int item, Span<float> next) => world.Preference(user).CopyTo(next);
}

/// <summary>
/// Users whose preferences never change: p_{t+1} = p_t. With idiosyncrasy σ &gt; 0 each user's true
/// utility of each item is ⟨p_u, v_i⟩ + σ ε_ui with ε_ui ~ N(0, 1) drawn once per (user, item) and
/// fixed for the run (Chaney et al. 2018 draw each true utility around ⟨p_u, v_i⟩ in the same way);
/// ε_ui is a hash of (seed, u, i), so it takes no memory.
/// </summary>
public sealed class StaticUsers(double idiosyncrasy = 0) : UserModel
{
    private ulong _key;

    public double Idiosyncrasy { get; } = idiosyncrasy;

    public override string Name => "static";

    public override void Initialize(World world) => _key = StreamRng.Key(world.Seed, Simulation.IdiosyncrasyStream);

    /// <summary>The fixed idiosyncratic term ε_ui.</summary>
    public double Epsilon(int user, int item)
    {
        var rng = StreamRng.For(_key, user, item);
        return rng.NextGaussian();
    }

    public override float Utility(World world, int user, int item)
    {
        var u = base.Utility(world, user, item);
        return Idiosyncrasy == 0 ? u : (float)(u + (Idiosyncrasy * Epsilon(user, item)));
    }

    public override void Utilities(World world, int user, Span<float> scores)
    {
        base.Utilities(world, user, scores);
        if (Idiosyncrasy != 0)
        {
            for (var i = 0; i < scores.Length; i++)
            {
                scores[i] += (float)(Idiosyncrasy * Epsilon(user, i));
            }
        }
    }

    public override void Update(World world, int user, int item, float rating)
    {
    }
}

/// <summary>
/// Biased assimilation (Hązła, Jin, Mossel, Ramnarayan 2019, "A geometric model of opinion
/// polarization"; Dean &amp; Morgenstern 2022, "Preference dynamics under personalized
/// recommendations"): after seeing item v the user moves toward v when they agree with it and
/// away when they disagree, p ← (p + η⟨p, v⟩v) / ‖p + η⟨p, v⟩v‖. A zero vector is left as it is.
/// </summary>
public sealed class BiasedAssimilation(double eta) : UserModel
{
    public double Eta { get; } = eta;

    public override string Name => "biased_assimilation";

    public override void Update(World world, int user, int item, float rating)
    {
        if (item >= 0)
        {
            Apply(world.Preference(user), world.Item(item), (float)Eta);
        }
    }

    public override void Preview(World world, int user, int item, Span<float> next)
    {
        world.Preference(user).CopyTo(next);
        if (item >= 0)
        {
            Apply(next, world.Item(item), (float)Eta);
        }
    }

    /// <summary>p ← (p + η⟨p, v⟩v)/‖·‖, in place.</summary>
    public static void Apply(Span<float> p, ReadOnlySpan<float> v, float eta)
    {
        var a = eta * VectorOps.Dot(p, v);
        System.Numerics.Tensors.TensorPrimitives.MultiplyAdd(v, a, p, p);
        VectorOps.Normalize(p);
    }
}

/// <summary>
/// Drift toward the consumed item (T-RECS <c>Users(drift=η)</c>): the unit preference moves a
/// fraction η of the great-circle arc toward the unit item, p ← slerp(p̂, v̂, η) =
/// (sin((1−η)ω) p̂ + sin(ηω) v̂) / sin ω with cos ω = ⟨p̂, v̂⟩. Unlike T-RECS 0.2.1, which divides
/// by sin ω and so turns a user who reaches an item's direction into NaN, when sin ω &lt; 1e-6
/// the rule falls back to the limit: p̂ itself when p̂ = v̂ (the arc has length 0), and p̂ unchanged
/// when p̂ = −v̂ (the arc is not unique).
/// </summary>
public sealed class DriftTowardItem(double rate) : UserModel
{
    public double Rate { get; } = rate;

    public override string Name => "drift";

    public override void Update(World world, int user, int item, float rating)
    {
        if (item >= 0)
        {
            Slerp(world.Preference(user), world.Item(item), Rate);
        }
    }

    public override void Preview(World world, int user, int item, Span<float> next)
    {
        world.Preference(user).CopyTo(next);
        if (item >= 0)
        {
            Slerp(next, world.Item(item), Rate);
        }
    }

    /// <summary>p ← slerp(p̂, v̂, t) in place (p ends with unit length).</summary>
    public static void Slerp(Span<float> p, ReadOnlySpan<float> v, double t)
    {
        var np = VectorOps.Norm(p);
        var nv = VectorOps.Norm(v);
        if (np == 0 || nv == 0 || !float.IsFinite(np) || !float.IsFinite(nv))
        {
            return;
        }

        var cos = Math.Clamp(VectorOps.Dot(p, v) / ((double)np * nv), -1.0, 1.0);
        var omega = Math.Acos(cos);
        var sin = Math.Sin(omega);
        if (sin < 1e-6)
        {
            VectorOps.Normalize(p);
            return;
        }

        var a = (float)(Math.Sin((1 - t) * omega) / sin / np);
        var b = (float)(Math.Sin(t * omega) / sin / nv);
        for (var k = 0; k < p.Length; k++)
        {
            p[k] = (a * p[k]) + (b * v[k]);
        }

        VectorOps.Normalize(p);
    }
}

/// <summary>
/// Satiation per topic (Leqi, Kılınç-Karzan, Lipton, Montgomery 2021, "Rebounding bandits for
/// modeling satiation effects"): each user has a satiation level s_k per topic,
/// s_{k,t+1} = γ_k (s_{k,t} + 1[a_t = k]), and the reward of an item of topic k is its base
/// reward minus λ_k s_{k,t}. The base reward is ⟨p, v⟩, or b_k when per-topic base rewards are
/// given (the rebounding-bandit setting, where arms are topics).
/// </summary>
public sealed class SatiationUsers(double[] gamma, double[] lambda, double[]? baseReward) : UserModel
{
    private float[] _satiation = [];
    private int _topics;

    public IReadOnlyList<double> Gamma { get; } = gamma;

    public IReadOnlyList<double> Lambda { get; } = lambda;

    public IReadOnlyList<double>? BaseReward { get; } = baseReward;

    public override string Name => "satiation";

    public override void Initialize(World world)
    {
        _topics = world.Topics;
        _satiation = new float[world.UserCount * _topics];
    }

    /// <summary>The satiation levels s_{·,t} of <paramref name="user"/>.</summary>
    public ReadOnlySpan<float> Satiation(int user) => _satiation.AsSpan(user * _topics, _topics);

    private double G(int k) => Gamma[Gamma.Count == 1 ? 0 : k];

    private double L(int k) => Lambda[Lambda.Count == 1 ? 0 : k];

    public override float Utility(World world, int user, int item)
    {
        var k = world.ItemTopics[item];
        var b = BaseReward is null ? VectorOps.Dot(world.Preference(user), world.Item(item)) : BaseReward[k];
        return (float)(b - (L(k) * _satiation[(user * _topics) + k]));
    }

    public override void Utilities(World world, int user, Span<float> scores)
    {
        if (BaseReward is null)
        {
            base.Utilities(world, user, scores);
        }

        for (var i = 0; i < scores.Length; i++)
        {
            var k = world.ItemTopics[i];
            var b = BaseReward is null ? scores[i] : BaseReward[k];
            scores[i] = (float)(b - (L(k) * _satiation[(user * _topics) + k]));
        }
    }

    public override void Update(World world, int user, int item, float rating)
    {
        var chosen = item >= 0 ? world.ItemTopics[item] : -1;
        var s = _satiation.AsSpan(user * _topics, _topics);
        for (var k = 0; k < s.Length; k++)
        {
            s[k] = (float)(G(k) * (s[k] + (k == chosen ? 1 : 0)));
        }
    }
}

/// <summary>
/// Boredom and sensitisation (RecLab's topics environment, Krauth et al. 2020, "Do offline metrics
/// predict online performance in recommender systems?"): utility of an item of topic k is
/// ⟨p, v⟩ + q_k − β·1[topic k was consumed at least θ times among the last H consumptions];
/// after consuming topic k the topic preference is sensitised, q_k ← q_k + δ and
/// q_j ← q_j − δ/(K−1) for j ≠ k, each clipped to [−1, 1] (a negative δ habituates instead).
/// </summary>
public sealed class BoredomSensitisation(int history, int threshold, double penalty, double sensitisation) : UserModel
{
    private float[] _topicPreference = [];
    private int[] _recent = [];
    private int[] _cursor = [];
    private int _topics;

    public int History { get; } = history;

    public int Threshold { get; } = threshold;

    public double Penalty { get; } = penalty;

    public double Sensitisation { get; } = sensitisation;

    public override string Name => "boredom";

    public override void Initialize(World world)
    {
        _topics = world.Topics;
        _topicPreference = new float[world.UserCount * _topics];
        _recent = new int[world.UserCount * Math.Max(1, History)];
        Array.Fill(_recent, -1);
        _cursor = new int[world.UserCount];
    }

    public ReadOnlySpan<float> TopicPreference(int user) => _topicPreference.AsSpan(user * _topics, _topics);

    public bool Bored(int user, int topic)
    {
        var h = Math.Max(1, History);
        var count = 0;
        foreach (var t in _recent.AsSpan(user * h, h))
        {
            count += t == topic ? 1 : 0;
        }

        return count >= Threshold;
    }

    public override float Utility(World world, int user, int item)
    {
        var k = world.ItemTopics[item];
        var u = VectorOps.Dot(world.Preference(user), world.Item(item)) + _topicPreference[(user * _topics) + k];
        return Bored(user, k) ? (float)(u - Penalty) : u;
    }

    public override void Utilities(World world, int user, Span<float> scores)
    {
        base.Utilities(world, user, scores);
        Span<bool> bored = stackalloc bool[_topics];
        for (var k = 0; k < _topics; k++)
        {
            bored[k] = Bored(user, k);
        }

        for (var i = 0; i < scores.Length; i++)
        {
            var k = world.ItemTopics[i];
            scores[i] += _topicPreference[(user * _topics) + k] - (bored[k] ? (float)Penalty : 0f);
        }
    }

    public override void Update(World world, int user, int item, float rating)
    {
        if (item < 0)
        {
            return;
        }

        var k = world.ItemTopics[item];
        var h = Math.Max(1, History);
        _recent[(user * h) + _cursor[user]] = k;
        _cursor[user] = (_cursor[user] + 1) % h;
        if (_topics > 1 && Sensitisation != 0)
        {
            var q = _topicPreference.AsSpan(user * _topics, _topics);
            var others = (float)(Sensitisation / (_topics - 1));
            for (var j = 0; j < _topics; j++)
            {
                q[j] = Math.Clamp(q[j] + (j == k ? (float)Sensitisation : -others), -1f, 1f);
            }
        }
    }
}

/// <summary>
/// Opinion drift toward a fixed recommendation (the anchored model surveyed by Dean et al. 2024,
/// after Friedkin–Johnsen): the opinion is pulled back to the user's initial opinion x₀ with
/// weight η and set by what was shown with weight 1 − η, x_{t+1} = η x₀ + (1 − η) u_t, where u_t
/// is the consumed item. Under a fixed recommendation u the opinion is at η x₀ + (1 − η) u after one step.
/// </summary>
public sealed class OpinionDrift(double eta) : UserModel
{
    public double Eta { get; } = eta;

    public override string Name => "opinion_drift";

    public override void Update(World world, int user, int item, float rating)
    {
        if (item >= 0)
        {
            Apply(world.InitialPreference(user), world.Item(item), Eta, world.Preference(user));
        }
    }

    public override void Preview(World world, int user, int item, Span<float> next)
    {
        world.Preference(user).CopyTo(next);
        if (item >= 0)
        {
            Apply(world.InitialPreference(user), world.Item(item), Eta, next);
        }
    }

    public static void Apply(ReadOnlySpan<float> x0, ReadOnlySpan<float> u, double eta, Span<float> x)
    {
        for (var k = 0; k < x.Length; k++)
        {
            x[k] = (float)((eta * x0[k]) + ((1 - eta) * u[k]));
        }
    }
}

namespace Attune.Interaction;

/// <summary>
/// A recommender: it scores every item for a user and the simulator shows the top k (the policy
/// u_t of the AI system). <see cref="Score"/> runs for many users in parallel and may only read
/// shared state; learning happens in <see cref="BeginStep"/> and <see cref="Observe"/>, which run
/// once per step. Recommenders read the interaction record in <see cref="World"/>, so one
/// switched in mid-run by an intervention starts from everything observed so far.
/// </summary>
public abstract class Recommender
{
    public abstract string Name { get; }

    /// <summary>Called once when the recommender enters a run (at step 0 or at an intervention).</summary>
    public virtual void Initialize(World world, UserModel users, ulong key)
    {
    }

    /// <summary>Called before the users of a step are served: retraining and shared feeds happen here.</summary>
    public virtual void BeginStep(World world)
    {
    }

    /// <summary>Writes a score for every item into <paramref name="scores"/> (length m); higher is shown first.</summary>
    public abstract void Score(World world, int user, Span<float> scores, ref StreamRng rng);

    /// <summary>Called after every user of a step acted, with what they did.</summary>
    public virtual void Observe(World world, StepRecord record)
    {
    }
}

/// <summary>Random recommendations: every item gets an independent uniform score each step.</summary>
public sealed class RandomRecommender : Recommender
{
    public override string Name => "random";

    public override void Score(World world, int user, Span<float> scores, ref StreamRng rng)
    {
        for (var i = 0; i < scores.Length; i++)
        {
            scores[i] = rng.NextFloat();
        }
    }
}

/// <summary>Popularity: score = total consumptions of the item so far, ties broken at random.</summary>
public sealed class PopularityRecommender : Recommender
{
    public override string Name => "popularity";

    public override void Score(World world, int user, Span<float> scores, ref StreamRng rng)
    {
        for (var i = 0; i < scores.Length; i++)
        {
            scores[i] = world.Popularity[i] + (0.5f * rng.NextFloat());
        }
    }
}

/// <summary>The ideal recommender of Chaney et al.: top k by the user's true current utility.</summary>
public sealed class OracleRecommender : Recommender
{
    private UserModel _users = new StaticUsers();

    public override string Name => "oracle";

    public override void Initialize(World world, UserModel users, ulong key) => _users = users;

    public override void Score(World world, int user, Span<float> scores, ref StreamRng rng) => _users.Utilities(world, user, scores);
}

/// <summary>
/// Content filtering (T-RECS <c>ContentFiltering</c>): item attributes V (m×d) are known; each
/// user's profile is the least-squares fit of their interaction counts c_u on the attributes,
/// θ_u = argmin ‖V θ − c_u‖² + λ‖θ‖² = (VᵀV + λI)⁻¹ Vᵀ c_u, refitted every N steps; the score of
/// item i is ⟨θ_u, v_i⟩. Vᵀc_u (the sum of consumed item vectors) is kept up to date in
/// O(d) per interaction and (VᵀV + λI)⁻¹ is recomputed only when items move, so a refit is
/// O(n d²) and equals the full least-squares solution.
/// </summary>
public sealed class ContentFiltering(int every, double ridge) : Recommender
{
    private double[] _gramInverse = [];
    private double[] _sums = [];
    private float[] _profiles = [];
    private int _itemVersion = -1;

    public int Every { get; } = Math.Max(1, every);

    public double Ridge { get; } = ridge;

    public override string Name => "content_filtering";

    /// <summary>θ_u as last fitted.</summary>
    public ReadOnlySpan<float> Profile(int user, int dimension) => _profiles.AsSpan(user * dimension, dimension);

    public override void Initialize(World world, UserModel users, ulong key)
    {
        _sums = new double[world.UserCount * world.Dimension];
        _profiles = new float[world.UserCount * world.Dimension];
        _gramInverse = new double[world.Dimension * world.Dimension];
        Rebuild(world);
        Refit(world);
    }

    private void Rebuild(World world)
    {
        int n = world.UserCount, m = world.ItemCount, d = world.Dimension;
        var gram = new double[d * d];
        for (var i = 0; i < m; i++)
        {
            var v = world.Item(i);
            for (var a = 0; a < d; a++)
            {
                for (var b = 0; b < d; b++)
                {
                    gram[(a * d) + b] += v[a] * (double)v[b];
                }
            }
        }

        for (var a = 0; a < d; a++)
        {
            gram[(a * d) + a] += Ridge;
        }

        VectorOps.InvertSpd(gram, _gramInverse, d);
        Array.Clear(_sums);
        for (var u = 0; u < n; u++)
        {
            var counts = world.Counts.AsSpan(u * m, m);
            var s = _sums.AsSpan(u * d, d);
            for (var i = 0; i < m; i++)
            {
                if (counts[i] != 0)
                {
                    var v = world.Item(i);
                    for (var k = 0; k < d; k++)
                    {
                        s[k] += counts[i] * (double)v[k];
                    }
                }
            }
        }

        _itemVersion = world.ItemVersion;
    }

    private void Refit(World world)
    {
        int n = world.UserCount, d = world.Dimension;
        for (var u = 0; u < n; u++)
        {
            var s = _sums.AsSpan(u * d, d);
            var theta = _profiles.AsSpan(u * d, d);
            for (var a = 0; a < d; a++)
            {
                theta[a] = (float)System.Numerics.Tensors.TensorPrimitives.Dot<double>(_gramInverse.AsSpan(a * d, d), s);
            }
        }
    }

    public override void BeginStep(World world)
    {
        if (world.ItemVersion != _itemVersion)
        {
            Rebuild(world);
        }

        if (world.Step % Every == 0)
        {
            Refit(world);
        }
    }

    public override void Score(World world, int user, Span<float> scores, ref StreamRng rng) =>
        VectorOps.ScoreAll(_profiles.AsSpan(user * world.Dimension, world.Dimension), world.ItemVectorsByDimension, scores);

    public override void Observe(World world, StepRecord record)
    {
        var d = world.Dimension;
        for (var u = 0; u < world.UserCount; u++)
        {
            var item = record.Chosen[u];
            if (item >= 0)
            {
                var v = world.Item(item);
                var s = _sums.AsSpan(u * d, d);
                for (var k = 0; k < d; k++)
                {
                    s[k] += v[k];
                }
            }
        }
    }
}

/// <summary>
/// Matrix factorisation trained on observed feedback (the feedback loop of Chaney et al. 2018):
/// ratings r_ui (the mean of a user's ratings of an item) are fitted by r̂_ui = ⟨a_u, b_i⟩ with
/// ridge λ by alternating least squares, a_u = (Σ_{i∈I_u} b_i b_iᵀ + λI)⁻¹ Σ_{i∈I_u} r_ui b_i and
/// symmetrically for b_i, retrained every N steps. Before the first retraining (the start-up
/// period) it recommends at random, as Chaney et al. do.
/// </summary>
public sealed class MatrixFactorisation(int rank, double ridge, int every, int iterations, int startup) : Recommender
{
    private float[] _users = [];
    private float[] _items = [];
    private float[] _itemsByDimension = [];
    private bool _trained;

    public int Rank { get; } = Math.Max(1, rank);

    public double Ridge { get; } = ridge;

    public int Every { get; } = Math.Max(1, every);

    public int Iterations { get; } = Math.Max(1, iterations);

    public int Startup { get; } = Math.Max(0, startup);

    public override string Name => "matrix_factorisation";

    public override void Initialize(World world, UserModel users, ulong key)
    {
        _users = new float[world.UserCount * Rank];
        _items = new float[world.ItemCount * Rank];
        _itemsByDimension = new float[world.ItemCount * Rank];
        var rng = StreamRng.For(key, -1, 0);
        for (var i = 0; i < _users.Length; i++)
        {
            _users[i] = (float)(0.1 * rng.NextGaussian());
        }

        for (var i = 0; i < _items.Length; i++)
        {
            _items[i] = (float)(0.1 * rng.NextGaussian());
        }

        _trained = false;
        if (world.Step >= Startup && world.Step > 0)
        {
            Train(world);
        }
    }

    public override void BeginStep(World world)
    {
        if (world.Step >= Startup && world.Step > 0 && (world.Step - Startup) % Every == 0)
        {
            Train(world);
        }
    }

    /// <summary>Runs the ALS sweeps on the current record.</summary>
    public void Train(World world)
    {
        int n = world.UserCount, m = world.ItemCount, r = Rank;
        var a = new double[r * r];
        var b = new double[r];
        for (var it = 0; it < Iterations; it++)
        {
            for (var u = 0; u < n; u++)
            {
                Solve(world, u, byUser: true, a, b);
            }

            for (var i = 0; i < m; i++)
            {
                Solve(world, i, byUser: false, a, b);
            }
        }

        for (var i = 0; i < m; i++)
        {
            for (var k = 0; k < r; k++)
            {
                _itemsByDimension[(k * m) + i] = _items[(i * r) + k];
            }
        }

        _trained = true;
    }

    private void Solve(World world, int index, bool byUser, double[] a, double[] b)
    {
        int n = world.UserCount, m = world.ItemCount, r = Rank;
        Array.Clear(a);
        Array.Clear(b);
        var others = byUser ? _items : _users;
        var count = byUser ? m : n;
        var any = false;
        for (var j = 0; j < count; j++)
        {
            var cell = byUser ? (index * m) + j : (j * m) + index;
            var c = world.Counts[cell];
            if (c == 0)
            {
                continue;
            }

            any = true;
            var rating = world.RatingSums[cell] / c;
            var f = others.AsSpan(j * r, r);
            for (var x = 0; x < r; x++)
            {
                b[x] += rating * f[x];
                for (var y = 0; y < r; y++)
                {
                    a[(x * r) + y] += f[x] * (double)f[y];
                }
            }
        }

        var target = (byUser ? _users : _items).AsSpan(index * r, r);
        if (!any)
        {
            return;
        }

        for (var x = 0; x < r; x++)
        {
            a[(x * r) + x] += Ridge;
        }

        VectorOps.CholeskySolve(a, b, r);
        for (var x = 0; x < r; x++)
        {
            target[x] = (float)b[x];
        }
    }

    public override void Score(World world, int user, Span<float> scores, ref StreamRng rng)
    {
        if (!_trained)
        {
            for (var i = 0; i < scores.Length; i++)
            {
                scores[i] = rng.NextFloat();
            }

            return;
        }

        VectorOps.ScoreAll(_users.AsSpan(user * Rank, Rank), _itemsByDimension, scores);
    }
}

/// <summary>Which per-user bandit rule <see cref="BanditRecommender"/> follows.</summary>
public enum BanditRule
{
    EpsilonGreedy,
    Ucb,
    Thompson,
}

/// <summary>
/// Per-user bandits over items, with the user's observed mean rating μ̂_ui = S_ui / N_ui:
/// ε-greedy (with probability ε every item gets a random score, else μ̂_ui, unseen items scoring
/// the prior mean); UCB1 (μ̂_ui + c √(ln(t+1) / N_ui), unseen items first); Thompson sampling with
/// a Gaussian posterior (score ~ N(S_ui/(N_ui+1), σ²/(N_ui+1))).
/// </summary>
public sealed class BanditRecommender(BanditRule rule, double parameter, double prior) : Recommender
{
    public BanditRule Rule { get; } = rule;

    /// <summary>ε, c or σ.</summary>
    public double Parameter { get; } = parameter;

    public double Prior { get; } = prior;

    public override string Name => Rule switch
    {
        BanditRule.EpsilonGreedy => "epsilon_greedy",
        BanditRule.Ucb => "ucb",
        _ => "thompson",
    };

    public override void Score(World world, int user, Span<float> scores, ref StreamRng rng)
    {
        var m = world.ItemCount;
        var counts = world.Counts.AsSpan(user * m, m);
        var sums = world.RatingSums.AsSpan(user * m, m);
        switch (Rule)
        {
            case BanditRule.EpsilonGreedy:
                var explore = rng.NextDouble() < Parameter;
                for (var i = 0; i < m; i++)
                {
                    scores[i] = explore ? rng.NextFloat() : counts[i] == 0 ? (float)Prior : sums[i] / counts[i];
                }

                break;
            case BanditRule.Ucb:
                var log = Math.Log(world.Step + 1.0);
                for (var i = 0; i < m; i++)
                {
                    scores[i] = counts[i] == 0 ? 1e30f : (float)((sums[i] / counts[i]) + (Parameter * Math.Sqrt(log / counts[i])));
                }

                break;
            default:
                for (var i = 0; i < m; i++)
                {
                    var n = counts[i] + 1.0;
                    scores[i] = (float)(((sums[i] + Prior) / n) + (Parameter / Math.Sqrt(n) * rng.NextGaussian()));
                }

                break;
        }
    }
}

/// <summary>
/// Softmax recommendations with temperature τ over a base recommender's scores s_i: the slate is a
/// Plackett–Luce sample, item i first with probability e^{s_i/τ} / Σ_j e^{s_j/τ} (drawn by the
/// Gumbel top-k trick, s_i/τ + g_i). This is the exposure model of Hron et al. 2022.
/// </summary>
public sealed class SoftmaxRecommender(Recommender inner, double temperature) : Recommender
{
    public Recommender Inner { get; } = inner;

    public double Temperature { get; } = temperature;

    public override string Name => $"softmax({Inner.Name})";

    public override void Initialize(World world, UserModel users, ulong key) => Inner.Initialize(world, users, key);

    public override void BeginStep(World world) => Inner.BeginStep(world);

    public override void Observe(World world, StepRecord record) => Inner.Observe(world, record);

    public override void Score(World world, int user, Span<float> scores, ref StreamRng rng)
    {
        Inner.Score(world, user, scores, ref rng);
        var inv = 1.0 / Temperature;
        for (var i = 0; i < scores.Length; i++)
        {
            scores[i] = (float)((scores[i] * inv) + rng.NextGumbel());
        }
    }
}

/// <summary>Where the one shared feed of <see cref="MassMediaRecommender"/> comes from.</summary>
public enum FeedSource
{
    /// <summary>A fresh random ranking each step, the same for everyone (Hązła et al. 2019).</summary>
    Random,

    /// <summary>Most consumed items overall.</summary>
    Popular,

    /// <summary>Items ranked by ⟨a, v_i⟩ for a fixed axis a (a fixed editorial line).</summary>
    Axis,
}

/// <summary>"Mass media": one feed shown to every user, s_ui = s_i for all u.</summary>
public sealed class MassMediaRecommender(FeedSource source, float[]? axis) : Recommender
{
    private float[] _feed = [];
    private float[]? _axis = axis;
    private ulong _key;

    public FeedSource Source { get; } = source;

    public override string Name => "mass_media";

    public override void Initialize(World world, UserModel users, ulong key)
    {
        _feed = new float[world.ItemCount];
        _key = key;
        if (_axis is null)
        {
            // Default editorial line: the direction of the population's mean initial preference.
            _axis = new float[world.Dimension];
            for (var u = 0; u < world.UserCount; u++)
            {
                var p = world.InitialPreference(u);
                for (var k = 0; k < p.Length; k++)
                {
                    _axis[k] += p[k];
                }
            }

            VectorOps.Normalize(_axis);
        }
    }

    public override void BeginStep(World world)
    {
        switch (Source)
        {
            case FeedSource.Random:
                var rng = StreamRng.For(_key, world.Step, -7);
                for (var i = 0; i < _feed.Length; i++)
                {
                    _feed[i] = rng.NextFloat();
                }

                break;
            case FeedSource.Popular:
                for (var i = 0; i < _feed.Length; i++)
                {
                    _feed[i] = world.Popularity[i] - (i * 1e-6f);
                }

                break;
            default:
                VectorOps.ScoreAll(_axis, world.ItemVectorsByDimension, _feed);
                break;
        }
    }

    public override void Score(World world, int user, Span<float> scores, ref StreamRng rng) => _feed.CopyTo(scores);
}

/// <summary>
/// A preference-stationarity-preserving policy (after Dean &amp; Morgenstern 2022, who design
/// recommendations under which preferences stay where they are): each item is scored by how
/// little consuming it would move the user, s_i = −‖f(p_u, v_i) − p_u‖² + w ⟨p_u, v_i⟩, using the
/// user model's own update f (so it knows the dynamics, as the paper's policy does); the small
/// weight w prefers relevant items among those that leave the preference unchanged.
/// </summary>
public sealed class StationarityPreserving(double relevanceWeight) : Recommender
{
    private UserModel _users = new StaticUsers();

    public double RelevanceWeight { get; } = relevanceWeight;

    public override string Name => "stationarity_preserving";

    public override void Initialize(World world, UserModel users, ulong key) => _users = users;

    public override void Score(World world, int user, Span<float> scores, ref StreamRng rng)
    {
        var d = world.Dimension;
        Span<float> next = d <= 256 ? stackalloc float[d] : new float[d];
        var p = world.Preference(user);
        for (var i = 0; i < scores.Length; i++)
        {
            _users.Preview(world, user, i, next);
            float change = 0;
            for (var k = 0; k < d; k++)
            {
                var x = next[k] - p[k];
                change += x * x;
            }

            scores[i] = (float)(-change + (RelevanceWeight * _users.Utility(world, user, i)));
        }
    }
}

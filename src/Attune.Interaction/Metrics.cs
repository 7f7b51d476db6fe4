using System.Numerics;

namespace Attune.Interaction;

/// <summary>
/// A metric is an observer y_t = g(x_t, u_t): after each step it reads the world and the step's
/// record and writes one value per name. Metrics never change the simulation.
/// </summary>
public abstract class Metric
{
    public abstract IReadOnlyList<string> Names { get; }

    public virtual void Initialize(World world, ulong key)
    {
    }

    public abstract void Measure(World world, StepRecord record, CreatorModel? creators, Span<double> values);
}

/// <summary>
/// Polarisation of preferences along an axis a: mean |cos(p_u, a)| over users (1 when everyone is
/// at ±a, about 2/π·… for a spread population), and Sarle's bimodality coefficient
/// BC = (skewness² + 1) / kurtosis of the projections cos(p_u, a) (population moments; 1 for two
/// equal point masses, 5/9 for a uniform distribution, 1/3 for a normal one). Without a given axis,
/// a is the first principal direction of the unit preferences (power iteration on Σ p̂ p̂ᵀ).
/// </summary>
public sealed class PolarizationMetric(float[]? axis) : Metric
{
    private double[] _projections = [];
    private float[] _axis = [];

    public override IReadOnlyList<string> Names { get; } = ["polarization", "bimodality"];

    public override void Initialize(World world, ulong key)
    {
        _projections = new double[world.UserCount];
        _axis = new float[world.Dimension];
    }

    public override void Measure(World world, StepRecord record, CreatorModel? creators, Span<double> values)
    {
        if (axis is not null)
        {
            axis.CopyTo(_axis, 0);
        }
        else
        {
            PrincipalAxis(world.Preferences, world.UserCount, world.Dimension, _axis);
        }

        values[0] = MeanAbsoluteCosine(world.Preferences, world.UserCount, world.Dimension, _axis, _projections);
        values[1] = BimodalityCoefficient(_projections);
    }

    /// <summary>mean_u |cos(p_u, a)|; writes the signed cosines into <paramref name="projections"/>.</summary>
    public static double MeanAbsoluteCosine(ReadOnlySpan<float> preferences, int users, int dimension, ReadOnlySpan<float> a, Span<double> projections)
    {
        double sum = 0;
        for (var u = 0; u < users; u++)
        {
            var c = VectorOps.Cosine(preferences.Slice(u * dimension, dimension), a);
            projections[u] = c;
            sum += Math.Abs(c);
        }

        return users == 0 ? 0 : sum / users;
    }

    /// <summary>Sarle's bimodality coefficient with population moments, (g² + 1)/k.</summary>
    public static double BimodalityCoefficient(ReadOnlySpan<double> x)
    {
        if (x.Length < 2)
        {
            return 0;
        }

        double mean = 0;
        foreach (var v in x)
        {
            mean += v;
        }

        mean /= x.Length;
        double m2 = 0, m3 = 0, m4 = 0;
        foreach (var v in x)
        {
            var e = v - mean;
            var e2 = e * e;
            m2 += e2;
            m3 += e2 * e;
            m4 += e2 * e2;
        }

        m2 /= x.Length;
        m3 /= x.Length;
        m4 /= x.Length;
        if (m2 <= 1e-300)
        {
            return 0;
        }

        var skew = m3 / Math.Pow(m2, 1.5);
        var kurt = m4 / (m2 * m2);
        return ((skew * skew) + 1) / kurt;
    }

    /// <summary>The first principal direction (uncentred) of the unit preferences, by power iteration.</summary>
    public static void PrincipalAxis(ReadOnlySpan<float> preferences, int users, int dimension, Span<float> axis)
    {
        var d = dimension;
        Span<double> c = stackalloc double[d * d];
        Span<float> unit = stackalloc float[d];
        for (var u = 0; u < users; u++)
        {
            preferences.Slice(u * d, d).CopyTo(unit);
            VectorOps.Normalize(unit);
            for (var a = 0; a < d; a++)
            {
                for (var b = 0; b < d; b++)
                {
                    c[(a * d) + b] += unit[a] * (double)unit[b];
                }
            }
        }

        Span<double> v = stackalloc double[d];
        Span<double> w = stackalloc double[d];
        for (var k = 0; k < d; k++)
        {
            v[k] = 1.0 + (0.01 * k);
        }

        for (var it = 0; it < 100; it++)
        {
            double norm = 0;
            for (var a = 0; a < d; a++)
            {
                double s = 0;
                for (var b = 0; b < d; b++)
                {
                    s += c[(a * d) + b] * v[b];
                }

                w[a] = s;
                norm += s * s;
            }

            norm = Math.Sqrt(norm);
            if (norm == 0)
            {
                break;
            }

            for (var a = 0; a < d; a++)
            {
                v[a] = w[a] / norm;
            }
        }

        for (var k = 0; k < d; k++)
        {
            axis[k] = (float)v[k];
        }
    }
}

/// <summary>How <see cref="HomogenizationMetric"/> pairs users.</summary>
public enum PairMode
{
    /// <summary>Each user with one other user drawn at random at the start (T-RECS' usage).</summary>
    Random,

    /// <summary>Each user with their nearest neighbour by initial preference (cosine), as Chaney et al. pair users.</summary>
    Nearest,

    /// <summary>Every unordered pair.</summary>
    All,
}

/// <summary>
/// Homogenisation (Chaney et al. 2018; T-RECS <c>InteractionSimilarity</c>): the mean Jaccard
/// similarity |S_u ∩ S_w| / |S_u ∪ S_w| of the sets of items two users have consumed, over the
/// chosen pairs (0 for two empty sets). Sets are bitsets, so a pair costs m/64 AND/OR/popcounts.
/// </summary>
public sealed class HomogenizationMetric(PairMode mode) : Metric
{
    private int[] _first = [];
    private int[] _second = [];

    public PairMode Mode { get; } = mode;

    public override IReadOnlyList<string> Names { get; } = ["homogenization"];

    public override void Initialize(World world, ulong key)
    {
        var n = world.UserCount;
        if (Mode == PairMode.All || n < 2)
        {
            return;
        }

        _first = new int[n];
        _second = new int[n];
        var rng = StreamRng.For(key, -1, 3);
        for (var u = 0; u < n; u++)
        {
            _first[u] = u;
            if (Mode == PairMode.Random)
            {
                var w = rng.NextInt(n - 1);
                _second[u] = w >= u ? w + 1 : w;
            }
            else
            {
                var best = -1;
                var bestCos = double.NegativeInfinity;
                for (var w = 0; w < n; w++)
                {
                    if (w == u)
                    {
                        continue;
                    }

                    var c = VectorOps.Cosine(world.InitialPreference(u), world.InitialPreference(w));
                    if (c > bestCos)
                    {
                        bestCos = c;
                        best = w;
                    }
                }

                _second[u] = best;
            }
        }
    }

    public override void Measure(World world, StepRecord record, CreatorModel? creators, Span<double> values)
    {
        var words = world.Words;
        var bits = world.ConsumedBits;
        double sum = 0;
        long count = 0;
        if (Mode == PairMode.All)
        {
            for (var u = 0; u < world.UserCount; u++)
            {
                for (var w = u + 1; w < world.UserCount; w++)
                {
                    sum += Jaccard(bits.AsSpan(u * words, words), bits.AsSpan(w * words, words));
                    count++;
                }
            }
        }
        else
        {
            for (var p = 0; p < _first.Length; p++)
            {
                sum += Jaccard(bits.AsSpan(_first[p] * words, words), bits.AsSpan(_second[p] * words, words));
                count++;
            }
        }

        values[0] = count == 0 ? 0 : sum / count;
    }

    /// <summary>Jaccard similarity of two bitsets (0 when both are empty).</summary>
    public static double Jaccard(ReadOnlySpan<ulong> a, ReadOnlySpan<ulong> b)
    {
        int inter = 0, union = 0;
        for (var k = 0; k < a.Length; k++)
        {
            inter += BitOperations.PopCount(a[k] & b[k]);
            union += BitOperations.PopCount(a[k] | b[k]);
        }

        return union == 0 ? 0 : (double)inter / union;
    }
}

/// <summary>
/// Diversity of what is shown. Within slates: the mean over users of the mean pairwise cosine
/// distance 1 − cos(v_i, v_j) among the items of the slate. Across slates: coverage, the share of
/// the catalogue shown to anyone this step, and overlap, the mean Jaccard similarity of
/// consecutive users' slates (u, u+1).
/// </summary>
public sealed class DiversityMetric : Metric
{
    private bool[] _shown = [];

    public override IReadOnlyList<string> Names { get; } = ["slate_diversity", "coverage", "slate_overlap"];

    public override void Initialize(World world, ulong key) => _shown = new bool[world.ItemCount];

    public override void Measure(World world, StepRecord record, CreatorModel? creators, Span<double> values)
    {
        Array.Clear(_shown);
        double within = 0, overlap = 0;
        var k = record.SlateSize;
        for (var u = 0; u < world.UserCount; u++)
        {
            var slate = record.Slate(u);
            within += SlateDiversity(world, slate);
            foreach (var i in slate)
            {
                if (i >= 0)
                {
                    _shown[i] = true;
                }
            }

            if (u + 1 < world.UserCount)
            {
                overlap += SlateJaccard(slate, record.Slate(u + 1));
            }
        }

        var shown = 0;
        foreach (var s in _shown)
        {
            shown += s ? 1 : 0;
        }

        values[0] = within / world.UserCount;
        values[1] = (double)shown / world.ItemCount;
        values[2] = world.UserCount > 1 ? overlap / (world.UserCount - 1) : 0;
        _ = k;
    }

    /// <summary>Mean pairwise cosine distance among a slate's items (0 for fewer than two).</summary>
    public static double SlateDiversity(World world, ReadOnlySpan<int> slate)
    {
        double sum = 0;
        var pairs = 0;
        for (var a = 0; a < slate.Length; a++)
        {
            for (var b = a + 1; b < slate.Length; b++)
            {
                if (slate[a] < 0 || slate[b] < 0)
                {
                    continue;
                }

                sum += 1 - VectorOps.Cosine(world.Item(slate[a]), world.Item(slate[b]));
                pairs++;
            }
        }

        return pairs == 0 ? 0 : sum / pairs;
    }

    /// <summary>Jaccard similarity of two slates as sets.</summary>
    public static double SlateJaccard(ReadOnlySpan<int> a, ReadOnlySpan<int> b)
    {
        int inter = 0, sizeA = 0, sizeB = 0;
        foreach (var x in a)
        {
            if (x < 0)
            {
                continue;
            }

            sizeA++;
            if (b.Contains(x))
            {
                inter++;
            }
        }

        foreach (var y in b)
        {
            sizeB += y >= 0 ? 1 : 0;
        }

        var union = sizeA + sizeB - inter;
        return union == 0 ? 0 : (double)inter / union;
    }
}

/// <summary>
/// Engagement versus welfare: engagement is the mean rating the platform observes (0 for the
/// outside option) and the share of users who consumed anything; utility is the mean true
/// utility at the moment of choice; welfare is the mean value of the chosen items under the users'
/// initial preferences, ⟨p_u(0), v⟩, which engagement-driven drift does not move.
/// </summary>
public sealed class EngagementMetric : Metric
{
    public override IReadOnlyList<string> Names { get; } = ["engagement", "consumption_rate", "utility", "welfare"];

    public override void Measure(World world, StepRecord record, CreatorModel? creators, Span<double> values)
    {
        double rating = 0, consumed = 0, utility = 0, welfare = 0;
        for (var u = 0; u < world.UserCount; u++)
        {
            var item = record.Chosen[u];
            if (item < 0)
            {
                continue;
            }

            consumed++;
            rating += record.Ratings[u];
            utility += record.Utilities[u];
            welfare += VectorOps.Dot(world.InitialPreference(u), world.Item(item));
        }

        var n = world.UserCount;
        values[0] = rating / n;
        values[1] = consumed / n;
        values[2] = utility / n;
        values[3] = welfare / n;
    }
}

/// <summary>
/// The supply side: mean creator profit (from the creator model; 0 without one) and content
/// diversity, the mean pairwise cosine distance 1 − cos(v_i, v_j) over all items.
/// </summary>
public sealed class CreatorMetric : Metric
{
    public override IReadOnlyList<string> Names { get; } = ["creator_profit", "content_diversity"];

    public override void Measure(World world, StepRecord record, CreatorModel? creators, Span<double> values)
    {
        double profit = 0;
        if (creators is not null && creators.Profits.Length > 0)
        {
            foreach (var p in creators.Profits)
            {
                profit += p;
            }

            profit /= creators.Profits.Length;
        }

        values[0] = profit;
        values[1] = ContentDiversity(world);
    }

    /// <summary>Mean pairwise cosine distance over all items (0 for fewer than two).</summary>
    public static double ContentDiversity(World world)
    {
        var m = world.ItemCount;
        if (m < 2)
        {
            return 0;
        }

        double sum = 0;
        for (var a = 0; a < m; a++)
        {
            for (var b = a + 1; b < m; b++)
            {
                sum += 1 - VectorOps.Cosine(world.Item(a), world.Item(b));
            }
        }

        return sum / (m * (m - 1) / 2.0);
    }
}

/// <summary>
/// Preference drift: the mean cosine distance 1 − cos(p_u(t), p_u(0)) of users from where they
/// started, and the number of users whose preference vector holds a NaN or infinity (which a
/// sound update rule never produces).
/// </summary>
public sealed class DriftMetric : Metric
{
    public override IReadOnlyList<string> Names { get; } = ["preference_drift", "nan_users"];

    public override void Measure(World world, StepRecord record, CreatorModel? creators, Span<double> values)
    {
        double drift = 0;
        var bad = 0;
        for (var u = 0; u < world.UserCount; u++)
        {
            var p = world.Preference(u);
            var finite = true;
            foreach (var x in p)
            {
                finite &= float.IsFinite(x);
            }

            if (!finite)
            {
                bad++;
                continue;
            }

            drift += 1 - VectorOps.Cosine(p, world.InitialPreference(u));
        }

        values[0] = drift / world.UserCount;
        values[1] = bad;
    }
}

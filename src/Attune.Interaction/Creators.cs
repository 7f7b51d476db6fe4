namespace Attune.Interaction;

/// <summary>
/// Content creators: each item is one creator's content vector, and a creator model moves those
/// vectors in response to the exposure or the market they get (the supply side of the coupled
/// system). <see cref="Step"/> runs once per step after the users acted.
/// </summary>
public abstract class CreatorModel
{
    protected CreatorModel(int every) => Every = Math.Max(1, every);

    public abstract string Name { get; }

    /// <summary>Creators act every this many steps.</summary>
    public int Every { get; }

    /// <summary>Each creator's current profit (utility), one per item.</summary>
    public double[] Profits { get; protected set; } = [];

    public virtual void Initialize(World world, ulong key) => Profits = new double[world.ItemCount];

    /// <summary>Moves the creators' content (and calls <see cref="World.ItemsChanged"/> when it did).</summary>
    public abstract void Step(World world, StepRecord record, ulong key);

    /// <summary>
    /// <paramref name="count"/> unit directions creators may move to, flattened [count × d]: the
    /// first half are users' preferences (where there are that many users), the rest Gaussian draws.
    /// </summary>
    protected static float[] CandidateDirections(World world, int count, StreamRng rng)
    {
        var d = world.Dimension;
        var directions = new float[count * d];
        for (var c = 0; c < count; c++)
        {
            var v = directions.AsSpan(c * d, d);
            if (c < world.UserCount && c < count / 2)
            {
                world.Preference(c).CopyTo(v);
            }
            else
            {
                for (var k = 0; k < d; k++)
                {
                    v[k] = (float)rng.NextGaussian();
                }
            }

            VectorOps.Normalize(v);
        }

        return directions;
    }
}

/// <summary>How creators in an exposure game move.</summary>
public enum CreatorDynamics
{
    /// <summary>Projected gradient ascent on the sphere: s ← (s + η Π_s ∇U)/‖·‖.</summary>
    Gradient,

    /// <summary>Each creator in turn jumps to the best of a candidate set of directions.</summary>
    BestResponse,
}

/// <summary>
/// Exposure games (Hron, Krauth, Jordan, Kilbertus, Dean 2022, "Modeling content creator incentives
/// on algorithm-curated platforms"): creator j places content s_j on the unit sphere; user i
/// (preference x_i) exposes it with softmax probability e_ij = exp(⟨x_i, s_j⟩/τ) / Σ_l exp(⟨x_i, s_l⟩/τ);
/// creator j's utility is its total exposure U_j = Σ_i e_ij. Gradient play uses
/// ∇_{s_j} U_j = (1/τ) Σ_i e_ij (1 − e_ij) x_i projected onto the tangent space; best response
/// picks, creator by creator, the candidate direction with the largest U_j given the others.
/// Low τ rewards specialising to a group of users, high τ rewards the population's average.
/// </summary>
public sealed class ExposureGame(double temperature, CreatorDynamics dynamics, double learningRate, int candidates, int every) : CreatorModel(every)
{
    private double[] _logits = [];
    private double[] _gradient = [];
    private float[] _candidates = [];

    public double Temperature { get; } = temperature;

    public CreatorDynamics Dynamics { get; } = dynamics;

    public double LearningRate { get; } = learningRate;

    public int Candidates { get; } = Math.Max(1, candidates);

    public override string Name => "exposure_game";

    public override void Initialize(World world, ulong key)
    {
        base.Initialize(world, key);
        _logits = new double[world.ItemCount];
        _gradient = new double[world.ItemCount * world.Dimension];
        for (var j = 0; j < world.ItemCount; j++)
        {
            VectorOps.Normalize(world.Item(j));
        }

        world.ItemsChanged();
        _candidates = CandidateDirections(world, Candidates, StreamRng.For(key, -1, 1));

        ComputeExposure(world, Profits, null);
    }

    /// <summary>Fills each creator's total exposure U_j (and, if asked, the gradients ∇U_j).</summary>
    public void ComputeExposure(World world, double[] exposure, double[]? gradient)
    {
        int n = world.UserCount, m = world.ItemCount, d = world.Dimension;
        Array.Clear(exposure);
        if (gradient is not null)
        {
            Array.Clear(gradient);
        }

        for (var i = 0; i < n; i++)
        {
            var x = world.Preference(i);
            var max = double.NegativeInfinity;
            for (var j = 0; j < m; j++)
            {
                _logits[j] = VectorOps.Dot(x, world.Item(j)) / Temperature;
                max = Math.Max(max, _logits[j]);
            }

            double z = 0;
            for (var j = 0; j < m; j++)
            {
                _logits[j] = Math.Exp(_logits[j] - max);
                z += _logits[j];
            }

            for (var j = 0; j < m; j++)
            {
                var e = _logits[j] / z;
                exposure[j] += e;
                if (gradient is not null)
                {
                    var w = e * (1 - e) / Temperature;
                    for (var k = 0; k < d; k++)
                    {
                        gradient[(j * d) + k] += w * x[k];
                    }
                }
            }
        }
    }

    public override void Step(World world, StepRecord record, ulong key)
    {
        if ((world.Step + 1) % Every != 0)
        {
            return;
        }

        var d = world.Dimension;
        if (Dynamics == CreatorDynamics.Gradient)
        {
            ComputeExposure(world, Profits, _gradient);
            for (var j = 0; j < world.ItemCount; j++)
            {
                var s = world.Item(j);
                var g = _gradient.AsSpan(j * d, d);
                double radial = 0;
                for (var k = 0; k < d; k++)
                {
                    radial += g[k] * s[k];
                }

                for (var k = 0; k < d; k++)
                {
                    s[k] += (float)(LearningRate * (g[k] - (radial * s[k])));
                }

                VectorOps.Normalize(s);
            }
        }
        else
        {
            for (var j = 0; j < world.ItemCount; j++)
            {
                BestResponse(world, j);
            }
        }

        world.ItemsChanged();
        ComputeExposure(world, Profits, null);
    }

    private void BestResponse(World world, int j)
    {
        int n = world.UserCount, m = world.ItemCount, d = world.Dimension;
        var bestValue = double.NegativeInfinity;
        var best = -1;
        for (var c = -1; c < Candidates; c++)
        {
            var s = c < 0 ? world.Item(j) : _candidates.AsSpan(c * d, d);
            double total = 0;
            for (var i = 0; i < n; i++)
            {
                var x = world.Preference(i);
                var own = VectorOps.Dot(x, s) / Temperature;
                double z = 0;
                for (var l = 0; l < m; l++)
                {
                    if (l != j)
                    {
                        z += Math.Exp((VectorOps.Dot(x, world.Item(l)) / Temperature) - own);
                    }
                }

                total += 1 / (1 + z);
            }

            if (total > bestValue + 1e-12)
            {
                bestValue = total;
                best = c;
            }
        }

        if (best >= 0)
        {
            _candidates.AsSpan(best * d, d).CopyTo(world.Item(j));
        }
    }
}

/// <summary>
/// Supply-side competition with a cost (Jagadeesan, Garg &amp; Steinhardt 2023, "Supply-side
/// equilibria in recommender systems"): creator j chooses a vector p_j ∈ ℝ^d; each user goes to the
/// creator with the largest ⟨u_i, p_j⟩ (ties split); profit_j = (users won) − c‖p_j‖^β. Creators
/// best-respond in turn over candidate directions (users' directions and random ones) times a grid
/// of norms, and stay where they are unless a candidate is strictly better.
/// </summary>
public sealed class SupplySideCompetition(double costScale, double costExponent, int candidates, double[] norms, int every) : CreatorModel(every)
{
    private float[] _directions = [];
    private double[] _bestOther = [];

    public double CostScale { get; } = costScale;

    public double CostExponent { get; } = costExponent;

    public int Candidates { get; } = Math.Max(1, candidates);

    public IReadOnlyList<double> Norms { get; } = norms;

    public override string Name => "supply_side";

    public double Cost(ReadOnlySpan<float> p) => CostScale * Math.Pow(VectorOps.Norm(p), CostExponent);

    public override void Initialize(World world, ulong key)
    {
        base.Initialize(world, key);
        _directions = CandidateDirections(world, Candidates, StreamRng.For(key, -1, 2));
        _bestOther = new double[world.UserCount];

        ComputeProfits(world);
    }

    /// <summary>profit_j = users won (ties split) − c‖p_j‖^β for every creator.</summary>
    public void ComputeProfits(World world)
    {
        int n = world.UserCount, m = world.ItemCount;
        Array.Clear(Profits);
        for (var i = 0; i < n; i++)
        {
            var x = world.Preference(i);
            var max = double.NegativeInfinity;
            var ties = 0;
            for (var j = 0; j < m; j++)
            {
                var s = VectorOps.Dot(x, world.Item(j));
                if (s > max + 1e-9)
                {
                    max = s;
                    ties = 1;
                }
                else if (Math.Abs(s - max) <= 1e-9)
                {
                    ties++;
                }
            }

            for (var j = 0; j < m; j++)
            {
                if (Math.Abs(VectorOps.Dot(x, world.Item(j)) - max) <= 1e-9)
                {
                    Profits[j] += 1.0 / ties;
                }
            }
        }

        for (var j = 0; j < m; j++)
        {
            Profits[j] -= Cost(world.Item(j));
        }
    }

    public override void Step(World world, StepRecord record, ulong key)
    {
        if ((world.Step + 1) % Every != 0)
        {
            return;
        }

        int n = world.UserCount, m = world.ItemCount, d = world.Dimension;
        Span<float> candidate = stackalloc float[d];
        for (var j = 0; j < m; j++)
        {
            for (var i = 0; i < n; i++)
            {
                var x = world.Preference(i);
                var best = double.NegativeInfinity;
                for (var l = 0; l < m; l++)
                {
                    if (l != j)
                    {
                        best = Math.Max(best, VectorOps.Dot(x, world.Item(l)));
                    }
                }

                _bestOther[i] = best;
            }

            double Value(ReadOnlySpan<float> p)
            {
                double won = 0;
                for (var i = 0; i < n; i++)
                {
                    var s = VectorOps.Dot(world.Preference(i), p);
                    won += s > _bestOther[i] + 1e-9 ? 1 : Math.Abs(s - _bestOther[i]) <= 1e-9 ? 0.5 : 0;
                }

                return won - Cost(p);
            }

            var current = Value(world.Item(j));
            var bestValue = current;
            var bestC = -1;
            var bestNorm = 0.0;
            for (var c = 0; c < Candidates; c++)
            {
                foreach (var r in Norms)
                {
                    var dir = _directions.AsSpan(c * d, d);
                    for (var k = 0; k < d; k++)
                    {
                        candidate[k] = (float)(dir[k] * r);
                    }

                    var v = Value(candidate);
                    if (v > bestValue + 1e-9)
                    {
                        bestValue = v;
                        bestC = c;
                        bestNorm = r;
                    }
                }
            }

            if (bestC >= 0)
            {
                var dir = _directions.AsSpan(bestC * d, d);
                var target = world.Item(j);
                for (var k = 0; k < d; k++)
                {
                    target[k] = (float)(dir[k] * bestNorm);
                }
            }
        }

        world.ItemsChanged();
        ComputeProfits(world);
    }
}

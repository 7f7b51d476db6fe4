namespace Attune.Interaction;

/// <summary>How initial preference or item vectors are drawn.</summary>
public enum VectorDistribution
{
    /// <summary>Uniform on the unit sphere (a normalised standard Gaussian).</summary>
    Sphere,

    /// <summary>Independent N(0, σ²) coordinates.</summary>
    Gaussian,

    /// <summary>Dirichlet(α, …, α) on the simplex (Chaney et al. 2018: utilities ⟨p, v⟩ in [0, 1]).</summary>
    Dirichlet,
}

/// <summary>A distribution of initial vectors with its parameter (σ for Gaussian, α for Dirichlet).</summary>
public sealed record VectorInit(VectorDistribution Distribution, double Parameter = 1.0)
{
    public void Fill(Span<float> v, ref StreamRng rng)
    {
        switch (Distribution)
        {
            case VectorDistribution.Sphere:
                for (var k = 0; k < v.Length; k++)
                {
                    v[k] = (float)rng.NextGaussian();
                }

                VectorOps.Normalize(v);
                break;
            case VectorDistribution.Gaussian:
                for (var k = 0; k < v.Length; k++)
                {
                    v[k] = (float)(Parameter * rng.NextGaussian());
                }

                break;
            default:
                double sum = 0;
                for (var k = 0; k < v.Length; k++)
                {
                    var g = rng.NextGamma(Parameter);
                    v[k] = (float)g;
                    sum += g;
                }

                for (var k = 0; k < v.Length; k++)
                {
                    v[k] = (float)(v[k] / sum);
                }

                break;
        }
    }
}

/// <summary>A part switched in at the start of step <see cref="Step"/> (an intervention u_t).</summary>
public sealed class Intervention
{
    public required int Step { get; init; }

    public Func<Recommender>? Recommender { get; init; }

    public Func<UserModel>? Users { get; init; }

    public ChoiceModel? Choice { get; init; }

    /// <summary>What changes, for reports.</summary>
    public string Description { get; init; } = "";
}

/// <summary>
/// A specified system: sizes, horizon, seed, and one factory per replaceable part (a fresh part
/// per run, so a counterfactual run starts from the same state). Build one in code or read one
/// from JSON with <see cref="ScenarioReader"/>.
/// </summary>
public sealed class Scenario
{
    public string Name { get; set; } = "scenario";

    public int Seed { get; set; } = Attune.Core.Randomness.Seeds.Default;

    public int Users { get; set; } = 100;

    public int Items { get; set; } = 100;

    public int Dimension { get; set; } = 8;

    /// <summary>Number of item topics; item i has topic i mod Topics.</summary>
    public int Topics { get; set; } = 1;

    public int Horizon { get; set; } = 100;

    public int SlateSize { get; set; } = 10;

    /// <summary>Worker threads for the user phase (0: all processors). Results do not depend on it.</summary>
    public int Threads { get; set; }

    public VectorInit UserInit { get; set; } = new(VectorDistribution.Sphere);

    public VectorInit ItemInit { get; set; } = new(VectorDistribution.Sphere);

    public Func<UserModel> UserModel { get; set; } = () => new StaticUsers();

    public ChoiceModel Choice { get; set; } = new();

    public Func<Recommender> Recommender { get; set; } = () => new RandomRecommender();

    public Func<CreatorModel>? Creators { get; set; }

    public List<Func<Metric>> Metrics { get; } = [];

    public List<Intervention> Interventions { get; } = [];

    /// <summary>Changes the initial world after the vectors are drawn (e.g. clustered users); runs before the initial preferences are saved.</summary>
    public Action<World>? Customize { get; set; }

    /// <summary>The counterfactual recommender of a <c>--compare</c> run, if the scenario names one.</summary>
    public Func<Recommender>? Compare { get; set; }

    /// <summary>A readable description of each part, for reports and --json.</summary>
    public SortedDictionary<string, string> Description { get; } = new(StringComparer.Ordinal);
}

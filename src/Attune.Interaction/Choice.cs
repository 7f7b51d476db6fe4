namespace Attune.Interaction;

/// <summary>How a rating is drawn around the true utility of the chosen item.</summary>
public enum RatingNoise
{
    /// <summary>r = ⟨p, v⟩ exactly.</summary>
    None,

    /// <summary>r = ⟨p, v⟩ + σ z, z ~ N(0, 1).</summary>
    Gaussian,

    /// <summary>r ~ Beta(μκ, (1−μ)κ) with mean μ = clamp(⟨p, v⟩, 0.001, 0.999) (Chaney et al. 2018, utilities in [0, 1]).</summary>
    Beta,
}

/// <summary>
/// Choice and feedback (Chaney, Stewart &amp; Engelhardt 2018, "How algorithmic confounding in
/// recommendation systems increases homogeneity and decreases utility"): the user sees a slate
/// and takes the item at position j (1-based) that maximises u(p, v_j) · j^(−α) (position
/// attention; α = 0 takes the best item). With temperature τ &gt; 0 a Gumbel term τ g_j is added
/// to each value (a logit choice). With an outside option of value o the user takes nothing when
/// the best value is below o. The rating is drawn around the utility of the taken item
/// (<see cref="RatingNoise"/>). Each call draws the same number of uniforms for a given slate
/// size, so runs that share seeds share the noise.
/// </summary>
public sealed class ChoiceModel
{
    public double Attention { get; init; }

    public double Temperature { get; init; }

    public double? OutsideOption { get; init; }

    public RatingNoise Noise { get; init; } = RatingNoise.Gaussian;

    /// <summary>σ for Gaussian noise.</summary>
    public double NoiseScale { get; init; } = 0.1;

    /// <summary>κ for Beta noise.</summary>
    public double Concentration { get; init; } = 20;

    /// <summary>Whether a user may be recommended an item they already consumed.</summary>
    public bool Repeat { get; init; } = true;

    /// <summary>Picks from <paramref name="slate"/> (entries −1 are empty); returns the item or −1, with its utility and rating.</summary>
    public int Choose(World world, UserModel users, int user, ReadOnlySpan<int> slate, ref StreamRng rng, out float utility, out float rating)
    {
        var best = -1;
        var bestValue = double.NegativeInfinity;
        float bestUtility = 0;
        for (var j = 0; j < slate.Length; j++)
        {
            var g = Temperature > 0 ? rng.NextGumbel() : 0;
            var item = slate[j];
            if (item < 0)
            {
                continue;
            }

            var u = users.Utility(world, user, item);
            var value = (Attention == 0 ? u : u * Math.Pow(j + 1, -Attention)) + (Temperature * g);
            if (value > bestValue)
            {
                bestValue = value;
                best = item;
                bestUtility = u;
            }
        }

        if (OutsideOption is { } o && bestValue < o)
        {
            best = -1;
        }

        var z = rng.NextGaussian();
        if (best < 0)
        {
            utility = 0;
            rating = 0;
            return -1;
        }

        utility = bestUtility;
        rating = Noise switch
        {
            RatingNoise.None => bestUtility,
            RatingNoise.Gaussian => (float)(bestUtility + (NoiseScale * z)),
            _ => Beta(ref rng, bestUtility),
        };
        return best;
    }

    private float Beta(ref StreamRng rng, float utility)
    {
        var mu = Math.Clamp(utility, 0.001, 0.999);
        return (float)rng.NextBeta(mu * Concentration, (1 - mu) * Concentration);
    }
}

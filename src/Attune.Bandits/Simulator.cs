using System.Text.Json.Serialization;
using Attune.Core.Randomness;

namespace Attune.Bandits;

/// <summary>Curves averaged over runs: index t is round t + 1.</summary>
public sealed record SimulationResult(
    [property: JsonPropertyName("policy")] string Policy,
    [property: JsonPropertyName("environment")] string Environment,
    [property: JsonPropertyName("arms")] int Arms,
    [property: JsonPropertyName("rounds")] int Rounds,
    [property: JsonPropertyName("runs")] int Runs,
    [property: JsonPropertyName("seed")] int Seed,
    [property: JsonPropertyName("mean_cumulative_regret")] double[] MeanCumulativeRegret,
    [property: JsonPropertyName("mean_reward")] double[] MeanReward,
    [property: JsonPropertyName("final_regret")] double[] FinalRegret,
    [property: JsonPropertyName("total_reward")] double[] TotalReward,
    [property: JsonPropertyName("arm_share")] double[] ArmShare)
{
    [JsonPropertyName("mean_final_regret")]
    public double MeanFinalRegret => FinalRegret.Average();

    [JsonPropertyName("mean_total_reward")]
    public double MeanTotalReward => TotalReward.Average();

    /// <summary>Standard error of the mean total reward over runs.</summary>
    [JsonPropertyName("total_reward_se")]
    public double TotalRewardSe => StandardError(TotalReward);

    [JsonPropertyName("final_regret_se")]
    public double FinalRegretSe => StandardError(FinalRegret);

    private static double StandardError(double[] x)
    {
        if (x.Length < 2)
        {
            return 0;
        }

        var m = x.Average();
        return Math.Sqrt(x.Sum(v => (v - m) * (v - m)) / (x.Length - 1) / x.Length);
    }
}

/// <summary>One round of one run.</summary>
public readonly record struct Step(int Round, int Arm, double Reward, int? Rating, double Regret, double Propensity);

/// <summary>
/// Plays policies against environments for many seeded runs in parallel. Run r uses the
/// generator <see cref="Seeds.Create(int, long)"/>(seed, r) for both the policy's and the
/// environment's draws, so results do not depend on scheduling. Regret at a round is the best
/// current expected reward minus the chosen arm's (the per-round dynamic oracle).
/// </summary>
public static class Simulator
{
    /// <summary>Plays one run and returns its steps.</summary>
    public static List<Step> Play(IBanditPolicy policy, IBanditEnvironment environment, int rounds, Random rng)
    {
        ArgumentNullException.ThrowIfNull(policy);
        ArgumentNullException.ThrowIfNull(environment);
        if (policy is SelfSelectedPolicy self)
        {
            self.Chooser = environment.Choose;
        }

        if (policy is BetaThompsonPolicy beta)
        {
            beta.UseUpdateGenerator(rng);
        }

        var steps = new List<Step>(rounds);
        for (var t = 0; t < rounds; t++)
        {
            var arm = policy.SelectArm(rng);
            var best = double.NegativeInfinity;
            for (var i = 0; i < environment.Arms; i++)
            {
                best = Math.Max(best, environment.ExpectedReward(i));
            }

            var regret = best - environment.ExpectedReward(arm);
            var reward = environment.Pull(arm, rng);
            policy.Update(arm, reward);
            steps.Add(new Step(t + 1, arm, reward, environment.LastRating, regret, double.NaN));
        }

        return steps;
    }

    /// <summary>Plays <paramref name="runs"/> runs in parallel and averages the curves.</summary>
    public static SimulationResult Run(
        Func<int, IBanditPolicy> policyFactory,
        Func<int, IBanditEnvironment> environmentFactory,
        int rounds,
        int runs,
        int seed,
        int maxDegreeOfParallelism = -1,
        CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(policyFactory);
        ArgumentNullException.ThrowIfNull(environmentFactory);
        ArgumentOutOfRangeException.ThrowIfLessThan(rounds, 1);
        ArgumentOutOfRangeException.ThrowIfLessThan(runs, 1);
        var regret = new double[runs][];
        var reward = new double[runs][];
        var arms = 0;
        var counts = new int[runs][];
        string policyName = "", environmentName = "";
        Parallel.For(0, runs, new ParallelOptions { MaxDegreeOfParallelism = maxDegreeOfParallelism, CancellationToken = cancellationToken }, r =>
        {
            var rng = Seeds.Create(seed, r);
            var policy = policyFactory(r);
            var environment = environmentFactory(r);
            var steps = Play(policy, environment, rounds, rng);
            regret[r] = new double[rounds];
            reward[r] = new double[rounds];
            counts[r] = new int[environment.Arms];
            double cumulative = 0;
            for (var t = 0; t < rounds; t++)
            {
                cumulative += steps[t].Regret;
                regret[r][t] = cumulative;
                reward[r][t] = steps[t].Reward;
                counts[r][steps[t].Arm]++;
            }

            if (r == 0)
            {
                policyName = policy.Name;
                environmentName = environment.Name;
                arms = environment.Arms;
            }
        });

        var meanRegret = new double[rounds];
        var meanReward = new double[rounds];
        for (var t = 0; t < rounds; t++)
        {
            for (var r = 0; r < runs; r++)
            {
                meanRegret[t] += regret[r][t] / runs;
                meanReward[t] += reward[r][t] / runs;
            }
        }

        var share = new double[arms];
        for (var r = 0; r < runs; r++)
        {
            for (var i = 0; i < arms; i++)
            {
                share[i] += counts[r][i] / (double)(runs * rounds);
            }
        }

        return new SimulationResult(policyName, environmentName, arms, rounds, runs, seed, meanRegret, meanReward,
            [.. regret.Select(x => x[^1])], [.. reward.Select(x => x.Sum())], share);
    }

    /// <summary>Plays policy spec <paramref name="policy"/> on the named environment (see <see cref="Policies.Create"/>, <see cref="Environments.Create"/>).</summary>
    public static SimulationResult Run(string policy, string environment, int arms, int rounds, int runs, int seed, CancellationToken cancellationToken = default)
    {
        // Validate the names once, at the boundary, before the parallel loop.
        _ = Policies.Create(policy, arms, rounds);
        _ = Environments.Create(environment, arms, seed);
        return Run(_ => Policies.Create(policy, arms, rounds), r => Environments.Create(environment, arms, environment == "drifting" ? Seeds.Derive(seed, r) : seed),
            rounds, runs, seed, cancellationToken: cancellationToken);
    }
}

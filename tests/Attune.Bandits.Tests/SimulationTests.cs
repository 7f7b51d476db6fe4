using Attune.Bandits;
using Attune.Core.Errors;

namespace Attune.Bandits.Tests;

public class SimulationTests
{
    [Theory]
    [InlineData("ucb1")]
    [InlineData("thompson-beta")]
    [InlineData("epsilon-greedy:epsilon=0.05")]
    public void Regret_is_sublinear_on_a_stationary_environment(string policy)
    {
        var result = Simulator.Run(policy, "bernoulli", 5, 2000, 24, seed: 11);
        var r = result.MeanCumulativeRegret;
        // Regret accumulated in the second half is well below that of the first half, and far below uniform's.
        var firstHalf = r[999];
        var secondHalf = r[^1] - r[999];
        Assert.True(secondHalf < 0.7 * firstHalf, $"{policy}: first half {firstHalf:F1}, second half {secondHalf:F1}");
        var uniform = Simulator.Run("uniform", "bernoulli", 5, 2000, 24, seed: 11);
        Assert.True(r[^1] < 0.4 * uniform.MeanCumulativeRegret[^1]);
    }

    [Fact]
    public void Same_seed_same_result_regardless_of_parallelism()
    {
        var a = Simulator.Run(_ => new BetaThompsonPolicy(3), _ => new BernoulliEnvironment([0.2, 0.5, 0.6]), 200, 16, 5, maxDegreeOfParallelism: 1);
        var b = Simulator.Run(_ => new BetaThompsonPolicy(3), _ => new BernoulliEnvironment([0.2, 0.5, 0.6]), 200, 16, 5, maxDegreeOfParallelism: 4);
        Assert.Equal(a.MeanCumulativeRegret, b.MeanCumulativeRegret);
        Assert.Equal(a.TotalReward, b.TotalReward);
    }

    [Fact]
    public void Satiation_lowers_enjoyment_of_repeated_arms_and_rebounds_after_rest()
    {
        var env = new SatiationEnvironment([0.8, 0.5], lambda: 0.2, retention: 0.5, ratingNoise: 0, new RatingScale(1, 9));
        var rng = new Random(0);
        var first = env.ExpectedReward(0);
        env.Pull(0, rng);
        env.Pull(0, rng);
        var satiated = env.ExpectedReward(0);
        Assert.True(satiated < first);
        for (var i = 0; i < 10; i++)
        {
            env.Pull(1, rng);
        }

        Assert.Equal(first, env.ExpectedReward(0), 2);
    }

    [Fact]
    public void Drifting_means_move_and_stay_in_range()
    {
        var env = new DriftingEnvironment([0.5, 0.5], 0.1, 0.5, new RatingScale(1, 9), 3);
        var rng = new Random(0);
        for (var i = 0; i < 200; i++)
        {
            env.Pull(0, rng);
            Assert.InRange(env.ExpectedReward(0), 0, 1);
            Assert.InRange(env.LastRating!.Value, 1, 9);
        }

        Assert.NotEqual(0.5, env.ExpectedReward(1));
    }

    [Fact]
    public void Replay_environment_cycles_logged_rewards()
    {
        var env = new ReplayEnvironment([(0, 0.1), (1, 0.9), (0, 0.3)], 2);
        var rng = new Random(0);
        Assert.Equal(0.1, env.Pull(0, rng));
        Assert.Equal(0.3, env.Pull(0, rng));
        Assert.Equal(0.1, env.Pull(0, rng));
        Assert.Equal(0.2, env.ExpectedReward(0), 12);
        Assert.Throws<AttuneInputException>(() => new ReplayEnvironment([(0, 1.0)], 2));
    }

    [Fact]
    public void Offline_replay_and_ips_recover_a_fixed_policys_value()
    {
        // Uniformly random logging over 3 Bernoulli arms; target: always arm 2.
        var env = new BernoulliEnvironment([0.2, 0.4, 0.7]);
        var rng = new Random(4);
        var log = new List<LoggedStep>();
        for (var i = 0; i < 30000; i++)
        {
            var a = rng.Next(3);
            log.Add(new LoggedStep(a, env.Pull(a, rng), 1.0 / 3));
        }

        var target = new ConstantPolicy(3, 2);
        var replay = OfflineEvaluation.Replay(target, log, new Random(1));
        Assert.Equal(0.7, replay.Value, 1);
        Assert.InRange(replay.Used, 9000, 11000);
        var (ips, snips) = OfflineEvaluation.InversePropensity(new ConstantPolicy(3, 2), log, new Random(1));
        Assert.Equal(0.7, ips.Value, 1);
        Assert.Equal(0.7, snips.Value, 1);

        // A learning policy's replay value lies between uniform's and the best arm's.
        var ucb = OfflineEvaluation.Replay(new Ucb1Policy(3), log, new Random(2));
        Assert.InRange(ucb.Value, 0.45, 0.72);
    }

    private sealed class ConstantPolicy(int arms, int arm) : BanditPolicyBase(arms)
    {
        public override string Name => $"constant({arm})";

        public override int SelectArm(Random rng) => arm;

        public override double[] Probabilities(Random rng, int draws = 2000) => OneHot(arm);
    }
}

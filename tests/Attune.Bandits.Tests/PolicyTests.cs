using Attune.Bandits;
using Attune.Core.Errors;

namespace Attune.Bandits.Tests;

public class PolicyTests
{
    [Fact]
    public void Ucb1_pulls_each_arm_once_then_follows_hand_computed_indices()
    {
        var p = new Ucb1Policy(3, alpha: 2);
        var rng = new Random(1);
        Assert.Equal(0, p.SelectArm(rng));
        p.Update(0, 1.0);
        Assert.Equal(1, p.SelectArm(rng));
        p.Update(1, 0.0);
        Assert.Equal(2, p.SelectArm(rng));
        p.Update(2, 0.5);

        // t = 3: index_i = mean_i + sqrt(2 ln 3 / 1) = mean_i + 1.48230...
        var bonus = Math.Sqrt(2 * Math.Log(3));
        Assert.Equal(1.0 + bonus, p.Index(0), 12);
        Assert.Equal(0.0 + bonus, p.Index(1), 12);
        Assert.Equal(0.5 + bonus, p.Index(2), 12);
        Assert.Equal(0, p.SelectArm(rng));
        p.Update(0, 0.0);

        // t = 4: arm 0 mean 0.5 over 2 pulls: 0.5 + sqrt(2 ln 4 / 2) = 1.6774; arm 2: 0.5 + sqrt(2 ln 4) = 2.1651; arm 1: 1.6651.
        Assert.Equal(0.5 + Math.Sqrt(Math.Log(4)), p.Index(0), 12);
        Assert.Equal(0.5 + Math.Sqrt(2 * Math.Log(4)), p.Index(2), 12);
        Assert.Equal(2, p.SelectArm(rng));
    }

    [Fact]
    public void Ucb1_alpha_scales_the_bonus()
    {
        var p = new Ucb1Policy(2, alpha: 0.5);
        p.Update(0, 0.2);
        p.Update(1, 0.4);
        Assert.Equal(0.2 + Math.Sqrt(0.5 * Math.Log(2)), p.Index(0), 12);
    }

    [Fact]
    public void Beta_thompson_posterior_counts_successes_and_failures()
    {
        var p = new BetaThompsonPolicy(2);
        p.Update(0, 1);
        p.Update(0, 1);
        p.Update(0, 0);
        p.Update(1, 0);
        Assert.Equal(3, p.PosteriorAlpha(0));
        Assert.Equal(2, p.PosteriorBeta(0));
        Assert.Equal(1, p.PosteriorAlpha(1));
        Assert.Equal(2, p.PosteriorBeta(1));

        // P(arm 0 chosen) = P(X > Y), X ~ Beta(3, 2), Y ~ Beta(1, 2): F_Y(y) = 1 - (1 - y)^2, and 1 - X ~ Beta(2, 3)
        // has E[(1 - X)^2] = 2*3/(5*6) = 0.2, so the probability is 0.8.
        var probs = p.Probabilities(new Random(3), 40000);
        Assert.InRange(probs[0], 0.79, 0.81);
    }

    [Fact]
    public void Gaussian_thompson_posterior_is_conjugate()
    {
        var p = new GaussianThompsonPolicy(1, noiseSd: 0.5, priorMean: 0, priorSd: 1);
        p.Update(0, 1.0);
        p.Update(0, 2.0);
        // precision = 1 + 2/0.25 = 9; mean = (0 + 3/0.25)/9 = 12/9
        var (mean, sd) = p.Posterior(0);
        Assert.Equal(12.0 / 9.0, mean, 12);
        Assert.Equal(1.0 / 3.0, sd, 12);
    }

    [Fact]
    public void Dirichlet_thompson_counts_rating_levels()
    {
        var p = new DirichletThompsonPolicy(2, levels: 9);
        p.Update(0, 1.0);       // level 9
        p.Update(0, 0.0);       // level 1
        p.Update(1, 4 / 8.0);   // level 5
        Assert.Equal([2, 1, 1, 1, 1, 1, 1, 1, 2], p.PosteriorParameters(0));
        Assert.Equal([1, 1, 1, 1, 2, 1, 1, 1, 1], p.PosteriorParameters(1));
    }

    [Fact]
    public void Exp3_weights_and_probabilities_follow_the_update_rule()
    {
        var p = new Exp3Policy(2, gamma: 0.2);
        var rng = new Random(0);
        Assert.Equal([0.5, 0.5], p.Probabilities(rng));
        p.Update(0, 1.0);
        // x_hat = 1 / 0.5 = 2; w_0 = exp(0.2 * 2 / 2) = exp(0.2)
        Assert.Equal(Math.Exp(0.2), p.Weights[0], 12);
        Assert.Equal(1.0, p.Weights[1], 12);
        var expected0 = (0.8 * Math.Exp(0.2) / (Math.Exp(0.2) + 1)) + 0.1;
        Assert.Equal(expected0, p.Probabilities(rng)[0], 12);
    }

    [Fact]
    public void Epsilon_greedy_probabilities_mix_greedy_and_uniform()
    {
        var p = new EpsilonGreedyPolicy(4, 0.2);
        for (var i = 0; i < 4; i++)
        {
            p.Update(i, i == 2 ? 1 : 0);
        }

        var probs = p.Probabilities(new Random(0));
        Assert.Equal(0.05, probs[0], 12);
        Assert.Equal(0.85, probs[2], 12);
    }

    [Fact]
    public void Explore_then_commit_explores_round_robin_then_commits()
    {
        var p = new ExploreThenCommitPolicy(3, 2);
        var rng = new Random(0);
        double[] rewards = [0.1, 0.9, 0.5];
        var arms = new List<int>();
        for (var t = 0; t < 10; t++)
        {
            var a = p.SelectArm(rng);
            arms.Add(a);
            p.Update(a, rewards[a]);
        }

        Assert.Equal([0, 1, 2, 0, 1, 2, 1, 1, 1, 1], arms);
    }

    [Fact]
    public void Fixed_sequences_are_cyclic_or_blocked()
    {
        var cyclic = new FixedSequencePolicy(3, 9, blocked: false);
        var blocked = new FixedSequencePolicy(3, 9, blocked: true);
        Assert.Equal([0, 1, 2, 0, 1, 2, 0, 1, 2], Enumerable.Range(0, 9).Select(cyclic.ArmAt));
        Assert.Equal([0, 0, 0, 1, 1, 1, 2, 2, 2], Enumerable.Range(0, 9).Select(blocked.ArmAt));
    }

    [Fact]
    public void Sliding_window_forgets_old_rewards()
    {
        var p = new SlidingWindowUcbPolicy(2, window: 4);
        p.Update(0, 1);
        p.Update(1, 0);
        for (var i = 0; i < 4; i++)
        {
            p.Update(1, 1);
        }

        // Arm 0 fell out of the window: it is pulled again.
        Assert.Equal(0, p.SelectArm(new Random(0)));
    }

    [Fact]
    public void Satiation_aware_policy_recovers_lambda_from_history()
    {
        var env = new SatiationEnvironment([0.8, 0.7, 0.6], lambda: 0.2, retention: 0.8, ratingNoise: 0, new RatingScale(1, 1001));
        var p = new SatiationAwarePolicy(3, retention: 0.8);
        var rng = new Random(0);
        for (var t = 0; t < 300; t++)
        {
            var a = p.SelectArm(rng);
            p.Update(a, env.Pull(a, rng));
        }

        Assert.InRange(p.Lambda, 0.17, 0.23);
    }

    [Fact]
    public void Self_selected_needs_a_chooser()
    {
        var p = new SelfSelectedPolicy(3);
        Assert.Throws<InvalidOperationException>(() => p.SelectArm(new Random(0)));
        p.Chooser = _ => 2;
        Assert.Equal(2, p.SelectArm(new Random(0)));
    }

    [Fact]
    public void Policies_by_name_and_bad_names()
    {
        foreach (var name in Policies.Names)
        {
            Assert.Equal(4, Policies.Create(name, 4, 100).Arms);
        }

        Assert.Equal(0.5, ((Ucb1Policy)Policies.Create("ucb1:alpha=0.5", 3, 10)).Alpha);

        // A parameter the policy does not take is refused, naming it and the ones it takes (issue 23).
        var unknown = Assert.Throws<Attune.Core.Errors.AttuneInputException>(() => Policies.Create("ucb1:beta=1", 3, 10));
        Assert.Contains("'beta'", unknown.Message, StringComparison.Ordinal);
        Assert.Contains("alpha", unknown.Message, StringComparison.Ordinal);
        Assert.Throws<Attune.Core.Errors.AttuneInputException>(() => Policies.Create("thompson-beta:alpha=1", 3, 10));
        var ex = Assert.Throws<AttuneInputException>(() => Policies.Create("nope", 3, 10));
        Assert.Contains("unknown policy 'nope'", ex.Message, StringComparison.Ordinal);
        Assert.Throws<AttuneInputException>(() => Policies.Create("ucb1:alpha", 3, 10));
    }
}

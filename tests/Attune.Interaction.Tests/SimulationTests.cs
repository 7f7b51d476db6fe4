namespace Attune.Interaction.Tests;

public class SimulationTests
{
    private static Scenario Small(int threads = 1, int users = 200)
    {
        var s = new Scenario
        {
            Seed = 17,
            Users = users,
            Items = 80,
            Dimension = 6,
            Horizon = 30,
            SlateSize = 5,
            Threads = threads,
            UserModel = () => new DriftTowardItem(0.2),
            Choice = new ChoiceModel { Attention = 0.5, Temperature = 0.1, Noise = RatingNoise.Gaussian },
            Recommender = () => new ContentFiltering(1, 1e-6),
        };
        s.Metrics.Add(() => new HomogenizationMetric(PairMode.Random));
        s.Metrics.Add(() => new EngagementMetric());
        s.Metrics.Add(() => new DriftMetric());
        return s;
    }

    [Fact]
    public void A_run_is_deterministic_for_its_seed_whatever_the_thread_count()
    {
        var a = Simulation.Run(Small(threads: 1));
        var b = Simulation.Run(Small(threads: 1));
        var c = Simulation.Run(Small(threads: 4));
        foreach (var key in a.Series.Keys)
        {
            Assert.Equal(a.Series[key], b.Series[key]);
            Assert.Equal(a.Series[key], c.Series[key]);
        }

        Assert.Equal(a.World.Preferences, c.World.Preferences);
    }

    [Fact]
    public void Another_seed_gives_another_run()
    {
        var a = Simulation.Run(Small());
        var s = Small();
        s.Seed = 18;
        var b = Simulation.Run(s);
        Assert.NotEqual(a.Series["engagement"], b.Series["engagement"]);
    }

    [Fact]
    public void A_counterfactual_shares_the_initial_state_and_the_noise()
    {
        // Two different recommenders that happen to show the same slates see the same choices and
        // ratings: the oracle versus a softmax over the oracle at a temperature so low it never deviates.
        var s = Small();
        s.UserModel = () => new StaticUsers();
        var a = Simulation.Run(s, () => new OracleRecommender());
        var b = Simulation.Run(s, () => new SoftmaxRecommender(new OracleRecommender(), 1e-9));
        Assert.Equal(a.Series["engagement"], b.Series["engagement"]);
        Assert.Equal(a.World.InitialPreferences, Simulation.Run(s, () => new RandomRecommender()).World.InitialPreferences);
    }

    [Fact]
    public void An_intervention_changes_the_run_only_from_its_step()
    {
        var baseline = Small();
        baseline.Recommender = () => new RandomRecommender();
        var switched = Small();
        switched.Recommender = () => new RandomRecommender();
        switched.Interventions.Add(new Intervention { Step = 10, Recommender = () => new OracleRecommender() });
        var a = Simulation.Run(baseline);
        var b = Simulation.Run(switched);
        Assert.Equal(a.Series["engagement"].Take(10), b.Series["engagement"].Take(10));
        Assert.NotEqual(a.Series["engagement"][10], b.Series["engagement"][10]);
        Assert.True(b.Series["engagement"].Skip(10).Average() > a.Series["engagement"].Skip(10).Average());
    }

    [Fact]
    public void A_user_model_intervention_switches_the_dynamics()
    {
        var s = Small();
        s.Interventions.Add(new Intervention { Step = 15, Users = () => new StaticUsers() });
        var r = Simulation.Run(s);
        Assert.Equal(r.Series["preference_drift"][15], r.Series["preference_drift"][^1], 1e-9);
        Assert.True(r.Series["preference_drift"][14] > r.Series["preference_drift"][2]);
    }

    [Fact]
    public void Users_driven_exactly_onto_items_never_become_nan()
    {
        // Drift rate 1 puts each user exactly on the item consumed; the oracle then shows that same
        // item again, so every later step asks for a slerp between identical directions.
        var s = Small();
        s.UserModel = () => new DriftTowardItem(1.0);
        s.Recommender = () => new OracleRecommender();
        s.Choice = new ChoiceModel { Noise = RatingNoise.None };
        s.Horizon = 50;
        var r = Simulation.Run(s);
        Assert.All(r.Series["nan_users"], v => Assert.Equal(0, v));
        Assert.All(r.World.Preferences, x => Assert.True(float.IsFinite(x)));
        for (var u = 0; u < s.Users; u++)
        {
            Assert.Equal(1, Math.Abs(VectorOps.Cosine(r.World.Preference(u), r.World.Item(r.World.Counts.AsSpan(u * s.Items, s.Items).IndexOf(s.Horizon)))), 1e-5);
        }
    }

    [Fact]
    public void Memory_is_flat_across_steps()
    {
        var shortRun = Small();
        shortRun.Horizon = 20;
        var longRun = Small();
        longRun.Horizon = 220;
        Simulation.Run(Small()); // JIT
        var before = GC.GetAllocatedBytesForCurrentThread();
        Simulation.Run(shortRun);
        var mid = GC.GetAllocatedBytesForCurrentThread();
        Simulation.Run(longRun);
        var after = GC.GetAllocatedBytesForCurrentThread();
        var perStep = ((after - mid) - (mid - before)) / 200.0;
        Assert.True(perStep < 200, $"{perStep} bytes allocated per extra step");
    }

    [Fact]
    public void Repeat_false_never_shows_a_consumed_item()
    {
        var s = Small();
        s.Choice = new ChoiceModel { Repeat = false };
        s.Recommender = () => new OracleRecommender();
        s.UserModel = () => new StaticUsers();
        var r = Simulation.Run(s);
        for (var u = 0; u < s.Users; u++)
        {
            for (var i = 0; i < s.Items; i++)
            {
                Assert.True(r.World.Counts[(u * s.Items) + i] <= 1);
            }
        }
    }

    [Fact]
    public void Exposure_game_creators_collapse_at_high_temperature()
    {
        var s = new Scenario
        {
            Seed = 2, Users = 100, Items = 5, Dimension = 3, Horizon = 200, SlateSize = 1, Threads = 1,
            Creators = () => new ExposureGame(10, CreatorDynamics.Gradient, 10.0 / 100 * 5, 1, 1),
        };
        s.Metrics.Add(() => new CreatorMetric());
        var r = Simulation.Run(s);
        Assert.True(r.Final("content_diversity") < 0.01);
        Assert.True(r.Series["content_diversity"][0] > 0.3);
    }

    [Fact]
    public void Best_response_and_supply_side_run()
    {
        var s = new Scenario
        {
            Seed = 2, Users = 60, Items = 4, Dimension = 2, Horizon = 5, SlateSize = 1, Threads = 1,
            Creators = () => new ExposureGame(0.1, CreatorDynamics.BestResponse, 0, 16, 1),
        };
        s.Metrics.Add(() => new CreatorMetric());
        var r = Simulation.Run(s);
        Assert.True(r.Final("creator_profit") > 0);
        s.Creators = () => new SupplySideCompetition(5, 2, 16, [0.5, 1, 2], 1);
        var q = Simulation.Run(s);
        Assert.True(double.IsFinite(q.Final("creator_profit")));
    }
}

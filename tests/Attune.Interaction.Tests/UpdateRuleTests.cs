namespace Attune.Interaction.Tests;

/// <summary>Each update rule on steps computed by hand.</summary>
public class UpdateRuleTests
{
    private const float Tol = 1e-5f;

    [Fact]
    public void BiasedAssimilation_moves_toward_an_agreeable_item()
    {
        // p = (1, 0), v = (0.6, 0.8), eta = 0.5: <p,v> = 0.6, p + 0.3 v = (1.18, 0.24), norm sqrt(1.45).
        var w = TestWorlds.Make([[1, 0]], [[0.6f, 0.8f]]);
        new BiasedAssimilation(0.5).Update(w, 0, 0, 0);
        var n = Math.Sqrt(1.45);
        Assert.Equal(1.18 / n, w.Preference(0)[0], Tol);
        Assert.Equal(0.24 / n, w.Preference(0)[1], Tol);
    }

    [Fact]
    public void BiasedAssimilation_moves_away_from_a_disagreeable_item()
    {
        // p = (1, 0), v = (-0.6, 0.8): <p,v> = -0.6, p - 0.3 v = (1.18, -0.24).
        var w = TestWorlds.Make([[1, 0]], [[-0.6f, 0.8f]]);
        new BiasedAssimilation(0.5).Update(w, 0, 0, 0);
        var n = Math.Sqrt(1.45);
        Assert.Equal(1.18 / n, w.Preference(0)[0], Tol);
        Assert.Equal(-0.24 / n, w.Preference(0)[1], Tol);
    }

    [Fact]
    public void BiasedAssimilation_ignores_the_outside_option()
    {
        var w = TestWorlds.Make([[0.6f, 0.8f]], [[1, 0]]);
        new BiasedAssimilation(0.5).Update(w, 0, -1, 0);
        Assert.Equal(0.6f, w.Preference(0)[0]);
    }

    [Fact]
    public void Drift_is_a_slerp_of_the_given_fraction()
    {
        // 90 degrees apart, t = 0.25: the result is 22.5 degrees from p.
        var w = TestWorlds.Make([[2, 0]], [[0, 3]]);
        new DriftTowardItem(0.25).Update(w, 0, 0, 0);
        Assert.Equal(Math.Cos(Math.PI / 8), w.Preference(0)[0], Tol);
        Assert.Equal(Math.Sin(Math.PI / 8), w.Preference(0)[1], Tol);
    }

    [Fact]
    public void Drift_of_a_user_exactly_on_an_items_direction_stays_finite()
    {
        // T-RECS 0.2.1 divides by sin(omega) = 0 here and produces NaN.
        var w = TestWorlds.Make([[0.6f, 0.8f]], [[1.2f, 1.6f]]);
        new DriftTowardItem(0.3).Update(w, 0, 0, 0);
        Assert.Equal(0.6f, w.Preference(0)[0], Tol);
        Assert.Equal(0.8f, w.Preference(0)[1], Tol);

        // Antipodal: no unique arc, the preference stays.
        var a = TestWorlds.Make([[1, 0]], [[-1, 0]]);
        new DriftTowardItem(0.3).Update(a, 0, 0, 0);
        Assert.Equal(1f, a.Preference(0)[0], Tol);
        Assert.True(float.IsFinite(a.Preference(0)[1]));
    }

    [Fact]
    public void Drift_with_rate_one_lands_on_the_item_and_then_stays_finite()
    {
        var w = TestWorlds.Make([[1, 0, 0]], [[0, 1, 0]]);
        var drift = new DriftTowardItem(1.0);
        for (var t = 0; t < 5; t++)
        {
            drift.Update(w, 0, 0, 0);
            Assert.All(w.Preference(0).ToArray(), x => Assert.True(float.IsFinite(x)));
        }

        Assert.Equal(1f, w.Preference(0)[1], Tol);
    }

    [Fact]
    public void Satiation_accumulates_and_decays_per_topic()
    {
        // gamma = 0.5, lambda = 2, b = [1, 0.5]; topics 0 and 1 (items 0 and 1).
        var w = TestWorlds.Make([[0f], [0f]], [[0f], [0f]], topics: 2);
        var s = new SatiationUsers([0.5], [2.0], [1.0, 0.5]);
        s.Initialize(w);
        Assert.Equal(1.0f, s.Utility(w, 0, 0), Tol);
        s.Update(w, 0, 0, 0);                  // s0 = 0.5 (0 + 1) = 0.5
        Assert.Equal(0.5f, s.Satiation(0)[0], Tol);
        Assert.Equal(0f, s.Utility(w, 0, 0), Tol);   // 1 - 2 * 0.5
        Assert.Equal(0.5f, s.Utility(w, 0, 1), Tol); // topic 1 untouched
        s.Update(w, 0, 0, 0);                  // s0 = 0.5 (0.5 + 1) = 0.75
        Assert.Equal(0.75f, s.Satiation(0)[0], Tol);
        s.Update(w, 0, 1, 0);                  // s0 = 0.375, s1 = 0.5
        Assert.Equal(0.375f, s.Satiation(0)[0], Tol);
        Assert.Equal(0.5f, s.Satiation(0)[1], Tol);
        Assert.Equal(0f, s.Satiation(1)[0]);   // the other user is untouched
        Span<float> all = stackalloc float[2];
        s.Utilities(w, 0, all);
        Assert.Equal(1 - (2 * 0.375f), all[0], Tol);
        Assert.Equal(0.5f - (2 * 0.5f), all[1], Tol);
    }

    [Fact]
    public void Satiation_with_per_topic_parameters()
    {
        var w = TestWorlds.Make([[0f]], [[0f], [0f]], topics: 2);
        var s = new SatiationUsers([0.5, 0.9], [1.0, 3.0], [1.0, 1.0]);
        s.Initialize(w);
        s.Update(w, 0, 1, 0); // s1 = 0.9
        Assert.Equal(1f - (3f * 0.9f), s.Utility(w, 0, 1), Tol);
        s.Update(w, 0, -1, 0); // no consumption: s1 = 0.81
        Assert.Equal(0.81f, s.Satiation(0)[1], Tol);
    }

    [Fact]
    public void Boredom_penalises_a_repeated_topic_and_sensitisation_shifts_topic_preferences()
    {
        // history 3, threshold 2, penalty 0.5, sensitisation 0.3, three topics; item i has topic i.
        var w = TestWorlds.Make([[0f, 0f]], [[0f, 0f], [0f, 0f], [0f, 0f]], topics: 3);
        var b = new BoredomSensitisation(3, 2, 0.5, 0.3);
        b.Initialize(w);
        b.Update(w, 0, 0, 0);
        Assert.Equal(0.3f, b.TopicPreference(0)[0], Tol);
        Assert.Equal(-0.15f, b.TopicPreference(0)[1], Tol);
        Assert.False(b.Bored(0, 0));
        b.Update(w, 0, 0, 0);
        Assert.True(b.Bored(0, 0));
        Assert.Equal(0.6f - 0.5f, b.Utility(w, 0, 0), Tol);
        Assert.Equal(-0.3f, b.Utility(w, 0, 1), Tol);
        b.Update(w, 0, 1, 0);
        b.Update(w, 0, 2, 0); // the history (3) now holds topics 0, 1, 2: no longer bored
        Assert.False(b.Bored(0, 0));
    }

    [Fact]
    public void Opinion_drift_mixes_the_initial_opinion_and_the_recommendation()
    {
        var w = TestWorlds.Make([[1, 0]], [[0, 1]]);
        var o = new OpinionDrift(0.25);
        o.Update(w, 0, 0, 0);
        Assert.Equal(0.25f, w.Preference(0)[0], Tol);
        Assert.Equal(0.75f, w.Preference(0)[1], Tol);
        o.Update(w, 0, 0, 0); // anchored to x0, not to x_t: the same point again
        Assert.Equal(0.25f, w.Preference(0)[0], Tol);
    }

    [Fact]
    public void Static_users_with_idiosyncrasy_have_fixed_per_pair_utilities()
    {
        var w = TestWorlds.Make([[1, 0], [1, 0]], [[1, 0], [0, 1]]);
        var s = new StaticUsers(0.5);
        s.Initialize(w);
        var a = s.Utility(w, 0, 0);
        Assert.Equal(a, s.Utility(w, 0, 0));
        Assert.NotEqual(a, s.Utility(w, 1, 0));
        Assert.Equal(1 + (0.5 * s.Epsilon(0, 0)), a, 1e-5);
        Span<float> all = stackalloc float[2];
        s.Utilities(w, 0, all);
        Assert.Equal(a, all[0], Tol);
    }

    [Fact]
    public void Choice_uses_position_attention_and_the_outside_option()
    {
        // utilities 0.5 (position 1) and 0.6 (position 2).
        var w = TestWorlds.Make([[1, 0]], [[0.5f, 0], [0.6f, 0]]);
        var users = new StaticUsers();
        users.Initialize(w);
        var rng = new StreamRng(1);
        int[] slate = [0, 1];
        Assert.Equal(1, new ChoiceModel { Noise = RatingNoise.None }.Choose(w, users, 0, slate, ref rng, out var u, out var r));
        Assert.Equal(0.6f, u, Tol);
        Assert.Equal(0.6f, r, Tol);
        // alpha = 1: values 0.5 * 1 and 0.6 * 1/2 = 0.3.
        Assert.Equal(0, new ChoiceModel { Attention = 1, Noise = RatingNoise.None }.Choose(w, users, 0, slate, ref rng, out _, out _));
        Assert.Equal(-1, new ChoiceModel { OutsideOption = 0.7, Noise = RatingNoise.None }.Choose(w, users, 0, slate, ref rng, out _, out var none));
        Assert.Equal(0f, none);
        Assert.Equal(-1, new ChoiceModel().Choose(w, users, 0, [-1, -1], ref rng, out _, out _));
    }

    [Fact]
    public void Ratings_are_drawn_around_the_utility()
    {
        var w = TestWorlds.Make([[1, 0]], [[0.3f, 0]]);
        var users = new StaticUsers();
        users.Initialize(w);
        double gauss = 0, beta = 0;
        const int n = 20000;
        for (var i = 0; i < n; i++)
        {
            var rng = StreamRng.For(5, 0, i);
            new ChoiceModel { Noise = RatingNoise.Gaussian, NoiseScale = 0.1 }.Choose(w, users, 0, [0], ref rng, out _, out var g);
            var rng2 = StreamRng.For(6, 0, i);
            new ChoiceModel { Noise = RatingNoise.Beta, Concentration = 20 }.Choose(w, users, 0, [0], ref rng2, out _, out var b);
            Assert.InRange(b, 0f, 1f);
            gauss += g;
            beta += b;
        }

        Assert.Equal(0.3, gauss / n, 0.005);
        Assert.Equal(0.3, beta / n, 0.005);
    }

    [Fact]
    public void Exposure_game_gradient_step_by_hand()
    {
        // One user x = (1, 0); creators s1 = (1, 0), s2 = (0, 1); tau = 1.
        // e1 = e/(e+1) = 0.731059, e2 = 0.268941; grad_2 = e2 (1 - e2) x = (0.196612, 0), tangent at s2.
        var w = TestWorlds.Make([[1, 0]], [[1, 0], [0, 1]]);
        var game = new ExposureGame(1.0, CreatorDynamics.Gradient, learningRate: 1.0, candidates: 1, every: 1);
        game.Initialize(w, 1);
        Assert.Equal(0.731059, game.Profits[0], 1e-5);
        Assert.Equal(0.268941, game.Profits[1], 1e-5);
        game.Step(w, new StepRecord(1, 1), 1);
        var g = 0.268941 * (1 - 0.268941);
        var n = Math.Sqrt((g * g) + 1);
        Assert.Equal(g / n, w.Item(1)[0], 1e-4);
        Assert.Equal(1 / n, w.Item(1)[1], 1e-4);
        Assert.Equal(1f, w.Item(0)[0], Tol); // already at the user: radial gradient only
    }

    [Fact]
    public void Supply_side_profit_is_users_won_minus_cost()
    {
        var w = TestWorlds.Make([[1, 0], [0, 1]], [[1, 0], [0, 1]]);
        var market = new SupplySideCompetition(0.1, 2, candidates: 4, norms: [1.0], every: 1);
        market.Initialize(w, 1);
        Assert.Equal(0.9, market.Profits[0], 1e-6);
        Assert.Equal(0.9, market.Profits[1], 1e-6);
    }

    [Fact]
    public void Supply_side_ties_split_the_user()
    {
        var w = TestWorlds.Make([[1, 0]], [[1, 0], [1, 0]]);
        var market = new SupplySideCompetition(0, 2, candidates: 1, norms: [1.0], every: 1);
        market.Initialize(w, 1);
        Assert.Equal(0.5, market.Profits[0], 1e-6);
    }

    [Fact]
    public void Content_filtering_is_the_least_squares_fit_of_counts_on_attributes()
    {
        // V rows (1,0), (0,1), (1,1); counts c = (2, 0, 1): V^T c = (3, 1), V^T V = [[2,1],[1,2]],
        // theta = (V^T V)^-1 V^T c = 1/3 [[2,-1],[-1,2]] (3, 1) = (5/3, -1/3).
        var w = TestWorlds.Make([[0, 0]], [[1, 0], [0, 1], [1, 1]]);
        w.Record(0, 0, 1);
        w.Record(0, 0, 1);
        w.Record(0, 2, 1);
        var cf = new ContentFiltering(1, 0);
        cf.Initialize(w, new StaticUsers(), 1);
        Assert.Equal(5f / 3, cf.Profile(0, 2)[0], 1e-4f);
        Assert.Equal(-1f / 3, cf.Profile(0, 2)[1], 1e-4f);
        Span<float> scores = stackalloc float[3];
        var rng = new StreamRng(1);
        cf.Score(w, 0, scores, ref rng);
        Assert.Equal(5f / 3, scores[0], 1e-4f);
        Assert.Equal(4f / 3, scores[2], 1e-4f);
    }

    [Fact]
    public void Content_filtering_keeps_its_sums_up_to_date_from_observations()
    {
        var w = TestWorlds.Make([[0, 0]], [[1, 0], [0, 1], [1, 1]]);
        var cf = new ContentFiltering(1, 0);
        cf.Initialize(w, new StaticUsers(), 1);
        var record = new StepRecord(1, 1);
        foreach (var item in new[] { 0, 0, 2 })
        {
            record.Chosen[0] = item;
            w.Record(0, item, 1);
            cf.Observe(w, record);
        }

        w.Step = 1;
        cf.BeginStep(w);
        Assert.Equal(5f / 3, cf.Profile(0, 2)[0], 1e-4f);
    }

    [Fact]
    public void Matrix_factorisation_recovers_a_fully_observed_rank_one_matrix()
    {
        var a = new[] { 1f, 2f, 0.5f };
        var b = new[] { 0.3f, 1f, 0.7f, 0.2f };
        var w = new World(3, 4, 1, 1);
        for (var u = 0; u < 3; u++)
        {
            for (var i = 0; i < 4; i++)
            {
                w.Record(u, i, a[u] * b[i]);
            }
        }

        var mf = new MatrixFactorisation(rank: 1, ridge: 1e-6, every: 1, iterations: 50, startup: 0);
        mf.Initialize(w, new StaticUsers(), 3);
        mf.Train(w);
        Span<float> scores = stackalloc float[4];
        var rng = new StreamRng(1);
        for (var u = 0; u < 3; u++)
        {
            mf.Score(w, u, scores, ref rng);
            for (var i = 0; i < 4; i++)
            {
                Assert.Equal(a[u] * b[i], scores[i], 1e-3f);
            }
        }
    }

    [Fact]
    public void Ucb_tries_unseen_items_first_then_adds_the_bonus()
    {
        var w = TestWorlds.Make([[1f], [1f]], [[1f], [1f]]);
        w.Record(0, 0, 0.5f);
        w.Step = 3;
        var ucb = new BanditRecommender(BanditRule.Ucb, 2, 0);
        Span<float> s = stackalloc float[2];
        var rng = new StreamRng(1);
        ucb.Score(w, 0, s, ref rng);
        Assert.True(s[1] > s[0]);
        Assert.Equal(0.5 + (2 * Math.Sqrt(Math.Log(4) / 1)), s[0], 1e-5);
        var greedy = new BanditRecommender(BanditRule.EpsilonGreedy, 0, prior: -1);
        greedy.Score(w, 0, s, ref rng);
        Assert.Equal(0.5f, s[0]);
        Assert.Equal(-1f, s[1]);
    }

    [Fact]
    public void Stationarity_preserving_prefers_items_that_leave_the_preference_in_place()
    {
        // Under biased assimilation an item orthogonal to p (or equal to it) leaves p unchanged.
        var w = TestWorlds.Make([[1, 0]], [[0.6f, 0.8f], [0, 1], [1, 0]]);
        var users = new BiasedAssimilation(0.5);
        var r = new StationarityPreserving(1e-3);
        r.Initialize(w, users, 1);
        Span<float> s = stackalloc float[3];
        var rng = new StreamRng(1);
        r.Score(w, 0, s, ref rng);
        Assert.True(s[2] > s[0] && s[1] > s[0]);
        Assert.True(s[2] > s[1]); // relevance breaks the tie
    }

    [Fact]
    public void Mass_media_shows_everyone_the_same_feed()
    {
        var w = TestWorlds.Make([[1, 0], [0, 1]], [[1, 0], [0, 1], [0.5f, 0.5f]]);
        var r = new MassMediaRecommender(FeedSource.Random, null);
        r.Initialize(w, new StaticUsers(), 9);
        r.BeginStep(w);
        Span<float> a = stackalloc float[3];
        Span<float> b = stackalloc float[3];
        var rng = new StreamRng(1);
        r.Score(w, 0, a, ref rng);
        r.Score(w, 1, b, ref rng);
        Assert.True(a.SequenceEqual(b));
    }
}

namespace Attune.Interaction.Tests;

/// <summary>Metrics on small cases with known values.</summary>
public class MetricTests
{
    [Fact]
    public void Jaccard_of_bitsets()
    {
        ulong[] a = [0b0111];
        ulong[] b = [0b1110];
        Assert.Equal(0.5, HomogenizationMetric.Jaccard(a, b)); // {0,1,2} vs {1,2,3}: 2 / 4
        Assert.Equal(0, HomogenizationMetric.Jaccard([0UL], [0UL]));
        Assert.Equal(1, HomogenizationMetric.Jaccard([5UL, 1UL], [5UL, 1UL]));
    }

    [Fact]
    public void Homogenization_over_all_pairs()
    {
        // users: {0,1}, {1}, {} -> pairs (0,1) = 1/2, (0,2) = 0, (1,2) = 0: mean 1/6.
        var w = new World(3, 4, 1, 1);
        w.Record(0, 0, 1);
        w.Record(0, 1, 1);
        w.Record(1, 1, 1);
        var m = new HomogenizationMetric(PairMode.All);
        m.Initialize(w, 1);
        var v = new double[1];
        m.Measure(w, new StepRecord(3, 1), null, v);
        Assert.Equal(1.0 / 6, v[0], 1e-12);
    }

    [Fact]
    public void Nearest_pairs_follow_initial_preferences()
    {
        // users 0 and 1 are close, user 2 is far: 0<->1, 1<->0, 2->(0 or 1).
        var w = TestWorlds.Make([[1, 0], [0.9f, 0.1f], [0, 1]], [[1, 0], [0, 1]]);
        w.Record(0, 0, 1);
        w.Record(1, 0, 1);
        w.Record(2, 1, 1);
        var m = new HomogenizationMetric(PairMode.Nearest);
        m.Initialize(w, 1);
        var v = new double[1];
        m.Measure(w, new StepRecord(3, 1), null, v);
        Assert.Equal(2.0 / 3, v[0], 1e-12); // pairs (0,1)=1, (1,0)=1, (2,1)=0
    }

    [Fact]
    public void Polarization_is_the_mean_absolute_cosine_to_the_axis()
    {
        float[] prefs = [1, 0, -2, 0, 0, 3];
        var proj = new double[3];
        var p = PolarizationMetric.MeanAbsoluteCosine(prefs, 3, 2, [1, 0], proj);
        Assert.Equal(2.0 / 3, p, 1e-6);
        Assert.Equal(-1, proj[1], 1e-6);
    }

    [Fact]
    public void Bimodality_coefficient_known_values()
    {
        Assert.Equal(1, PolarizationMetric.BimodalityCoefficient([-1, 1, -1, 1]), 1e-12); // two point masses
        var uniform = Enumerable.Range(0, 100_000).Select(i => (i + 0.5) / 100_000).ToArray();
        Assert.Equal(5.0 / 9, PolarizationMetric.BimodalityCoefficient(uniform), 1e-3); // kurtosis 1.8
        Assert.Equal(0, PolarizationMetric.BimodalityCoefficient([2, 2, 2]));
    }

    [Fact]
    public void Principal_axis_of_points_on_a_line()
    {
        float[] prefs = [1, 0, -1, 0, 0.99f, 0.01f];
        var axis = new float[2];
        PolarizationMetric.PrincipalAxis(prefs, 3, 2, axis);
        Assert.Equal(1, Math.Abs(axis[0]), 1e-3);
    }

    [Fact]
    public void Slate_diversity_and_overlap()
    {
        var w = TestWorlds.Make([[1, 0], [1, 0]], [[1, 0], [0, 1], [1, 0], [-1, 0]]);
        Assert.Equal(1, DiversityMetric.SlateDiversity(w, [0, 1]), 1e-6);
        Assert.Equal(0, DiversityMetric.SlateDiversity(w, [0, 2]), 1e-6);
        Assert.Equal(2, DiversityMetric.SlateDiversity(w, [0, 3]), 1e-6);
        Assert.Equal(0.5, DiversityMetric.SlateJaccard([1, 2, 3], [2, 3, 4]), 1e-12);
        Assert.Equal(0, DiversityMetric.SlateJaccard([-1], [-1]));

        var record = new StepRecord(2, 2);
        int[] slates = [0, 1, 1, 2];
        slates.CopyTo(record.Slates, 0);
        var m = new DiversityMetric();
        m.Initialize(w, 1);
        var v = new double[3];
        m.Measure(w, record, null, v);
        Assert.Equal((1 + 1) / 2.0, v[0], 1e-6); // slate {0,1}: 1; slate {1,2}: 1
        Assert.Equal(3 / 4.0, v[1], 1e-12);     // items 0, 1, 2 of 4 shown
        Assert.Equal(1 / 3.0, v[2], 1e-12);     // {0,1} vs {1,2}
    }

    [Fact]
    public void Engagement_utility_and_welfare()
    {
        var w = TestWorlds.Make([[1, 0], [0, 1]], [[0.5f, 0.5f]]);
        var record = new StepRecord(2, 1);
        record.Chosen[0] = 0;
        record.Ratings[0] = 0.8f;
        record.Utilities[0] = 0.5f;
        record.Chosen[1] = -1;
        var v = new double[4];
        new EngagementMetric().Measure(w, record, null, v);
        Assert.Equal(0.4, v[0], 1e-6);   // (0.8 + 0) / 2
        Assert.Equal(0.5, v[1], 1e-12);  // one of two consumed
        Assert.Equal(0.25, v[2], 1e-6);  // (0.5 + 0) / 2
        Assert.Equal(0.25, v[3], 1e-6);  // <p0(0), v> = 0.5, over 2 users
    }

    [Fact]
    public void Content_diversity_and_creator_profit()
    {
        var w = TestWorlds.Make([[1, 0]], [[1, 0], [-1, 0]]);
        Assert.Equal(2, CreatorMetric.ContentDiversity(w), 1e-6);
        var v = new double[2];
        new CreatorMetric().Measure(w, new StepRecord(1, 1), null, v);
        Assert.Equal(0, v[0]);
    }

    [Fact]
    public void Drift_and_nan_count()
    {
        var w = TestWorlds.Make([[1, 0], [1, 0]], [[1, 0]]);
        w.Preference(0)[0] = 0;
        w.Preference(0)[1] = 1;
        w.Preference(1)[0] = float.NaN;
        var v = new double[2];
        new DriftMetric().Measure(w, new StepRecord(2, 1), null, v);
        Assert.Equal(0.5, v[0], 1e-6); // user 0 rotated 90 degrees (1), user 1 skipped, over 2 users
        Assert.Equal(1, v[1]);
    }
}

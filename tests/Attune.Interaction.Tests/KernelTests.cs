namespace Attune.Interaction.Tests;

public class KernelTests
{
    [Fact]
    public void ScoreAll_equals_the_inner_products()
    {
        var rng = new StreamRng(3);
        const int m = 37, d = 5;
        var items = new float[m * d];
        var p = new float[d];
        for (var i = 0; i < items.Length; i++)
        {
            items[i] = rng.NextFloat() - 0.5f;
        }

        for (var k = 0; k < d; k++)
        {
            p[k] = rng.NextFloat();
        }

        var byDim = new float[m * d];
        for (var i = 0; i < m; i++)
        {
            for (var k = 0; k < d; k++)
            {
                byDim[(k * m) + i] = items[(i * d) + k];
            }
        }

        var scores = new float[m];
        VectorOps.ScoreAll(p, byDim, scores);
        for (var i = 0; i < m; i++)
        {
            Assert.Equal(VectorOps.Dot(p, items.AsSpan(i * d, d)), scores[i], 1e-5f);
        }
    }

    [Fact]
    public void TopK_orders_best_first_and_breaks_ties_by_index()
    {
        float[] s = [0.1f, 0.9f, 0.5f, 0.9f, float.NaN, float.NegativeInfinity, 0.7f, 0.2f, 0.3f, 0.95f, 0.0f, 0.6f, 0.65f, 0.1f, 0.1f, 0.1f, 0.1f, 0.99f];
        var idx = new int[4];
        var val = new float[4];
        Assert.Equal(4, VectorOps.TopK(s, idx, val));
        Assert.Equal([17, 9, 1, 3], idx);
    }

    [Fact]
    public void TopK_with_fewer_eligible_items_than_slots()
    {
        float[] s = [float.NegativeInfinity, 0.5f, float.NegativeInfinity];
        var idx = new int[3];
        var val = new float[3];
        Assert.Equal(1, VectorOps.TopK(s, idx, val));
        Assert.Equal([1, -1, -1], idx);
    }

    [Fact]
    public void TopK_matches_a_sort_on_random_scores()
    {
        for (var trial = 0; trial < 50; trial++)
        {
            var rng = StreamRng.For(11, trial, 0);
            var m = 1 + rng.NextInt(300);
            var s = new float[m];
            for (var i = 0; i < m; i++)
            {
                s[i] = (float)Math.Round(rng.NextDouble(), 2);
            }

            var k = Math.Min(10, m);
            var idx = new int[k];
            var val = new float[k];
            VectorOps.TopK(s, idx, val);
            var expected = Enumerable.Range(0, m).OrderByDescending(i => s[i]).ThenBy(i => i).Take(k).ToArray();
            Assert.Equal(expected, idx);
        }
    }

    [Fact]
    public void Cholesky_solves_a_small_system()
    {
        double[] a = [4, 2, 2, 3];
        double[] b = [2, 1];
        VectorOps.CholeskySolve(a, b, 2);
        Assert.Equal(0.5, b[0], 1e-12);
        Assert.Equal(0, b[1], 1e-12);
    }

    [Fact]
    public void Stream_rng_is_reproducible_and_uniform()
    {
        var a = StreamRng.For(7, 3, 4);
        var b = StreamRng.For(7, 3, 4);
        Assert.Equal(a.NextUInt64(), b.NextUInt64());
        var c = StreamRng.For(7, 3, 5);
        double sum = 0;
        for (var i = 0; i < 100_000; i++)
        {
            sum += c.NextDouble();
        }

        Assert.Equal(0.5, sum / 100_000, 0.01);
    }
}

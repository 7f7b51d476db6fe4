using Attune.Core.Statistics;

namespace Attune.Core.Tests.Statistics;

/// <summary>The two quantile definitions against R's <c>quantile(1:10, p, type = 7)</c> and <c>type = 1</c>.</summary>
public class QuantilesTests
{
    private static readonly double[] OneToTen = [1, 2, 3, 4, 5, 6, 7, 8, 9, 10];

    [Theory]
    [InlineData(0.0, 1.0)]
    [InlineData(0.1, 1.9)]
    [InlineData(0.25, 3.25)]
    [InlineData(0.5, 5.5)]
    [InlineData(0.99, 9.91)]
    [InlineData(1.0, 10.0)]
    [InlineData(-0.5, 1.0)]   // clamped
    [InlineData(1.5, 10.0)]
    public void Type7_matches_R(double p, double expected) => Assert.Equal(expected, Quantiles.Type7(OneToTen, p), 12);

    [Theory]
    [InlineData(0.1, 1.0)]
    [InlineData(0.25, 3.0)]
    [InlineData(0.5, 5.0)]
    [InlineData(0.99, 10.0)]
    [InlineData(1.0, 10.0)]
    [InlineData(0.0, 1.0)]
    public void Nearest_rank_matches_R_type_1(double q, double expected) => Assert.Equal(expected, Quantiles.NearestRank(OneToTen, q));

    [Fact]
    public void A_single_value_is_every_quantile_and_none_is_refused()
    {
        Assert.Equal(4.0, Quantiles.Type7([4.0], 0.3));
        Assert.Equal(4.0, Quantiles.NearestRank([4.0], 0.99));
        Assert.True(double.IsNaN(Quantiles.Type7(OneToTen, double.NaN)));
        Assert.Throws<ArgumentException>(() => Quantiles.Type7([], 0.5));
        Assert.Throws<ArgumentException>(() => Quantiles.NearestRank([], 0.5));
    }
}

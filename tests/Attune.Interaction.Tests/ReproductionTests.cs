using Attune.Core.Reports;
using Attune.Core.Reproductions;
using Attune.Interaction.Reproductions;

namespace Attune.Interaction.Tests;

public class ReproductionTests
{
    [Fact]
    public void Exhaustive_optimum_of_a_tiny_rebounding_bandit()
    {
        // Two identical arms, gamma 0.5, lambda 1, b = 1, two steps: alternate (1 + 1) beats repeat (1 + 0.5).
        Assert.Equal(2.0, SatiationReproduction.Optimum([1, 1], 0.5, 1, 2, out var best), 1e-12);
        Assert.NotEqual(best[0], best[1]);
        Assert.Equal([0, 1, 2, 0, 1, 2], SatiationReproduction.GreedyArms([1, 1, 1], 0.6, 0.5, 6));
    }

    [Fact]
    public async Task Satiation_reproduction_reproduces_its_claims()
    {
        var dir = Path.Combine(Path.GetTempPath(), "attune-interact-" + Guid.NewGuid().ToString("N"));
        try
        {
            var context = new ReproductionContext { Quick = true, Seed = 1, Report = new Report(dir, "t") };
            var result = await new SatiationReproduction().RunAsync(context, CancellationToken.None);
            Assert.Equal(2, result.Claims.Count);
            Assert.All(result.Claims, c => Assert.True(c.Reproduced, c.Evidence));
        }
        finally
        {
            Directory.Delete(dir, recursive: true);
        }
    }

    [Fact]
    public async Task Polarization_reproduction_reproduces_its_claims()
    {
        var dir = Path.Combine(Path.GetTempPath(), "attune-interact-" + Guid.NewGuid().ToString("N"));
        try
        {
            var context = new ReproductionContext { Quick = true, Seed = 20261127, Report = new Report(dir, "t") };
            var result = await new PolarizationReproduction().RunAsync(context, CancellationToken.None);
            Assert.All(result.Claims, c => Assert.True(c.Reproduced, c.Evidence));
        }
        finally
        {
            Directory.Delete(dir, recursive: true);
        }
    }
}

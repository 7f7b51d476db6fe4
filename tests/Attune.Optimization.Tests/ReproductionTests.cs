using Attune.Core.Reports;
using Attune.Core.Reproductions;

namespace Attune.Optimization.Tests;

/// <summary>
/// The <c>equivamap</c> reproduction at quick scale with the default seed: the claims it reproduced
/// when this test was written stay reproduced; the LLM finder's claim is not measured without a model.
/// </summary>
public sealed class ReproductionTests
{
    [Fact]
    public async Task Equivamap_quick_keeps_its_reproduced_claims()
    {
        var previous = Environment.GetEnvironmentVariable("ATTUNE_LLM");
        Environment.SetEnvironmentVariable("ATTUNE_LLM", null);
        var dir = Path.Combine(Path.GetTempPath(), "attune-equiv-" + Guid.NewGuid().ToString("N"));
        try
        {
            var report = new Report(dir, "equivamap");
            var result = await new EquivaMapReproduction().RunAsync(
                new ReproductionContext { Quick = true, Seed = 20261127, Report = report }, CancellationToken.None);
            string[] reproduced =
            [
                "EquivaMap identifies every equivalent pair",
                "Optimal-value comparison (execution accuracy) misses rescaling",
                "The WL test rejects equivalent transformations that change the graph",
                "(Attune's sanity check) The checker accepts every generator's true map",
            ];
            foreach (var start in reproduced)
            {
                var claim = Assert.Single(result.Claims, c => c.Text.StartsWith(start, StringComparison.Ordinal));
                Assert.True(claim.Reproduced, claim.Text + ": " + claim.Evidence);
            }

            var llm = Assert.Single(result.Claims, c => c.Text.StartsWith("EquivaMap with a language model", StringComparison.Ordinal));
            Assert.Equal(Verdict.NotMeasured, llm.Verdict);
            Assert.Contains("ATTUNE_LLM", llm.Evidence, StringComparison.Ordinal);
        }
        finally
        {
            Environment.SetEnvironmentVariable("ATTUNE_LLM", previous);
            Directory.Delete(dir, recursive: true);
        }
    }
}

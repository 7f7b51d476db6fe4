using Attune.Core.Reports;
using Attune.Core.Reproductions;

namespace Attune.Personalization.Tests;

/// <summary>The <c>personalized-rlhf</c> reproduction at quick scale: four measured claims, the report's sections, and the result it reached when written.</summary>
[Collection("torch")]
public sealed class ReproductionTests
{
    [Fact]
    public async Task Quick_run_measures_its_four_claims_and_keeps_the_personalisation_it_reached()
    {
        var dir = Path.Combine(Path.GetTempPath(), "attune-prlhf-" + Guid.NewGuid().ToString("N")[..10]);
        try
        {
            var report = new Report(dir, "personalized-rlhf");
            var result = await new PersonalizedRlhfReproduction().RunAsync(new ReproductionContext { Quick = true, Seed = 20261127, Report = report }, CancellationToken.None);
            Assert.Equal(4, result.Claims.Count);
            Assert.DoesNotContain(result.Claims, c => c.Verdict == Verdict.NotMeasured);

            // The claim reproduced when this test was written stays reproduced: P-DPO serves the minority.
            Assert.True(result.Claims[0].Reproduced, result.Claims[0].Evidence);
            Assert.True(result.Metrics["accuracy.individual.minority"] >= result.Metrics["accuracy.vanilla.minority"] + 0.05);

            // Vanilla DPO has no user input: every user's generations are the same.
            Assert.Equal(0, result.Metrics["length.vanilla.difference"], 9);
            var text = report.ToString();
            foreach (var section in new[] { "## Criteria (fixed before the run)", "## Held-out preference accuracy", "## Generated summary length (words)", "## Cluster weights (K = 2)" })
            {
                Assert.Contains(section, text, StringComparison.Ordinal);
            }

            Assert.Contains("training-loss.png", report.Plots);
            Assert.False(Directory.Exists(Path.Combine(dir, "runs")), "the training runs' folders are removed");
        }
        finally
        {
            Directory.Delete(dir, recursive: true);
        }
    }
}

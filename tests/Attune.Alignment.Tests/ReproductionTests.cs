using Attune.Core.Reports;
using Attune.Core.Reproductions;

namespace Attune.Alignment.Tests;

/// <summary>
/// The <c>gradient-entanglement</c> reproduction at quick scale with the default seed: the claims it
/// reproduced when this test was written stay reproduced, and the one it did not reproduce keeps a
/// measured verdict (a regression that stops measuring it would show).
/// </summary>
[Collection("torch")]
public sealed class ReproductionTests
{
    [Fact]
    public async Task Gradient_entanglement_quick_keeps_its_reproduced_claims()
    {
        var dir = Path.Combine(Path.GetTempPath(), "attune-ge-" + Guid.NewGuid().ToString("N"));
        try
        {
            var report = new Report(dir, "gradient-entanglement");
            var result = await new GradientEntanglementReproduction().RunAsync(
                new ReproductionContext { Quick = true, Seed = 20261127, Report = report }, CancellationToken.None);
            var byText = result.Claims.ToDictionary(c => c.Text, c => c);
            string[] reproduced =
            [
                "Single-token difference: the chosen and rejected gradients point apart (negative cosine).",
                "Single-token difference: the chosen log-prob rises under training.",
                "Shared suffix: the gradient cosine is positive.",
                "Shared suffix: the cosine grows with k.",
                "Shared suffix: the chosen log-prob falls while the margin grows (for every loss, at one or more k).",
            ];
            foreach (var text in reproduced)
            {
                Assert.True(byText.TryGetValue(text, out var claim), "missing claim: " + text);
                Assert.True(claim.Reproduced, text + ": " + claim.Evidence);
            }

            var mechanism = Assert.Single(result.Claims, c => c.Text.StartsWith("Mechanism:", StringComparison.Ordinal));
            Assert.True(mechanism.Reproduced, mechanism.Evidence);
            Assert.DoesNotContain(result.Claims, c => c.Verdict == Verdict.NotMeasured);
            Assert.Equal(7, result.Claims.Count);
        }
        finally
        {
            Directory.Delete(dir, recursive: true);
        }
    }
}

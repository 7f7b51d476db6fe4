using Attune.Core.Reports;
using Attune.Core.Reproductions;

namespace Attune.Surveys.Tests;

public class ReproductionTests
{
    [Fact]
    public async Task Quick_run_reproduces_its_claims_and_adds_the_real_data_section_when_given_an_opinionqa_folder()
    {
        using var dir = new TempDir();
        var data = Path.Combine(dir.Path, "opinionqa");
        Directory.CreateDirectory(data);
        File.WriteAllText(Path.Combine(data, "info.csv"), "key,question,references\nQ_A,Trust?,\"['A lot', 'Some', 'None', 'Refused']\"\nQ_B,Fair?,\"['Yes', 'No', 'Refused']\"\n");
        File.WriteAllText(Path.Combine(data, "RACE_data.json"), """{"Q_A":{"Black":[100,80,20,3],"White":[60,90,50,2]},"Q_B":{"Black":[70,130,1],"White":[120,80,4]}}""");
        File.WriteAllText(Path.Combine(data, "llm.jsonl"), """
            {"question":"Q_A","group":"RACE=Black","options":["A lot","Some","None","Refused"],"counts":[20,60,120,0]}
            {"question":"Q_A","group":"RACE=White","options":["A lot","Some","None","Refused"],"counts":[60,90,50,0]}
            {"question":"Q_B","group":"RACE=Black","options":["Yes","No","Refused"],"probabilities":[0.35,0.65,0],"n":200}
            """);
        var report = new Report(Path.Combine(dir.Path, "run"), "survey-misalignment");
        var result = await new SurveyMisalignmentReproduction(data).RunAsync(
            new ReproductionContext { Quick = true, Seed = 20261127, Report = report }, CancellationToken.None);
        Assert.Equal(5, result.Claims.Count);
        Assert.All(result.Claims, c => Assert.True(c.Reproduced, c.Text + ": " + c.Evidence));
        // With real answers the claim about models is measured: 1 of the 3 tests rejects (share 1/3 > alpha).
        Assert.Equal(SurveyMisalignmentReproduction.RealDataClaim, result.Claims[4].Text);
        Assert.Contains("0.333 of 3 tests rejected", result.Claims[4].Evidence, StringComparison.Ordinal);
        Assert.Equal(3, result.Metrics["real.tests"]);
        Assert.Equal(0.5, result.Metrics["real.share_rejected.RACE=Black"]); // Q_A is far off, Q_B matches
        Assert.Equal(0, result.Metrics["real.share_rejected.RACE=White"]);
        Assert.Contains("real-heatmap.png", report.Plots);
        Assert.Contains("synthetic-share-rejected.png", report.Plots);
        Assert.Contains("power-vs-shift.png", report.Plots);
    }
}

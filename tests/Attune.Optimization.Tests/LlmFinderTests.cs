using Attune.Llm;
using Microsoft.Extensions.AI;

namespace Attune.Optimization.Tests;

public class LlmFinderTests
{
    [Fact]
    public void The_prompt_describes_the_variable_its_rows_its_cost_and_the_other_formulation()
    {
        var f = LpFormat.Parse("Maximize\n profit: 3 x + 5 y\nSubject To\n a: x + y <= 4\n b: y <= 3\nBounds\n x <= 10\nEnd\n");
        var g = LpFormat.Parse("Maximize\n profit: 3 u + 5 v\nSubject To\n a: u + v <= 4\n b: v <= 3\nEnd\n");
        var prompt = LlmMapFinder.Prompt(f, g, 0);
        Assert.Contains("variable `x`", prompt, StringComparison.Ordinal);
        Assert.Contains("bounds [0, 10]", prompt, StringComparison.Ordinal);
        Assert.Contains("coefficient 3 in the objective, which is to be maximized", prompt, StringComparison.Ordinal);
        Assert.Contains("a: x + y <= 4", prompt, StringComparison.Ordinal);
        Assert.DoesNotContain("b: y <= 3", prompt, StringComparison.Ordinal);
        Assert.Contains("+ 5 v", prompt, StringComparison.Ordinal); // formulation B in full
    }

    [Theory]
    [InlineData("{\"u\": 2, \"v\": -1}", 2)]
    [InlineData("Sure! Here it is:\n```json\n{\"u\": 1}\n```", 1)]
    [InlineData("none", 0)]
    [InlineData("{\"nope\": 1}", 0)]
    [InlineData("{\"u\": \"two\"}", 0)]
    [InlineData("{not json}", 0)]
    public void Answers_are_read_leniently(string answer, int terms)
    {
        var g = LpFormat.Parse("Minimize\n obj: u + v\nSubject To\n c: u + v >= 1\nEnd\n");
        Assert.Equal(terms, LlmMapFinder.ParseAnswer(answer, g).Count);
    }

    [Theory]
    [InlineData("rename")]
    [InlineData("split-diff")]
    [InlineData("digits")]
    public async Task A_model_that_answers_with_the_true_map_makes_the_pair_equivalent(string transformation)
    {
        var f = BaseInstances.Generate("staffing", true, 3);
        var pair = Transformations.Apply(transformation, f, new Random(7))!;
        using var client = new ReferenceChatClient(pair.TrueMap!, wrap: true);
        var report = await EquivalenceChecker.CheckAsync(f, pair.Transformed, "llm", client);
        Assert.True(report.Equivalent, report.Reason);
        Assert.Equal("llm", report.Finder);
        Assert.Equal(f.Variables.Count, client.Calls); // one prompt per variable of the original
    }

    [Fact]
    public async Task A_model_that_answers_none_cannot_make_a_pair_equivalent()
    {
        var f = BaseInstances.Generate("diet", false, 3);
        var pair = Transformations.Apply("rename", f, new Random(7))!;
        using var client = new ReferenceChatClient(_ => "none");
        var report = await EquivalenceChecker.CheckAsync(f, pair.Transformed, "llm", client);
        Assert.False(report.Equivalent);
    }

    [Fact]
    public async Task Auto_uses_the_structural_finder_first_and_calls_no_model_when_it_succeeds()
    {
        var f = BaseInstances.Generate("diet", false, 3);
        var pair = Transformations.Apply("slack", f, new Random(7))!;
        using var client = new ReferenceChatClient(_ => "none");
        var report = await EquivalenceChecker.CheckAsync(f, pair.Transformed, "auto", client);
        Assert.True(report.Equivalent);
        Assert.Equal("structural", report.Finder);
        Assert.Equal(0, client.Calls);
    }

    public static TheoryData<string> RecordedPairs() => ["rename", "split-diff"];

    [Theory]
    [MemberData(nameof(RecordedPairs))]
    public async Task A_recorded_exchange_log_replays_the_llm_finder_end_to_end(string pair)
    {
        var dir = FormatTests.Fixture("llm", pair);
        var original = FormulationFile.Read(Path.Combine(dir, "original.lp"));
        var transformed = FormulationFile.Read(Path.Combine(dir, "transformed.lp"));
        using var replay = LlmEndpoints.Create("replay:" + FormatTests.Fixture("llm", "exchanges.jsonl"));
        Assert.True(StandIn.IsScripted(replay)); // recorded from ReferenceChatClient, and the log says so
        var report = await EquivalenceChecker.CheckAsync(original, transformed, "llm", replay);
        Assert.True(report.Equivalent, report.Reason);
        Assert.Equal("llm", report.Finder);
    }
}

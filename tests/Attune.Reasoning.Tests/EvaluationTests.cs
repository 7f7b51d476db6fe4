using Attune.Core.Statistics;
using Attune.Reasoning.Tasks;

namespace Attune.Reasoning.Tests;

/// <summary>Scoring, Wilson intervals, the two-proportion test, recipe data and RFT's filter, on hand-made values.</summary>
public sealed class EvaluationTests
{
    private const string ConcatNextFirst = "Take the first letter of each word in the sequence, concatenate them in lower case, and find the next letter in alphabet following the last letter in the sequence of the concatenated letters: Mary Jean-Luc Ava Hugo answer: ";
    private const string ConcatNextLast = "Take the last letter of each word in the sequence, concatenate them in lower case, and find the next letter in alphabet following the last letter in the sequence of the concatenated letters: Mary Noah Ava Lee-Roy answer: ";
    private const string NextQ = "Find the next letter in alphabet following the last letter in the sequence: abcdefghijklmnopqrstuvwxyzabcdefghijklmnopq answer: ";

    [Theory]
    // Hand-computed with z = 1.959964: centre (p + z²/2n)/(1 + z²/n), half z·sqrt(p(1-p)/n + z²/4n²)/(1 + z²/n).
    [InlineData(1, 4, 0.04558, 0.69936)]
    [InlineData(0, 10, 0.0, 0.27753)]
    [InlineData(10, 10, 0.72247, 1.0)]
    [InlineData(15, 20, 0.53131, 0.88814)]
    public void Wilson_intervals_match_hand_computed_values(int successes, int trials, double low, double high)
    {
        var (l, h) = Proportions.Wilson(successes, trials);
        Assert.Equal(low, l, 4);
        Assert.Equal(high, h, 4);
    }

    [Fact]
    public void The_two_proportion_test_matches_a_hand_computed_value()
    {
        // 30/100 vs 15/100: pooled 0.225, se sqrt(0.225·0.775·0.02) = 0.059055, z = 0.15 / 0.059055 = 2.5400, 1 − Φ(2.54) = 0.00554.
        var (z, p) = Proportions.TwoProportionZ(30, 100, 15, 100);
        Assert.Equal(2.5400, z, 3);
        Assert.Equal(0.00554, p, 4);
        Assert.Equal((0.0, 0.5), Proportions.TwoProportionZ(0, 10, 0, 20));
        Assert.True(Proportions.TwoProportionZ(15, 100, 30, 100).OneSidedP > 0.99);
    }

    [Fact]
    public void Scoring_reads_answers_and_groups_by_task_and_k()
    {
        var questions = CotEvaluation.Questions(
            [.. new[] { ConcatNextFirst, ConcatNextLast, ConcatNextFirst, NextQ }.Select(i => new System.Text.Json.Nodes.JsonObject { ["instruction"] = i, ["output"] = "" })], "mem");
        Assert.Equal(["i", "z", "i", "r"], questions.Select(q => q.Answer));
        Assert.Equal(["first", "last", "first", null], questions.Select(q => q.K));
        var outputs = new[]
        {
            "<prefix> ... So the answer is mjah.</prefix> <suffix> The last letter is h, and the letter following it in alphabet is i. So the answer is i.</suffix>", // right
            "<prefix> So the answer is yhay.</prefix> <suffix> So the answer is a.</suffix>",                                                                     // wrong
            "<prefix> So the answer is i.</prefix> <suffix></suffix>",                                                                                              // right: the last "the answer is"
            "r",                                                                                                                                                     // right: answer-only text
        };
        var report = CotEvaluation.Score(questions, [.. outputs.Select((o, i) => new CotCompletion(questions[i].Instruction, o, o, null, "stop_string"))]);
        Assert.Equal((3, 4), (report.Overall.Correct, report.Overall.Total));
        var concatNext = report.PerTask.Single(r => r.Task == "concat-next");
        Assert.Equal((2, 3), (concatNext.Correct, concatNext.Total));
        Assert.Equal(["next", "concat-next"], report.PerTask.Select(r => r.Task));   // registry order
        Assert.Equal([("concat-next", "first", 2, 2), ("concat-next", "last", 0, 1)], report.PerK.Select(r => (r.Task, r.K!, r.Correct, r.Total)));
        var (low, high) = Proportions.Wilson(2, 3);
        Assert.Equal((low, high), (concatNext.Low, concatNext.High));
        Assert.Equal("a", report.Answers[1].Predicted);
        Assert.False(report.Answers[1].Correct);
    }

    [Fact]
    public void Questions_drop_the_proxy_prefix_and_need_an_answer()
    {
        var rng = new Random(1);
        var example = CotData.ToJson(CotFormats.Write(new NextLetter().Generate(rng), CotFormat.Composable, suffix: true, rng));
        var q = Assert.Single(CotEvaluation.Questions([example], "mem"));
        Assert.EndsWith(" answer: ", q.Instruction, StringComparison.Ordinal);
        Assert.DoesNotContain("<prefix>", q.Instruction, StringComparison.Ordinal);
        var unknown = new System.Text.Json.Nodes.JsonObject { ["instruction"] = "Sort: b a answer: ", ["output"] = "" };
        Assert.Contains("example 1", Assert.Throws<Core.Errors.AttuneInputException>(() => CotEvaluation.Questions([unknown], "f.json")).Message, StringComparison.Ordinal);
        unknown["answer_label"] = "a b";
        Assert.Equal("a b", CotEvaluation.Questions([unknown], "f.json")[0].Answer);
    }

    [Fact]
    public void Recipes_assemble_their_data()
    {
        var rng = new Random(7);
        var concat = Enumerable.Range(0, 6).Select(i => CotData.ToJson(CotFormats.Write(new LetterConcatenation().Generate(rng), CotFormat.Composable, i % 2 == 1, rng))).ToList();
        var next = Enumerable.Range(0, 4).Select(i => CotData.ToJson(CotFormats.Write(new NextLetter().Generate(rng), CotFormat.Composable, i % 2 == 1, rng))).ToList();
        next[0].Remove("task");   // the task is then read from the template
        var mixed = concat.Take(3).Concat(next).Concat(concat.Skip(3)).ToList();

        var atomic = CotTraining.Plan(CotRecipe.Atomic, [("a.json", mixed)], "out", seed: 1);
        Assert.Equal(["concat", "next"], atomic.Select(p => p.Name));
        Assert.Equal([Path.Combine("out", "concat"), Path.Combine("out", "next")], atomic.Select(p => p.Output));
        Assert.Equal(concat.Select(e => (string)e["output"]!), atomic[0].Pairs.Select(p => p.Response));
        Assert.Equal(next.Select(e => (string)e["instruction"]!), atomic[1].Pairs.Select(p => p.Prompt));   // suffix form keeps its proxy prefix

        var mtl = Assert.Single(CotTraining.Plan(CotRecipe.Mtl, [("c.json", concat), ("n.json", next)], "out", seed: 1));
        Assert.Equal("out", mtl.Output);
        var expected = concat.Concat(next).Select(e => new CotPair((string)e["instruction"]!, (string)e["output"]!)).OrderBy(p => p.Prompt, StringComparer.Ordinal);
        Assert.Equal(expected, mtl.Pairs.OrderBy(p => p.Prompt, StringComparer.Ordinal));
        Assert.NotEqual(concat.Concat(next).Select(e => (string)e["instruction"]!), mtl.Pairs.Select(p => p.Prompt));   // shuffled together
        Assert.Equal(mtl.Pairs, CotTraining.Plan(CotRecipe.Mtl, [("c.json", concat), ("n.json", next)], "out", seed: 1)[0].Pairs);   // by the seed

        var answers = Assert.Single(CotTraining.Plan(CotRecipe.AnswerOnly, [("n.json", next)], "out", seed: 1));
        Assert.All(answers.Pairs, p => Assert.Equal(ReasoningTasks.Solve(p.Prompt), p.Response));
        Assert.All(answers.Pairs, p => Assert.DoesNotContain("<prefix>", p.Prompt, StringComparison.Ordinal));
        Assert.Equal(answers.Pairs, CotTraining.Plan(CotRecipe.Continued, [("n.json", next)], "out", seed: 1)[0].Pairs);
        Assert.Throws<Core.Errors.AttuneInputException>(() => CotTraining.ParseRecipe("sft"));
    }

    [Fact]
    public void Rft_keeps_only_correct_samples_once_each()
    {
        var questions = CotEvaluation.Questions([.. new[] { ConcatNextFirst, NextQ }.Select(i => new System.Text.Json.Nodes.JsonObject { ["instruction"] = i, ["output"] = "" })], "mem");
        string[] outputs =
        [
            "<prefix> So the answer is mjah.</prefix> <suffix> So the answer is i.</suffix>",   // q0 right
            "<prefix> So the answer is mjah.</prefix> <suffix> So the answer is j.</suffix>",   // q0 wrong
            "<prefix> So the answer is mjah.</prefix> <suffix> So the answer is i.</suffix>",   // q0 right, a repeat
            "So the answer is r.",                                                             // q1 right
            "So the answer is q.",                                                             // q1 wrong
            "So the answer is R.",                                                             // q1 wrong: exact match
        ];
        var judged = CotRft.Judge(questions, 3, [.. outputs.Select(o => new CotCompletion("", o, o, null, "stop_string"))]);
        Assert.Equal([true, false, true, true, false, false], judged.Select(s => s.Correct));
        Assert.Equal([0, 0, 0, 1, 1, 1], judged.Select(s => s.Question));
        var kept = CotRft.Keep(judged);
        Assert.Equal([new CotPair(ConcatNextFirst, outputs[0]), new CotPair(NextQ, outputs[3])], kept);
        Assert.Throws<ArgumentException>(() => CotRft.Judge(questions, 2, [.. outputs.Select(o => new CotCompletion("", o, o, null, ""))]));
    }

    [Fact]
    public void Grid_points_cover_every_combination_in_order()
    {
        var points = CotMerging.GridPoints([0.5, 1.0], 2);
        Assert.Equal(new[] { new[] { 0.5, 0.5 }, new[] { 0.5, 1.0 }, new[] { 1.0, 0.5 }, new[] { 1.0, 1.0 } }, points);
        Assert.Equal(27, CotMerging.GridPoints([0.1, 0.2, 0.3], 3).Count);
    }

    [Fact]
    public void Two_stage_prompts_continue_the_first_stage()
    {
        const string instruction = "Find the next letter in alphabet following the last letter in the sequence: abq answer: ";
        var first = CotDecoder.FirstPrompt(instruction, CotFormat.Composable);
        Assert.Equal(instruction + "<prefix>", first);
        Assert.Equal(instruction, CotDecoder.FirstPrompt(instruction, CotFormat.Standard));
        var second = CotDecoder.SecondPrompt(first, " The last letter is q. So the answer is q.</prefix>");
        Assert.Equal(instruction + "<prefix> The last letter is q. So the answer is q.</prefix> <suffix>", second);
        Assert.Equal("<prefix> a</prefix> <suffix> b</suffix>", CotDecoder.ComposableOutput(" a</prefix>", " b</suffix>"));
        Assert.Equal(" a</prefix>", CotDecoder.CutAfterStop(" a</prefix> junk", ["</prefix>"]));
        Assert.Equal(" a b", CotDecoder.CutAfterStop(" a b", ["</prefix>"]));
    }
}

using Attune.Core.Errors;

namespace Attune.Personalization.Tests;

/// <summary>The readers of personal preference data on hand-made files, with their bad-input errors.</summary>
public sealed class DataTests : IDisposable
{
    private readonly string _dir = Path.Combine(Path.GetTempPath(), "attune-pers-" + Guid.NewGuid().ToString("N")[..10]);

    public DataTests() => Directory.CreateDirectory(_dir);

    public void Dispose() => Directory.Delete(_dir, recursive: true);

    private string File(string name, string text)
    {
        var path = Path.Combine(_dir, name);
        System.IO.File.WriteAllText(path, text);
        return path;
    }

    private static string Comparison(string post, string a, string b, int choice, string worker) =>
        $$"""{"info": {"id": "t", "post": "{{post}}"}, "summaries": [{"text": "{{a}}"}, {"text": "{{b}}"}], "choice": {{choice}}, "worker": "{{worker}}", "batch": "b1"}""";

    [Fact]
    public void Comparisons_give_the_chosen_summary_and_the_most_active_workers_as_known_users()
    {
        var path = File("cmp.jsonl", string.Join("\n",
            Comparison("p1", "short", "long one", 0, "w1"), Comparison("p2", "x", "y", 1, "w2"), Comparison("p3", "u", "v", 1, "w1"),
            Comparison("p4", "m", "n", 0, "w3"), Comparison("p5", "k", "l", 0, "w2"), Comparison("p6", "g", "h", 1, "w1")) + "\n");
        var all = PersonalPreferenceData.ReadComparisons(path);
        Assert.Equal(["w1", "w2", "w3"], all.KnownUsers);
        var first = all.Examples[0];
        Assert.Equal(("p1", "short", "long one", "w1"), (first.Pair.Prompt, first.Pair.Chosen, first.Pair.Rejected, first.User));
        Assert.Equal(("y", "x"), (all.Examples[1].Pair.Chosen, all.Examples[1].Pair.Rejected));
        Assert.Equal("b1", all.Examples[0].Pair.Extra["batch"].GetString());

        var top = PersonalPreferenceData.ReadComparisons(path, topWorkers: 2);
        Assert.Equal(["w1", "w2"], top.KnownUsers);
        Assert.Null(top.Examples[3].User); // w3 is outside the top two: unknown, its pair kept
        Assert.Equal(6, top.Examples.Count);
    }

    [Theory]
    [InlineData("""{"summaries": [{"text": "a"}, {"text": "b"}], "choice": 0, "worker": "w"}""", "info")]
    [InlineData("""{"info": {"post": "p"}, "summaries": [{"text": "a"}], "choice": 0, "worker": "w"}""", "summaries")]
    [InlineData("""{"info": {"post": "p"}, "summaries": [{"text": "a"}, {"text": 3}], "choice": 0, "worker": "w"}""", "summaries[1].text")]
    [InlineData("""{"info": {"post": "p"}, "summaries": [{"text": "a"}, {"text": "b"}], "choice": 2, "worker": "w"}""", "choice")]
    [InlineData("""{"info": {"post": "p"}, "summaries": [{"text": "a"}, {"text": "b"}], "choice": 1}""", "worker")]
    [InlineData("""{"info": {"title": "p"}, "summaries": [{"text": "a"}, {"text": "b"}], "choice": 1, "worker": "w"}""", "info.post")]
    [InlineData("""[1, 2]""", "JSON object")]
    public void A_bad_comparison_line_names_line_2_and_the_field(string bad, string field)
    {
        var path = File("bad.jsonl", Comparison("p", "a", "b", 0, "w") + "\n" + bad + "\n");
        var ex = Assert.Throws<AttuneInputException>(() => PersonalPreferenceData.ReadComparisons(path));
        Assert.Contains(":2", ex.Message, StringComparison.Ordinal);
        Assert.Contains(field, ex.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void Pairs_need_a_user_on_every_line()
    {
        var ok = File("ok.jsonl", """
            {"user": "ann", "prompt": "p", "chosen": "a", "rejected": "b", "note": 1}
            {"user": "bob", "prompt": "q", "chosen": "c", "rejected": "d"}
            {"user": "ann", "prompt": "r", "chosen": "e", "rejected": "f"}
            """);
        var data = PersonalPreferenceData.ReadPairs(ok);
        Assert.Equal(["ann", "bob"], data.KnownUsers);
        Assert.Equal(1, data.Examples[0].Pair.Extra["note"].GetInt32());

        var missing = File("missing.jsonl", """
            {"user": "ann", "prompt": "p", "chosen": "a", "rejected": "b"}
            {"prompt": "q", "chosen": "c", "rejected": "d"}
            """);
        var ex = Assert.Throws<AttuneInputException>(() => PersonalPreferenceData.ReadPairs(missing));
        Assert.Contains(":2", ex.Message, StringComparison.Ordinal);
        Assert.Contains("user", ex.Message, StringComparison.Ordinal);

        var empty = File("empty.jsonl", "");
        Assert.Throws<AttuneInputException>(() => PersonalPreferenceData.ReadPairs(empty));
        Assert.Throws<AttuneInputException>(() => PersonalPreferenceData.ReadComparisons(empty));
    }

    [Fact]
    public void Splits_keep_every_user_in_train_and_eval()
    {
        var lines = Enumerable.Range(0, 40).Select(i => $$"""{"user": "u{{i % 4}}", "prompt": "p{{i}}", "chosen": "a", "rejected": "b"}""");
        var data = PersonalPreferenceData.ReadPairs(File("many.jsonl", string.Join("\n", lines)));
        var (train, eval) = PersonalPreferenceData.Split(data.Examples, 0.2, 1);
        Assert.Equal(40, train.Count + eval.Count);
        Assert.Equal(8, eval.Count);
        foreach (var u in data.KnownUsers)
        {
            Assert.Contains(train, e => e.User == u);
            Assert.Contains(eval, e => e.User == u);
        }

        Assert.Empty(train.Select(e => e.Pair.Prompt).Intersect(eval.Select(e => e.Pair.Prompt)));
        Assert.Throws<AttuneInputException>(() => PersonalPreferenceData.Split(data.Examples, 1.0, 1));
    }
}

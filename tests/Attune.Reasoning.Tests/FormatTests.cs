using System.Text.Json.Nodes;
using Attune.Core.Errors;
using Attune.Reasoning.Tasks;

namespace Attune.Reasoning.Tests;

/// <summary>The CoT formats, the alpaca and JSON-lines files, and the oracle over a file.</summary>
public sealed class FormatTests : IDisposable
{
    private readonly string _dir = Path.Combine(Path.GetTempPath(), "attune-cot-" + Guid.NewGuid().ToString("N")[..10]);

    public FormatTests() => Directory.CreateDirectory(_dir);

    public void Dispose() => Directory.Delete(_dir, recursive: true);

    [Fact]
    public void The_composable_forms_wrap_the_thought_and_the_suffix_form_carries_a_proxy_prefix()
    {
        var rng = new Random(3);
        var e = new NextLetter().Generate(rng);
        var prefix = CotFormats.Write(e, CotFormat.Composable, suffix: false, rng);
        Assert.Equal(e.Instruction, prefix.Instruction);
        Assert.Equal($"<prefix> {e.Cot}</prefix>", prefix.Output);
        var suffix = CotFormats.Write(e, CotFormat.Composable, suffix: true, rng);
        Assert.StartsWith(e.Instruction + "<prefix> ", suffix.Instruction, StringComparison.Ordinal);
        Assert.EndsWith(" </prefix> ", suffix.Instruction, StringComparison.Ordinal);
        var proxy = suffix.Instruction[(e.Instruction.Length + "<prefix> ".Length)..^" </prefix> ".Length];
        Assert.InRange(proxy.Length, 53, 200);
        Assert.Matches("^[a-z][a-z ]*[a-z]$", proxy);
        Assert.Equal($"<suffix> {e.Cot}</suffix>", suffix.Output);
        Assert.Equal(e.Answer, ReasoningTasks.Solve(suffix.Instruction));
        Assert.Equal(e.Answer, CotFormats.Write(e, CotFormat.AnswerOnly, false, rng).Output);
        Assert.Equal(e.Cot, CotFormats.Write(e, CotFormat.Standard, false, rng).Output);
    }

    [Fact]
    public void Alpaca_files_round_trip_in_content_with_extra_fields()
    {
        var path = Path.Combine(_dir, "data.json");
        File.WriteAllText(path, """
            [
              {"instruction": "Find the next letter in alphabet following the last letter in the sequence: abcq answer: ", "input": "", "output": "<prefix> The last letter is q, and the letter following it in alphabet is r. So the answer is r.</prefix>", "system": "é ü — 字", "history": [["a", "b"]], "id": 7},
              {"instruction": "x", "input": "y", "output": "z"}
            ]
            """);
        var first = CotData.Read(path);
        Assert.Equal(2, first.Count);
        var copy = Path.Combine(_dir, "copy.json");
        CotData.Write(copy, first);
        var second = CotData.Read(copy);
        Assert.True(JsonNode.DeepEquals(new JsonArray([.. first.Select(n => n.DeepClone())]), new JsonArray([.. second.Select(n => n.DeepClone())])));
        Assert.Equal(["instruction", "input", "output", "system", "history", "id"], second[0].Select(p => p.Key));
        var again = Path.Combine(_dir, "again.json");
        CotData.Write(again, second);
        Assert.Equal(File.ReadAllBytes(copy), File.ReadAllBytes(again));

        // JSON lines carry the same objects.
        var lines = Path.Combine(_dir, "data.jsonl");
        CotData.Write(lines, first);
        Assert.True(JsonNode.DeepEquals(first[0], CotData.Read(lines)[0]));
    }

    [Theory]
    [InlineData("[]", "no examples")]
    [InlineData("[{\"instruction\": \"x\"}]", "output")]
    [InlineData("[{\"instruction\": 3, \"output\": \"x\"}]", "instruction")]
    [InlineData("[1]", "example 1")]
    [InlineData("{\"instruction\": \"x\", \"output\": \"y\"}\nnot json\n", ":2")]
    public void Bad_files_are_refused_naming_the_place(string text, string named)
    {
        var path = Path.Combine(_dir, text.StartsWith('[') ? "bad.json" : "bad.jsonl");
        File.WriteAllText(path, text);
        var ex = Assert.Throws<AttuneInputException>(() => CotData.Read(path));
        Assert.Contains(named, ex.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void The_oracle_agrees_with_generated_labels_and_finds_a_wrong_one()
    {
        var rng = new Random(5);
        var examples = new List<JsonObject>();
        foreach (var task in ReasoningTasks.All)
        {
            for (var i = 0; i < 20; i++)
            {
                var format = (CotFormat)(i % 3);
                var json = CotData.ToJson(CotFormats.Write(task.Generate(rng), format, suffix: i % 2 == 0, rng));
                if (i % 4 == 0)
                {
                    json.Remove("answer_label"); // the label is then read from the output
                }

                examples.Add(json);
            }
        }

        var report = CotOracle.Check(examples, "mem");
        Assert.Equal(120, report.Examples);
        Assert.Equal(120, report.Agree);

        examples[5]["answer_label"] = "wrong";
        report = CotOracle.Check(examples, "mem");
        var d = Assert.Single(report.Disagreements);
        Assert.Equal((6, "concat", "wrong"), (d.Example, d.Task, d.Label));

        examples[7]["instruction"] = "Sort these words: b a answer: ";
        var ex = Assert.Throws<AttuneInputException>(() => CotOracle.Check(examples, "mem"));
        Assert.Contains("example 8", ex.Message, StringComparison.Ordinal);
    }
}

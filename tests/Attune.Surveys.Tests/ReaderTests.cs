using Attune.Core.Errors;
using Attune.Surveys.Data;
using Attune.Surveys.Testing;

namespace Attune.Surveys.Tests;

public class ReaderTests
{
    [Fact]
    public void JsonLines_reads_counts_answers_weights_and_probabilities()
    {
        using var dir = new TempDir();
        var path = dir.File("a.jsonl", """
            {"question":"Q1","group":"RACE=Black","options":["A","B","C","D"],"counts":[12,30,5,3]}

            {"question":"Q2","group":"RACE=Black","options":["A","B","Refused"],"answers":["B","A","B",0]}
            {"question":"Q3","group":"RACE=Black","options":["A","B"],"answers":["A","B","B","B"],"weights":[3,1,1,1]}
            {"question":"Q4","group":"RACE=Black","options":["A","B","C"],"probabilities":[0.5,0.3,0.2],"n":10}
            """);
        var records = SurveyReader.Read(path);
        Assert.Equal(4, records.Count);
        Assert.Equal([12, 30, 5, 3], records[0].Counts);
        Assert.Equal(1, records[0].Source.Line);
        Assert.Equal([2, 2, 0], records[1].Counts);
        Assert.Equal(["Refused"], records[1].Refusals); // recognised by name
        Assert.Equal(3, records[1].Source.Line);
        Assert.Equal([2, 2], records[2].Counts); // weights 3 : 3 over 4 answers
        Assert.Equal([5, 3, 2], records[3].Counts);
    }

    [Theory]
    [InlineData("""{"question":"Q1","group":"G","options":["A","B","C"],"counts":[1,2]}""", "counts", "2 values for 3 options")]
    [InlineData("""{"question":"Q1","group":"G","options":["A","B"],"counts":[1,-2]}""", "counts", "negative")]
    [InlineData("""{"question":"Q1","group":"G","options":["A","B"],"answers":["A","Z"]}""", "answers", "not one of the 2 options")]
    [InlineData("""{"question":"Q1","group":"G","options":["A","B"],"probabilities":[0.5,0.5]}""", "n", "sample size")]
    [InlineData("""{"question":"Q1","options":["A","B"],"counts":[1,1]}""", "group", "missing")]
    [InlineData("""{"question":"Q1","group":"G","options":["A"],"counts":[1]}""", "options", "at least 2")]
    [InlineData("""{"question":"Q1","group":"G","options":["A","B"],"counts":[1,1],"refusals":["X"]}""", "refusals", "not one of the options")]
    [InlineData("""{"question":"Q1","group":"G","options":["A","B"]}""", "counts", "none of")]
    public void JsonLines_errors_name_file_line_and_field(string bad, string field, string detail)
    {
        using var dir = new TempDir();
        var path = dir.File("bad.jsonl", """{"question":"Q0","group":"G","options":["A","B"],"counts":[1,1]}""" + "\n\n" + bad + "\n");
        var ex = Assert.Throws<AttuneInputException>(() => SurveyReader.Read(path));
        Assert.Equal(3, ex.Line);
        Assert.Equal(field, ex.Field);
        Assert.Contains(detail, ex.Message, StringComparison.Ordinal);
        Assert.StartsWith($"{path}:3: field '{field}'", ex.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void Broken_json_names_the_line()
    {
        using var dir = new TempDir();
        var path = dir.File("bad.jsonl", "{\"question\":\"Q0\",\"group\":\"G\",\"options\":[\"A\",\"B\"],\"counts\":[1,1]}\n{\"question\":");
        var ex = Assert.Throws<AttuneInputException>(() => SurveyReader.Read(path));
        Assert.Equal(2, ex.Line);
    }

    [Fact]
    public void LongCsv_reads_rows_in_option_order_and_names_bad_lines()
    {
        using var dir = new TempDir();
        var path = dir.File("h.csv", "question,group,option,count\nQ1,RACE=Black,Agree,10\nQ1,RACE=Black,Disagree,5\nQ1,RACE=White,Agree,7\nQ1,RACE=White,Disagree,8\n\"Q,2\",RACE=White,Yes,1\n\"Q,2\",RACE=White,Refused,2\n\"Q,2\",RACE=White,No,3\n");
        var records = SurveyReader.Read(path);
        Assert.Equal(3, records.Count);
        Assert.Equal([10, 5], records[0].Counts);
        Assert.Equal([7, 8], records[1].Counts);
        Assert.Equal("Q,2", records[2].Question);
        Assert.Equal(["Yes", "Refused", "No"], records[2].Options);
        Assert.Equal(["Refused"], records[2].Refusals);
        Assert.Equal(6, records[2].Source.Line);

        var bad = dir.File("bad.csv", "question,group,option,count\nQ1,G,A,1\nQ1,G,B,-4\n");
        var ex = Assert.Throws<AttuneInputException>(() => SurveyReader.Read(bad));
        Assert.Equal((3L, "count"), (ex.Line!.Value, ex.Field!));
        var notNumber = dir.File("bad2.csv", "question,group,option,count\nQ1,G,A,x\n");
        Assert.Equal(2, Assert.Throws<AttuneInputException>(() => SurveyReader.Read(notNumber)).Line);
        // Counts that overflow the tests' sample sizes are refused at the line (issue 23: they were exit 1).
        foreach (var huge in new[] { "1e30", "3000000000" })
        {
            var big = dir.File($"big-{huge}.csv", $"question,group,option,count\nQ1,G,A,1\nQ1,G,B,{huge}\n");
            var tooBig = Assert.Throws<AttuneInputException>(() => SurveyReader.Read(big));
            Assert.Equal((3L, "count"), (tooBig.Line!.Value, tooBig.Field!));
            Assert.Contains("larger than", tooBig.Message, StringComparison.Ordinal);
        }
        var missing = dir.File("bad3.csv", "question,group,choice,count\n");
        Assert.Equal("option", Assert.Throws<AttuneInputException>(() => SurveyReader.Read(missing)).Field);
    }

    [Fact]
    public void OpinionQa_folder_reads_info_and_attribute_files()
    {
        using var dir = new TempDir();
        dir.File("info.csv", "key,question,references,option_ordinal\nQ_A,\"How likely, really?\",\"['Very likely', \"\"Don't say\"\", 'Not likely', 'Refused']\",\"[1, 2, 3, 99]\"\nQ_B,Yes or no?,\"['Yes', 'No']\",\"[1, 2]\"\n");
        dir.File("RACE_data.json", """{"Q_A":{"Black":[10,2,5,1],"White":{"Very likely":3,"Not likely":9}},"Q_B":{"Black":[4,6]}}""");
        dir.File("AGE_data.json", """{"Q_B":{"18-29":[1,2]}}""");
        var records = SurveyReader.Read(dir.Path);
        Assert.Equal(4, records.Count);
        var white = records.Single(r => r.Group == "RACE=White");
        Assert.Equal(["Very likely", "Don't say", "Not likely", "Refused"], white.Options);
        Assert.Equal([3, 0, 9, 0], white.Counts);
        Assert.Equal(["Refused"], white.Refusals);
        Assert.Contains(records, r => r is { Group: "AGE=18-29", Question: "Q_B" });
        var questions = SurveyQuestion.Read(dir.Path);
        Assert.Equal("How likely, really?", questions[0].Text);

        dir.File("SEX_data.json", """{"Q_A":{"Female":[1,2]}}""");
        var ex = Assert.Throws<AttuneInputException>(() => SurveyReader.Read(dir.Path));
        Assert.Equal("Q_A.Female", ex.Field);
        Assert.Contains("2 counts for 4 options", ex.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void Pairing_names_the_llm_line_for_unknown_groups_questions_and_option_mismatch()
    {
        using var dir = new TempDir();
        var human = SurveyReader.Read(dir.File("h.jsonl", """
            {"question":"Q1","group":"RACE=Black","options":["A","B","C"],"counts":[1,2,3]}
            {"question":"Q1","group":"RACE=White","options":["A","B","C"],"counts":[3,2,1]}
            """));
        var unknownGroup = SurveyReader.Read(dir.File("l1.jsonl", """
            {"question":"Q1","group":"RACE=Black","options":["A","B","C"],"counts":[1,2,3]}
            {"question":"Q1","group":"RACE=Asian","options":["A","B","C"],"counts":[1,2,3]}
            """));
        var ex = Assert.Throws<AttuneInputException>(() => SurveyPairing.Pair(human, unknownGroup, false, out _));
        Assert.Equal((2L, "group"), (ex.Line!.Value, ex.Field!));
        Assert.Contains("unknown group 'RACE=Asian'", ex.Message, StringComparison.Ordinal);

        var mismatch = SurveyReader.Read(dir.File("l2.jsonl", """{"question":"Q1","group":"RACE=White","options":["A","B","C","D"],"counts":[1,2,3,4]}"""));
        ex = Assert.Throws<AttuneInputException>(() => SurveyPairing.Pair(human, mismatch, false, out _));
        Assert.Equal((1L, "options"), (ex.Line!.Value, ex.Field!));
        Assert.Contains("4 options", ex.Message, StringComparison.Ordinal);

        var unknownQuestion = SurveyReader.Read(dir.File("l3.jsonl", """{"question":"Q9","group":"RACE=White","options":["A","B","C"],"counts":[1,2,3]}"""));
        Assert.Equal("question", Assert.Throws<AttuneInputException>(() => SurveyPairing.Pair(human, unknownQuestion, false, out _)).Field);
    }

    [Fact]
    public void Pairing_sums_personas_and_drops_refusals_unless_kept()
    {
        using var dir = new TempDir();
        var human = SurveyReader.Read(dir.File("h.jsonl", """
            {"question":"Q1","group":"G","options":["A","B","Refused"],"counts":[5,5,4]}
            {"question":"Q2","group":"G","options":["A","B"],"counts":[1,1]}
            """));
        var llm = SurveyReader.Read(dir.File("l.jsonl", """
            {"question":"Q1","group":"G","persona":"qa","options":["A","B","Refused"],"answers":["A","A","Refused"]}
            {"question":"Q1","group":"G","persona":"bio","options":["A","B","Refused"],"counts":[0,3,1]}
            """));
        var tables = SurveyPairing.Pair(human, llm, keepRefusals: false, out int unmatched);
        Assert.Equal(1, unmatched);
        var t = Assert.Single(tables);
        Assert.Equal(["A", "B"], t.Options);
        Assert.Equal([5, 5], t.Human);
        Assert.Equal([2, 3], t.Llm);
        var kept = Assert.Single(SurveyPairing.Pair(human, llm, keepRefusals: true, out _));
        Assert.Equal([2, 3, 2], kept.Llm);
    }

    [Fact]
    public void Largest_remainder_rounding_keeps_the_total()
    {
        Assert.Equal([1, 1, 1], CountRounding.LargestRemainder([1, 1, 1], 3));
        Assert.Equal([34, 33, 33], CountRounding.LargestRemainder([1, 1, 1], 100));
        Assert.Equal([7, 2, 1], CountRounding.LargestRemainder([0.66, 0.24, 0.10], 10));
        var rng = new Random(3);
        for (int i = 0; i < 200; i++)
        {
            var w = Enumerable.Range(0, rng.Next(2, 8)).Select(_ => rng.NextDouble()).ToArray();
            int n = rng.Next(0, 1000);
            var c = CountRounding.LargestRemainder(w, n);
            Assert.Equal(n, c.Sum());
            for (int k = 0; k < w.Length; k++) Assert.True(Math.Abs(c[k] - w[k] * n / w.Sum()) < 1 + 1e-9);
        }
    }
}

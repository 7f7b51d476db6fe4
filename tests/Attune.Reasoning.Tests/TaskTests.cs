using Attune.Reasoning.Tasks;

namespace Attune.Reasoning.Tests;

/// <summary>The six task templates against hand-worked examples, and the generators against the oracles.</summary>
public sealed class TaskTests
{
    public static TheoryData<string, string, string> HandWorked => new()
    {
        // k = last of Mary, Jean-Luc (the hyphen is not a letter), Ava, Hugo.
        { "concat", "Take the last letter of each word in the sequence and concatenate them in lower case: Mary Jean-Luc Ava Hugo answer: ", "ycao" },
        { "concat", "Take the second-to-the-last letter of each word in the sequence and concatenate them in lower case: Jean-Luc Jo-Ann Noah Ruth answer: ", "unat" },
        { "concat", "Take the second letter of each word in the sequence and concatenate them in lower case: Jo-Ann Emma Iris Oscar answer: ", "omrs" },
        // wrap-around: z → a.
        { "next", "Find the next letter in alphabet following the last letter in the sequence: qwertyuiopasdfghjklzxcvbnmqwertyuiopasdfghjklz answer: ", "a" },
        { "next", "Find the next letter in alphabet following the last letter in the sequence: abcdefghijklmnopqrstuvwxyzabcdefghijklmnopq answer: ", "r" },
        { "ascii", "Find the ASCII value of the letter after '<letter>' and multiply the ASCII value by 10: xyzzyabcdefghijklmnopqrstuvwxyzabcdefghijklmn <letter> h answer: ", "1040" },
        { "ascii", "Find the ASCII value of the letter after '<letter>' and multiply the ASCII value by 1: abcdefghijklmnopqrstuvwxyzabcdefghijklmnopqrs <letter> z answer: ", "122" },
        // first of Mary Jean-Luc Ava Hugo: m j a h; the last is h; the next letter is i.
        { "concat-next", "Take the first letter of each word in the sequence, concatenate them in lower case, and find the next letter in alphabet following the last letter in the sequence of the concatenated letters: Mary Jean-Luc Ava Hugo answer: ", "i" },
        // last of ... Liz: z → a.
        { "concat-next", "Take the last letter of each word in the sequence, concatenate them in lower case, and find the next letter in alphabet following the last letter in the sequence of the concatenated letters: Mary Noah Ava Lee-Roy answer: ", "z" },
        // z → a, a = 97, × 3.
        { "next-ascii", "Find the ASCII value of the next letter in alphabet following the last letter in the sequence and multiply the ASCII value by 3: abcdefghijklmnopqrstuvwxyzabcdefghijklmnopqrz answer: ", "291" },
        // second of Jo-Ann Mary Ava Hugo: o a v u; u = 117, × 4.
        { "concat-ascii", "Take the second letter of each word in the sequence, concatenate them in lower case, then find the ASCII value of the last letter in the sequence of the concatenated letters, and multiply the ASCII value by 4: Jo-Ann Mary Ava Hugo answer: ", "468" },
    };

    [Theory]
    [MemberData(nameof(HandWorked))]
    public void Hand_worked_examples_in_both_forms(string task, string instruction, string answer)
    {
        Assert.Equal(task, ReasoningTasks.Recognise(instruction)!.Name);
        Assert.Equal(answer, ReasoningTasks.Solve(instruction));
        // Suffix form: a proxy prefix after the instruction does not change the answer.
        Assert.Equal(answer, ReasoningTasks.Solve(instruction + "<prefix> qwe rty uiop asdf ghjkl zxcv bnm qwerty uiop asdf ghjk lzxc vbnm </prefix> "));
        Assert.Equal(answer, ReasoningTasks.ExtractAnswer(ReasoningTasks.Find(task).Cot(instruction)!));
    }

    [Fact]
    public void Chains_of_thought_read_as_the_paper_writes_them()
    {
        Assert.Equal("The first letter of the 1st word is l. The first letter of the 2nd word is l. The first letter of the 3rd word is n. The first letter of the 4th word is n. So the answer is llnn.",
            new LetterConcatenation().Cot("Take the first letter of each word in the sequence and concatenate them in lower case: Liam Leah Noah Nora answer: "));
        Assert.Equal("The last letter is q, and the letter following it in alphabet is r. So the answer is r.",
            new NextLetter().Cot("Find the next letter in alphabet following the last letter in the sequence: abcdefghijklmnopqrstuvwxyzabcdefghijklmnopq answer: "));
        Assert.Equal("The ASCII value of the letter h is 104, and multiplying the ASCII value by 10 gives us 1040. So the answer is 1040.",
            new AsciiMultiply().Cot("Find the ASCII value of the letter after '<letter>' and multiply the ASCII value by 10: abc <letter> h answer: "));
        // A composition chains the two atomic thoughts; the first one's answer is the second's input.
        Assert.Equal("The last letter is z, and the letter following it in alphabet is a. So the answer is a. The ASCII value of the letter a is 97, and multiplying the ASCII value by 3 gives us 291. So the answer is 291.",
            new NextThenAscii().Cot("Find the ASCII value of the next letter in alphabet following the last letter in the sequence and multiply the ASCII value by 3: abz answer: "));
    }

    [Theory]
    [InlineData("concat")]
    [InlineData("next")]
    [InlineData("ascii")]
    [InlineData("concat-next")]
    [InlineData("next-ascii")]
    [InlineData("concat-ascii")]
    public void Ten_thousand_generated_examples_round_trip_through_the_oracle(string name)
    {
        var task = ReasoningTasks.Find(name);
        var rng = new Random(name.Length * 7919);
        var positions = new HashSet<string>();
        for (var i = 0; i < 10_000; i++)
        {
            var e = task.Generate(rng);
            Assert.Equal(name, e.Task);
            Assert.Same(task, ReasoningTasks.Recognise(e.Instruction));
            Assert.Equal(e.Answer, task.Solve(e.Instruction));
            Assert.Equal(e.Answer, ReasoningTasks.ExtractAnswer(e.Cot));
            Assert.EndsWith(" answer: ", e.Instruction, StringComparison.Ordinal);
            positions.Add(e.Instruction[..Math.Min(40, e.Instruction.Length)]);
        }

        Assert.True(positions.Count >= (name.StartsWith("concat", StringComparison.Ordinal) ? 4 : 1));
    }

    [Fact]
    public void Instructions_of_no_template_are_not_solved()
    {
        Assert.Null(ReasoningTasks.Solve("What is 2 + 2? answer: "));
        Assert.Null(ReasoningTasks.Solve("Take the third letter of each word in the sequence and concatenate them in lower case: Mary Ava answer: "));
        Assert.Null(ReasoningTasks.Solve("Take the second letter of each word in the sequence and concatenate them in lower case: Mary A answer: ")); // 'A' has no second letter
        Assert.Null(ReasoningTasks.Solve("Find the ASCII value of the letter after '<letter>' and multiply the ASCII value by 11: abc <letter> h answer: "));
        Assert.Throws<Core.Errors.AttuneInputException>(() => ReasoningTasks.Find("sort"));
    }

    [Theory]
    [InlineData("So the answer is 1040.", "1040")]
    [InlineData("... gives us 1040. So the answer is 1040.<|endoftext|>", "1040")]
    [InlineData("multiplying it gives us 291", "291")]
    [InlineData("<suffix> The last letter is q, and the letter following it in alphabet is r. So the answer is r.</suffix></s>", "r")]
    [InlineData("llnn", "llnn")]
    [InlineData(" llnn </s>", "llnn")]
    public void Answers_are_read_as_the_papers_evaluation_reads_them(string output, string answer) =>
        Assert.Equal(answer, ReasoningTasks.ExtractAnswer(output));
}

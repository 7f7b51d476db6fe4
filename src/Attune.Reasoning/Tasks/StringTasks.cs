using System.Globalization;
using System.Text.RegularExpressions;

namespace Attune.Reasoning.Tasks;

/// <summary>Letter concatenation: the k-th letter of each of four names, concatenated in lower case.</summary>
public sealed partial class LetterConcatenation : ReasoningTask
{
    public override string Name => "concat";

    public override IReadOnlyList<string> Parts => [Name];

    public static string Instruction(string position, IEnumerable<string> words) =>
        $"Take the {position} letter of each word in the sequence and concatenate them in lower case: {string.Join(' ', words)} answer: ";

    public override TaskExample Generate(Random rng)
    {
        var position = Positions[rng.Next(Positions.Count)];
        var words = Enumerable.Range(0, 4).Select(_ => Names[rng.Next(Names.Count)]).ToList();
        var instruction = Instruction(position, words);
        return new TaskExample(Name, instruction, Cot(instruction)!, Solve(instruction)!);
    }

    public override string? Solve(string instruction) => Parse(instruction) is { } p ? string.Concat(p.Words.Select(w => LetterAt(w, p.Position))) : null;

    public override string? Cot(string instruction)
    {
        if (Parse(instruction) is not { } p)
        {
            return null;
        }

        var reasoning = ConcatCot(p.Words, p.Position, out var letters);
        return Answered(reasoning, letters);
    }

    internal static (string Position, string[] Words)? Parse(string instruction)
    {
        var m = Pattern().Match(instruction);
        return m.Success && Words(m.Groups[2].Value, m.Groups[1].Value) is { } words ? (m.Groups[1].Value, words) : null;
    }

    [GeneratedRegex(@"^Take the (first|second|second-to-the-last|last) letter of each word in the sequence and concatenate them in lower case: ([A-Za-z\- ]+?) answer:\s*$")]
    private static partial Regex Pattern();
}

/// <summary>The next letter in the alphabet after the last letter of a random letter sequence (z wraps to a).</summary>
public sealed partial class NextLetter : ReasoningTask
{
    public override string Name => "next";

    public override IReadOnlyList<string> Parts => [Name];

    public static string Instruction(string sequence) =>
        $"Find the next letter in alphabet following the last letter in the sequence: {sequence} answer: ";

    public override TaskExample Generate(Random rng)
    {
        var instruction = Instruction(RandomLetters(rng, 44 + rng.Next(41)));
        return new TaskExample(Name, instruction, Cot(instruction)!, Solve(instruction)!);
    }

    public override string? Solve(string instruction) => Parse(instruction) is { } s ? Next(s[^1]).ToString() : null;

    public override string? Cot(string instruction) => Parse(instruction) is { } s ? Answered(NextCot(s[^1]), Next(s[^1]).ToString()) : null;

    internal static string? Parse(string instruction)
    {
        var m = Pattern().Match(instruction);
        return m.Success ? m.Groups[1].Value : null;
    }

    [GeneratedRegex(@"^Find the next letter in alphabet following the last letter in the sequence: ([a-z]+) answer:\s*$")]
    private static partial Regex Pattern();
}

/// <summary>The ASCII value of the letter after the marker <c>&lt;letter&gt;</c>, multiplied by n (1–10).</summary>
public sealed partial class AsciiMultiply : ReasoningTask
{
    public override string Name => "ascii";

    public override IReadOnlyList<string> Parts => [Name];

    public static string Instruction(int n, string sequence, char letter) => string.Create(CultureInfo.InvariantCulture,
        $"Find the ASCII value of the letter after '<letter>' and multiply the ASCII value by {n}: {sequence} <letter> {letter} answer: ");

    public override TaskExample Generate(Random rng)
    {
        var instruction = Instruction(1 + rng.Next(10), RandomLetters(rng, 44 + rng.Next(41)), (char)('a' + rng.Next(26)));
        return new TaskExample(Name, instruction, Cot(instruction)!, Solve(instruction)!);
    }

    public override string? Solve(string instruction) =>
        Parse(instruction) is { } p ? ((int)p.Letter * p.N).ToString(CultureInfo.InvariantCulture) : null;

    public override string? Cot(string instruction) =>
        Parse(instruction) is { } p ? Answered(AsciiCot(p.Letter, p.N), ((int)p.Letter * p.N).ToString(CultureInfo.InvariantCulture)) : null;

    internal static (int N, char Letter)? Parse(string instruction)
    {
        var m = Pattern().Match(instruction);
        return m.Success ? (int.Parse(m.Groups[1].Value, CultureInfo.InvariantCulture), m.Groups[2].Value[0]) : null;
    }

    [GeneratedRegex(@"^Find the ASCII value of the letter after '<letter>' and multiply the ASCII value by (10|[1-9]): [a-z]* ?<letter> ([a-z]) answer:\s*$")]
    private static partial Regex Pattern();
}

/// <summary>Concatenation, then the next letter after the last concatenated letter.</summary>
public sealed partial class ConcatThenNext : ReasoningTask
{
    public override string Name => "concat-next";

    public override IReadOnlyList<string> Parts => ["concat", "next"];

    public static string Instruction(string position, IEnumerable<string> words) =>
        $"Take the {position} letter of each word in the sequence, concatenate them in lower case, and find the next letter in alphabet following the last letter in the sequence of the concatenated letters: {string.Join(' ', words)} answer: ";

    public override TaskExample Generate(Random rng)
    {
        var position = Positions[rng.Next(Positions.Count)];
        var instruction = Instruction(position, Enumerable.Range(0, 4).Select(_ => Names[rng.Next(Names.Count)]));
        return new TaskExample(Name, instruction, Cot(instruction)!, Solve(instruction)!);
    }

    public override string? Solve(string instruction) =>
        Parse(instruction) is { } p ? Next(LetterAt(p.Words[^1], p.Position)).ToString() : null;

    public override string? Cot(string instruction)
    {
        if (Parse(instruction) is not { } p)
        {
            return null;
        }

        var first = Answered(ConcatCot(p.Words, p.Position, out var letters), letters);
        return first + " " + Answered(NextCot(letters[^1]), Next(letters[^1]).ToString());
    }

    internal static (string Position, string[] Words)? Parse(string instruction)
    {
        var m = Pattern().Match(instruction);
        return m.Success && Words(m.Groups[2].Value, m.Groups[1].Value) is { } words ? (m.Groups[1].Value, words) : null;
    }

    [GeneratedRegex(@"^Take the (first|second|second-to-the-last|last) letter of each word in the sequence, concatenate them in lower case, and find the next letter in alphabet following the last letter in the sequence of the concatenated letters: ([A-Za-z\- ]+?) answer:\s*$")]
    private static partial Regex Pattern();
}

/// <summary>The next letter after the last letter, then its ASCII value times n.</summary>
public sealed partial class NextThenAscii : ReasoningTask
{
    public override string Name => "next-ascii";

    public override IReadOnlyList<string> Parts => ["next", "ascii"];

    public static string Instruction(int n, string sequence) => string.Create(CultureInfo.InvariantCulture,
        $"Find the ASCII value of the next letter in alphabet following the last letter in the sequence and multiply the ASCII value by {n}: {sequence} answer: ");

    public override TaskExample Generate(Random rng)
    {
        var instruction = Instruction(1 + rng.Next(10), RandomLetters(rng, 44 + rng.Next(41)));
        return new TaskExample(Name, instruction, Cot(instruction)!, Solve(instruction)!);
    }

    public override string? Solve(string instruction) =>
        Parse(instruction) is { } p ? ((int)Next(p.Sequence[^1]) * p.N).ToString(CultureInfo.InvariantCulture) : null;

    public override string? Cot(string instruction)
    {
        if (Parse(instruction) is not { } p)
        {
            return null;
        }

        var next = Next(p.Sequence[^1]);
        return Answered(NextCot(p.Sequence[^1]), next.ToString()) + " " + Answered(AsciiCot(next, p.N), ((int)next * p.N).ToString(CultureInfo.InvariantCulture));
    }

    internal static (int N, string Sequence)? Parse(string instruction)
    {
        var m = Pattern().Match(instruction);
        return m.Success ? (int.Parse(m.Groups[1].Value, CultureInfo.InvariantCulture), m.Groups[2].Value) : null;
    }

    [GeneratedRegex(@"^Find the ASCII value of the next letter in alphabet following the last letter in the sequence and multiply the ASCII value by (10|[1-9]): ([a-z]+) answer:\s*$")]
    private static partial Regex Pattern();
}

/// <summary>Concatenation, then the ASCII value of the last concatenated letter times n.</summary>
public sealed partial class ConcatThenAscii : ReasoningTask
{
    public override string Name => "concat-ascii";

    public override IReadOnlyList<string> Parts => ["concat", "ascii"];

    public static string Instruction(string position, int n, IEnumerable<string> words) => string.Create(CultureInfo.InvariantCulture,
        $"Take the {position} letter of each word in the sequence, concatenate them in lower case, then find the ASCII value of the last letter in the sequence of the concatenated letters, and multiply the ASCII value by {n}: {string.Join(' ', words)} answer: ");

    public override TaskExample Generate(Random rng)
    {
        var position = Positions[rng.Next(Positions.Count)];
        var instruction = Instruction(position, 1 + rng.Next(10), Enumerable.Range(0, 4).Select(_ => Names[rng.Next(Names.Count)]));
        return new TaskExample(Name, instruction, Cot(instruction)!, Solve(instruction)!);
    }

    public override string? Solve(string instruction) =>
        Parse(instruction) is { } p ? ((int)LetterAt(p.Words[^1], p.Position) * p.N).ToString(CultureInfo.InvariantCulture) : null;

    public override string? Cot(string instruction)
    {
        if (Parse(instruction) is not { } p)
        {
            return null;
        }

        var first = Answered(ConcatCot(p.Words, p.Position, out var letters), letters);
        var last = letters[^1];
        return first + " " + Answered(AsciiCot(last, p.N), ((int)last * p.N).ToString(CultureInfo.InvariantCulture));
    }

    internal static (string Position, int N, string[] Words)? Parse(string instruction)
    {
        var m = Pattern().Match(instruction);
        return m.Success && Words(m.Groups[3].Value, m.Groups[1].Value) is { } words ? (m.Groups[1].Value, int.Parse(m.Groups[2].Value, CultureInfo.InvariantCulture), words) : null;
    }

    [GeneratedRegex(@"^Take the (first|second|second-to-the-last|last) letter of each word in the sequence, concatenate them in lower case, then find the ASCII value of the last letter in the sequence of the concatenated letters, and multiply the ASCII value by (10|[1-9]): ([A-Za-z\- ]+?) answer:\s*$")]
    private static partial Regex Pattern();
}

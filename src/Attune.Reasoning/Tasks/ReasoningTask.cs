using System.Globalization;
using System.Text;

namespace Attune.Reasoning.Tasks;

/// <summary>One generated example: the instruction, its chain of thought and its answer.</summary>
public sealed record TaskExample(string Task, string Instruction, string Cot, string Answer);

/// <summary>
/// A reasoning task: an instruction template, a generator, an exact oracle (parse an instruction,
/// compute its answer) and a chain-of-thought writer. The task set is open: a new task is one class
/// registered in <see cref="ReasoningTasks"/>, and every verb sees it.
/// </summary>
public abstract class ReasoningTask
{
    /// <summary>The task's name on the command line (e.g. <c>concat</c>, <c>concat-next</c>).</summary>
    public abstract string Name { get; }

    /// <summary>The atomic tasks this one composes, in order (itself for an atomic task).</summary>
    public abstract IReadOnlyList<string> Parts { get; }

    public bool IsAtomic => Parts.Count == 1;

    /// <summary>Draws one example.</summary>
    public abstract TaskExample Generate(Random rng);

    /// <summary>The answer to <paramref name="instruction"/> if it is this task's, else null.</summary>
    public abstract string? Solve(string instruction);

    /// <summary>The chain of thought of <paramref name="instruction"/> (ending "So the answer is …."), if it is this task's.</summary>
    public abstract string? Cot(string instruction);

    // ---- shared pieces of the string tasks

    /// <summary>The positions a letter is taken from, as the instructions name them.</summary>
    public static readonly IReadOnlyList<string> Positions = ["first", "second", "second-to-the-last", "last"];

    /// <summary>Given names (some hyphenated, the hyphen kept in the text; letters are counted without it).</summary>
    public static readonly IReadOnlyList<string> Names =
    [
        "Mary", "James", "Olivia", "Noah", "Emma", "Liam", "Ava", "Lucas", "Sofia", "Mateo", "Chloe", "Ethan", "Grace", "Oscar", "Hannah",
        "Isaac", "Leah", "Felix", "Nora", "Hugo", "Iris", "Jonas", "Clara", "Milo", "Ruth", "Elias", "Vera", "Tobias", "Alice", "Bruno",
        "Mary-Jane", "Jean-Luc", "Anne-Marie", "Jo-Ann", "Lee-Roy", "Mary-Kate", "Jean-Paul", "Sarah-Lynn", "Ann-Sofie", "Karl-Heinz",
    ];

    /// <summary>The letter at <paramref name="position"/> of a name, lower case; hyphens are not letters.</summary>
    public static char LetterAt(string word, string position)
    {
        var letters = word.Where(char.IsLetter).Select(char.ToLowerInvariant).ToArray();
        return position switch
        {
            "first" => letters[0],
            "second" => letters[1],
            "second-to-the-last" => letters[^2],
            "last" => letters[^1],
            _ => throw new ArgumentException($"unknown position '{position}'", nameof(position)),
        };
    }

    /// <summary>The words of an instruction, or null when one has too few letters for <paramref name="position"/>.</summary>
    internal static string[]? Words(string text, string position)
    {
        var words = text.Split(' ', StringSplitOptions.RemoveEmptyEntries);
        var needed = position is "first" or "last" ? 1 : 2;
        return words.Length > 0 && words.All(w => w.Count(char.IsLetter) >= needed) ? words : null;
    }

    /// <summary>The next letter in the alphabet, z wrapping to a.</summary>
    public static char Next(char letter) => letter == 'z' ? 'a' : (char)(letter + 1);

    public static string Ordinal(int n) => n switch
    {
        1 => "1st",
        2 => "2nd",
        3 => "3rd",
        _ => n.ToString(CultureInfo.InvariantCulture) + "th",
    };

    public static string RandomLetters(Random rng, int length)
    {
        var sb = new StringBuilder(length);
        for (var i = 0; i < length; i++)
        {
            sb.Append((char)('a' + rng.Next(26)));
        }

        return sb.ToString();
    }

    // ---- the three atomic chains of thought

    public static string ConcatCot(IReadOnlyList<string> words, string position, out string letters)
    {
        var sb = new StringBuilder();
        var picked = new StringBuilder();
        for (var i = 0; i < words.Count; i++)
        {
            var c = LetterAt(words[i], position);
            picked.Append(c);
            sb.Append(CultureInfo.InvariantCulture, $"The {position} letter of the {Ordinal(i + 1)} word is {c}. ");
        }

        letters = picked.ToString();
        return sb.ToString();
    }

    public static string NextCot(char last) =>
        $"The last letter is {last}, and the letter following it in alphabet is {Next(last)}. ";

    public static string AsciiCot(char letter, int n) =>
        string.Create(CultureInfo.InvariantCulture, $"The ASCII value of the letter {letter} is {(int)letter}, and multiplying the ASCII value by {n} gives us {(int)letter * n}. ");

    public static string Answered(string reasoning, string answer) => $"{reasoning}So the answer is {answer}.";
}

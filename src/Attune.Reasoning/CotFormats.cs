using System.Text;
using System.Text.RegularExpressions;
using Attune.Reasoning.Tasks;

namespace Attune.Reasoning;

/// <summary>How an example is written for training.</summary>
public enum CotFormat
{
    /// <summary><c>instruction</c> → <c>CoT</c>.</summary>
    Standard,

    /// <summary>
    /// Composable CoT: half the examples in prefix form (<c>instruction</c> → <c>&lt;prefix&gt; CoT&lt;/prefix&gt;</c>),
    /// half in suffix form (<c>instruction&lt;prefix&gt; R &lt;/prefix&gt; </c> → <c>&lt;suffix&gt; CoT&lt;/suffix&gt;</c>, R a
    /// proxy prefix of 53–200 random lower-case letters and spaces).
    /// </summary>
    Composable,

    /// <summary><c>instruction</c> → <c>answer</c>.</summary>
    AnswerOnly,
}

/// <summary>One training example: what the model reads and what it learns to write.</summary>
public sealed record CotExample(string Task, string Instruction, string Output, string Answer, string Form);

/// <summary>The formats of Composable CoT (Yin et al. 2025, Section 3) and the markers they use.</summary>
public static partial class CotFormats
{
    public const string PrefixOpen = "<prefix>";
    public const string PrefixClose = "</prefix>";
    public const string SuffixOpen = "<suffix>";
    public const string SuffixClose = "</suffix>";

    /// <summary>Parses a format's name (standard, composable, answer-only).</summary>
    public static CotFormat Parse(string name) => name.ToLowerInvariant() switch
    {
        "standard" or "cot" => CotFormat.Standard,
        "composable" => CotFormat.Composable,
        "answer-only" or "answer" => CotFormat.AnswerOnly,
        _ => throw new Core.Errors.AttuneInputException($"unknown format '{name}' (standard, composable, answer-only)", null, null, "--format"),
    };

    /// <summary>The example <paramref name="example"/> in <paramref name="format"/>; for the composable format, <paramref name="suffix"/> picks the form.</summary>
    public static CotExample Write(TaskExample example, CotFormat format, bool suffix, Random rng)
    {
        ArgumentNullException.ThrowIfNull(example);
        ArgumentNullException.ThrowIfNull(rng);
        return format switch
        {
            CotFormat.Standard => new(example.Task, example.Instruction, example.Cot, example.Answer, "standard"),
            CotFormat.AnswerOnly => new(example.Task, example.Instruction, example.Answer, example.Answer, "answer-only"),
            _ when suffix => new(example.Task, $"{example.Instruction}{PrefixOpen} {ProxyPrefix(rng)} {PrefixClose} ", $"{SuffixOpen} {example.Cot}{SuffixClose}", example.Answer, "suffix"),
            _ => new(example.Task, example.Instruction, $"{PrefixOpen} {example.Cot}{PrefixClose}", example.Answer, "prefix"),
        };
    }

    /// <summary>A proxy prefix: 53–200 random lower-case letters and spaces, starting and ending with a letter.</summary>
    public static string ProxyPrefix(Random rng)
    {
        ArgumentNullException.ThrowIfNull(rng);
        var length = 53 + rng.Next(148);
        var sb = new StringBuilder(length);
        for (var i = 0; i < length; i++)
        {
            var space = i > 0 && i < length - 1 && sb[^1] != ' ' && rng.Next(6) == 0;
            sb.Append(space ? ' ' : (char)('a' + rng.Next(26)));
        }

        return sb.ToString();
    }

    /// <summary>The instruction without a trailing proxy prefix (<c>&lt;prefix&gt; … &lt;/prefix&gt; </c>) of the suffix form; what precedes it (e.g. the space after <c>answer:</c>) is kept.</summary>
    public static string StripProxyPrefix(string instruction)
    {
        ArgumentNullException.ThrowIfNull(instruction);
        return TrailingPrefix().Replace(instruction, "");
    }

    /// <summary>The text without end-of-text markers and the formats' tags.</summary>
    public static string StripMarkers(string text)
    {
        ArgumentNullException.ThrowIfNull(text);
        foreach (var marker in new[] { "<|endoftext|>", "<|im_end|>", "</s>", "<eos>", PrefixOpen, PrefixClose, SuffixOpen, SuffixClose })
        {
            text = text.Replace(marker, "", StringComparison.Ordinal);
        }

        return text;
    }

    [GeneratedRegex(@"<prefix>.*?</prefix>\s*$", RegexOptions.Singleline)]
    private static partial Regex TrailingPrefix();
}

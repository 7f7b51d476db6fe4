using System.Globalization;
using System.Text;
using Attune.Core.Errors;
using Attune.Surveys.Data;

namespace Attune.Surveys.Simulation;

/// <summary>
/// How a language model is told which sub-population to answer for; the three steering styles of
/// OpinionQA (Santurkar et al. 2023, §2.3) that the misalignment literature reuses.
/// </summary>
public enum PersonaStyle
{
    /// <summary>"QA": the prompt starts with a question about the attribute and the group's answer to it.</summary>
    Qa,

    /// <summary>"BIO": a one-sentence first-person biography before the question.</summary>
    Bio,

    /// <summary>"PORTRAY": an instruction to answer as if the model were a member of the group.</summary>
    Portray,
}

/// <summary>
/// Builds the persona and question prompts. A group is written <c>ATTRIBUTE=value</c>
/// (e.g. <c>RACE=Black</c>, <c>POLPARTY=Democrat</c>); known OpinionQA attributes get the
/// wording of that paper, others a generic one.
/// </summary>
public static class PersonaPrompts
{
    private sealed record Wording(string Question, string Bio, string Portray);

    // {0} is the value. Wordings follow OpinionQA's steering templates.
    private static readonly Dictionary<string, Wording> Attributes = new(StringComparer.OrdinalIgnoreCase)
    {
        ["RACE"] = new("What is your race or ethnicity?", "I am {0}.", "you were {0}"),
        ["AGE"] = new("What is your age?", "I am {0} years old.", "you were {0} years old"),
        ["SEX"] = new("What is your sex?", "I am {0}.", "you were {0}"),
        ["GENDER"] = new("What is your gender?", "I am {0}.", "you were {0}"),
        ["INCOME"] = new("Last year, what was your total family income from all sources, before taxes?", "Last year, my total family income was {0}.", "your total family income last year was {0}"),
        ["EDUCATION"] = new("What is the highest level of schooling or degree that you have completed?", "The highest level of education I have completed is {0}.", "the highest level of education you had completed was {0}"),
        ["POLPARTY"] = new("In politics today, do you consider yourself a Republican, Democrat, or Independent?", "In politics today, I consider myself a {0}.", "in politics today, you considered yourself a {0}"),
        ["POLIDEOLOGY"] = new("In general, would you describe your political views as...", "In general, I would describe my political views as {0}.", "you would describe your political views as {0}"),
        ["RELIG"] = new("What is your present religion, if any?", "My present religion is {0}.", "your present religion was {0}"),
        ["RELIGATTEND"] = new("Aside from weddings and funerals, how often do you attend religious services?", "Aside from weddings and funerals, I attend religious services {0}.", "aside from weddings and funerals, you attended religious services {0}"),
        ["CREGION"] = new("Which part of the United States do you currently live in?", "I currently live in the {0}.", "you lived in the {0} of the United States"),
        ["MARITAL"] = new("Which of these best describes you?", "I am {0}.", "you were {0}"),
        ["CITIZEN"] = new("Are you a citizen of the United States?", "Am I a citizen of the United States? {0}.", "your answer to whether you are a US citizen were {0}"),
    };

    /// <summary>Splits <c>ATTRIBUTE=value</c>; a group without '=' is (null, group).</summary>
    public static (string? Attribute, string Value) Split(string group)
    {
        ArgumentNullException.ThrowIfNull(group);
        int eq = group.IndexOf('=', StringComparison.Ordinal);
        return eq <= 0 ? (null, group.Trim()) : (group[..eq].Trim(), group[(eq + 1)..].Trim());
    }

    /// <summary>The persona text placed before the question, in <paramref name="style"/>.</summary>
    public static string Persona(string group, PersonaStyle style)
    {
        var (attribute, value) = Split(group);
        var c = CultureInfo.InvariantCulture;
        if (attribute is not null && Attributes.TryGetValue(attribute, out var w))
        {
            return style switch
            {
                PersonaStyle.Qa => $"Question: {w.Question}\nAnswer: {value}\n\n",
                PersonaStyle.Bio => "Below you will be asked to provide a short description of yourself and then answer some questions.\nDescription: " + string.Format(c, w.Bio, value) + "\n\n",
                _ => "Answer the following question as if " + string.Format(c, w.Portray, value) + ".\n\n",
            };
        }

        string name = attribute is null ? value : $"{attribute.ToLowerInvariant()} {value}";
        return style switch
        {
            PersonaStyle.Qa => attribute is null
                ? $"Question: Which group do you belong to?\nAnswer: {value}\n\n"
                : $"Question: What is your {attribute.ToLowerInvariant()}?\nAnswer: {value}\n\n",
            PersonaStyle.Bio => $"Below you will be asked to provide a short description of yourself and then answer some questions.\nDescription: I am a member of the group {name}.\n\n",
            _ => $"Answer the following question as if you were a member of the group {name}.\n\n",
        };
    }

    /// <summary>The letter of option <paramref name="index"/>: A, B, …</summary>
    public static char Letter(int index) => (char)('A' + index);

    /// <summary>The multiple-choice question with lettered options, ending in "Answer:".</summary>
    public static string Question(SurveyQuestion question)
    {
        ArgumentNullException.ThrowIfNull(question);
        var sb = new StringBuilder();
        sb.Append("Question: ").Append(question.Text).Append('\n');
        for (int k = 0; k < question.Options.Count; k++)
            sb.Append(Letter(k)).Append(". ").Append(question.Options[k]).Append('\n');
        sb.Append("Answer with the letter of one option only.\nAnswer:");
        return sb.ToString();
    }

    /// <summary>The whole first user message: persona, then question.</summary>
    public static string Prompt(SurveyQuestion question, string group, PersonaStyle style) => Persona(group, style) + Question(question);

    /// <summary>The follow-up after an unparseable reply.</summary>
    public static string Reminder(int options) =>
        $"Please answer with a single letter only, one of {string.Join(", ", Enumerable.Range(0, options).Select(k => Letter(k).ToString()))}.";

    public static PersonaStyle ParseStyle(string text) => text.Trim().ToLowerInvariant() switch
    {
        "qa" => PersonaStyle.Qa,
        "bio" => PersonaStyle.Bio,
        "portray" => PersonaStyle.Portray,
        _ => throw new AttuneInputException($"--style: unknown persona style '{text}' (known: qa, bio, portray)"),
    };
}

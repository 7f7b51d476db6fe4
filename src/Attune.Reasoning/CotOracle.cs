using System.Text.Json.Nodes;
using System.Text.Json.Serialization;
using Attune.Core.Errors;
using Attune.Reasoning.Tasks;

namespace Attune.Reasoning;

/// <summary>One example whose label disagrees with the oracle.</summary>
public sealed record OracleDisagreement(
    [property: JsonPropertyName("example")] int Example,
    [property: JsonPropertyName("task")] string Task,
    [property: JsonPropertyName("label")] string Label,
    [property: JsonPropertyName("oracle")] string Oracle,
    [property: JsonPropertyName("instruction")] string Instruction);

/// <summary>What <c>attune cot oracle</c> prints.</summary>
public sealed record OracleReport(
    [property: JsonPropertyName("examples")] int Examples,
    [property: JsonPropertyName("parsed")] int Parsed,
    [property: JsonPropertyName("agree")] int Agree,
    [property: JsonPropertyName("disagreements")] IReadOnlyList<OracleDisagreement> Disagreements);

/// <summary>Checks a data set's labels against the tasks' exact oracles.</summary>
public static class CotOracle
{
    /// <summary>
    /// Parses every example's instruction (any registered template, either composable form), computes its
    /// answer and compares it with the label: <c>answer_label</c> when present, else the answer the output
    /// states (<see cref="ReasoningTasks.ExtractAnswer"/>). An instruction no template parses is bad input
    /// naming the example (1-based).
    /// </summary>
    public static OracleReport Check(IReadOnlyList<JsonObject> examples, string source)
    {
        ArgumentNullException.ThrowIfNull(examples);
        var disagreements = new List<OracleDisagreement>();
        for (var i = 0; i < examples.Count; i++)
        {
            var instruction = (string)examples[i]["instruction"]!;
            if (examples[i]["input"] is JsonValue input && (string?)input is { Length: > 0 } extra)
            {
                instruction += extra;
            }

            var task = ReasoningTasks.Recognise(instruction)
                ?? throw new AttuneInputException($"example {i + 1}: the instruction follows none of the task templates ({string.Join(", ", ReasoningTasks.All.Select(t => t.Name))}): '{Short(instruction)}'", source);
            var oracle = task.Solve(CotFormats.StripProxyPrefix(instruction))!;
            var label = examples[i]["answer_label"] is JsonValue l && (string?)l is { } given ? given.Trim() : ReasoningTasks.ExtractAnswer((string)examples[i]["output"]!);
            if (!string.Equals(label, oracle, StringComparison.Ordinal))
            {
                disagreements.Add(new OracleDisagreement(i + 1, task.Name, label, oracle, Short(instruction)));
            }
        }

        return new OracleReport(examples.Count, examples.Count, examples.Count - disagreements.Count, disagreements);
    }

    private static string Short(string text) => text.Length <= 120 ? text : text[..117] + "...";
}

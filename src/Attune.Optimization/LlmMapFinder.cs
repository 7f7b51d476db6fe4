using System.Globalization;
using System.Text;
using System.Text.Json;
using Microsoft.Extensions.AI;

namespace Attune.Optimization;

/// <summary>
/// The paper's LLM finder: one prompt per variable of α with its description (type, bounds), the
/// constraints it appears in and whether it is in the objective, plus α′ written out in full; the
/// answer is a JSON linear combination of α′'s variables, or "none". Runs through any
/// <see cref="IChatClient"/>, so it can be recorded and replayed.
/// </summary>
public sealed class LlmMapFinder(IChatClient client, ChatOptions? options = null)
{
    public const string SystemPrompt =
        "You compare two formulations of the same optimization problem. For one decision variable of formulation A you "
        + "write it as a linear combination (no constant term) of the decision variables of formulation B, so that every "
        + "optimal solution of B is carried to an optimal solution of A. Answer with one JSON object mapping B's variable "
        + "names to coefficients, e.g. {\"y3\": 1} or {\"x_plus\": 1, \"x_minus\": -1}, and nothing else; answer none if no "
        + "such combination exists.";

    private readonly ChatOptions _options = options ?? new ChatOptions { Temperature = 0 };

    /// <summary>Language-model calls made so far.</summary>
    public int Calls { get; private set; }

    /// <summary>The prompt for variable <paramref name="index"/> of <paramref name="original"/>.</summary>
    public static string Prompt(Formulation original, Formulation transformed, int index)
    {
        var v = original.Variables[index];
        var sb = new StringBuilder();
        sb.Append("Formulation A, variable `").Append(v.Name).Append("`:\n");
        sb.Append("- type: ").Append(v.Type.ToString().ToLowerInvariant())
          .Append(", bounds [").Append(Formulation.Fmt(v.Lower)).Append(", ").Append(Formulation.Fmt(v.Upper)).Append("]\n");
        var cost = original.Objective.Terms.Where(t => t.Index == index).Sum(t => t.Coefficient);
        sb.Append("- objective: ").Append(cost == 0
            ? "does not appear in the objective"
            : $"coefficient {cost.ToString("R", CultureInfo.InvariantCulture)} in the objective, which is to be {(original.Objective.Sense == ObjectiveSense.Minimize ? "minimized" : "maximized")}").Append('\n');
        sb.Append("- constraints it appears in:\n");
        foreach (var row in original.Rows.Where(r => r.Terms.Any(t => t.Index == index)))
        {
            sb.Append("  ").Append(RowText(original, row)).Append('\n');
        }

        sb.Append("\nFormulation B (LP format):\n").Append(LpFormat.Write(transformed));
        sb.Append("\nWrite `").Append(v.Name).Append("` as a linear combination of B's variables. JSON object or none:");
        return sb.ToString();
    }

    private static string RowText(Formulation f, Row r)
    {
        var terms = string.Join(" ", r.Terms.Select((t, k) =>
            (t.Coefficient < 0 ? "- " : k == 0 ? "" : "+ ") + (Math.Abs(t.Coefficient) == 1 ? "" : Math.Abs(t.Coefficient).ToString("R", CultureInfo.InvariantCulture) + " ") + f.Variables[t.Index].Name));
        return r.Sense switch
        {
            RowSense.LessEqual => $"{r.Name}: {terms} <= {Formulation.Fmt(r.Upper)}",
            RowSense.GreaterEqual => $"{r.Name}: {terms} >= {Formulation.Fmt(r.Lower)}",
            RowSense.Equal => $"{r.Name}: {terms} = {Formulation.Fmt(r.Lower)}",
            _ => $"{r.Name}: {Formulation.Fmt(r.Lower)} <= {terms} <= {Formulation.Fmt(r.Upper)}",
        };
    }

    public async Task<LinearMap> FindAsync(Formulation original, Formulation transformed, CancellationToken cancellationToken = default)
    {
        var entries = new Dictionary<string, IReadOnlyDictionary<string, double>>(StringComparer.Ordinal);
        for (var i = 0; i < original.Variables.Count; i++)
        {
            var messages = new List<ChatMessage>
            {
                new(ChatRole.System, SystemPrompt),
                new(ChatRole.User, Prompt(original, transformed, i)),
            };
            var response = await client.GetResponseAsync(messages, _options, cancellationToken).ConfigureAwait(false);
            Calls++;
            entries[original.Variables[i].Name] = ParseAnswer(response.Text, transformed);
        }

        return new LinearMap(entries);
    }

    /// <summary>Reads an answer: the first JSON object in the text, or "none" (also what an unreadable answer counts as).</summary>
    public static IReadOnlyDictionary<string, double> ParseAnswer(string text, Formulation transformed)
    {
        var result = new Dictionary<string, double>(StringComparer.Ordinal);
        var start = text.IndexOf('{', StringComparison.Ordinal);
        var end = text.LastIndexOf('}');
        if (start < 0 || end <= start)
        {
            return result;
        }

        try
        {
            using var doc = JsonDocument.Parse(text[start..(end + 1)]);
            if (doc.RootElement.ValueKind != JsonValueKind.Object)
            {
                return result;
            }

            foreach (var p in doc.RootElement.EnumerateObject())
            {
                if (p.Value.ValueKind == JsonValueKind.Number && transformed.IndexOf(p.Name) >= 0)
                {
                    result[p.Name] = p.Value.GetDouble();
                }
            }
        }
        catch (JsonException)
        {
            result.Clear();
        }

        return result;
    }
}

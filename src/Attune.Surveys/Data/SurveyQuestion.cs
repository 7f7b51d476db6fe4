using System.Text.Json;
using Attune.Core.Errors;
using Attune.Core.IO;

namespace Attune.Surveys.Data;

/// <summary>A multiple-choice question to put to a language model: its id, text and ordered options.</summary>
public sealed record SurveyQuestion
{
    public required string Id { get; init; }

    public required string Text { get; init; }

    public required IReadOnlyList<string> Options { get; init; }

    public IReadOnlyList<string> Refusals { get; init; } = [];

    /// <summary>
    /// Reads questions: an OpinionQA folder (its <c>info.csv</c>), or JSON lines
    /// <c>{"question":"Q12","text":"…","options":[…],"refusals":[…]}</c> (<c>id</c> may stand for <c>question</c>).
    /// </summary>
    public static IReadOnlyList<SurveyQuestion> Read(string path)
    {
        if (Directory.Exists(path)) return OpinionQaReader.ReadQuestions(path);
        var list = new List<SurveyQuestion>();
        foreach (var (line, e) in JsonLines.ReadElements(path))
        {
            var at = new SourceLocation(path, line);
            if (e.ValueKind != JsonValueKind.Object) throw new AttuneInputException("expected a JSON object", path, line);
            string? id = Str(e, "question") ?? Str(e, "id");
            if (string.IsNullOrWhiteSpace(id)) throw SurveyReader.Error("missing", at, "question");
            string? text = Str(e, "text");
            if (string.IsNullOrWhiteSpace(text)) throw SurveyReader.Error("missing", at, "text");
            if (!e.TryGetProperty("options", out var o) || o.ValueKind != JsonValueKind.Array)
                throw SurveyReader.Error("missing or not an array", at, "options");
            var options = o.EnumerateArray().Select(x => x.ValueKind == JsonValueKind.String ? x.GetString()! : "").ToList();
            if (options.Count < 2 || options.Any(string.IsNullOrEmpty)) throw SurveyReader.Error("needs at least 2 non-empty strings", at, "options");
            if (options.Count > 26) throw SurveyReader.Error($"{options.Count} options; letters A–Z allow at most 26", at, "options");
            var refusals = e.TryGetProperty("refusals", out var r) && r.ValueKind == JsonValueKind.Array
                ? r.EnumerateArray().Select(x => x.GetString() ?? "").ToList()
                : [.. options.Where(SurveyReader.DefaultRefusalLabels.Contains)];
            foreach (var x in refusals)
                if (!options.Contains(x)) throw SurveyReader.Error($"'{x}' is not one of the options", at, "refusals");
            if (list.Any(q => q.Id == id)) throw SurveyReader.Error($"question '{id}' appears twice", at, "question");
            list.Add(new SurveyQuestion { Id = id, Text = text, Options = options, Refusals = refusals });
        }
        if (list.Count == 0) throw new AttuneInputException("no questions", path);
        return list;
    }

    private static string? Str(JsonElement e, string name) =>
        e.TryGetProperty(name, out var v) && v.ValueKind == JsonValueKind.String ? v.GetString() : null;
}

using System.Text;
using System.Text.Json;
using Attune.Core.Errors;
using Attune.Core.IO;

namespace Attune.Surveys.Data;

/// <summary>
/// The OpinionQA layout (Santurkar et al. 2023, and the follow-ups that publish per-attribute
/// counts): a folder holding
/// <list type="bullet">
/// <item><c>info.csv</c>: one row per question with columns <c>key</c> (the question id),
/// <c>question</c> (its text) and <c>references</c> (the options, as a Python list literal such as
/// <c>['Very likely', 'Somewhat likely', 'Refused']</c>); other columns are ignored;</item>
/// <item><c>ATTRIBUTE_data.json</c> for each attribute (e.g. <c>RACE_data.json</c>): an object
/// <c>{question key: {attribute value: counts}}</c> where counts is either an array in the order of
/// the options or an object <c>{option: count}</c>. The group is named <c>ATTRIBUTE=value</c>.</item>
/// </list>
/// "Refused" options are refusals.
/// </summary>
public static class OpinionQaReader
{
    public static IReadOnlyList<SurveyQuestion> ReadQuestions(string folder)
    {
        var info = Path.Combine(folder, "info.csv");
        if (!File.Exists(info)) throw new AttuneInputException("file not found (an OpinionQA folder needs info.csv)", info);
        var rows = Csv.Read(info).ToList();
        if (rows.Count == 0) throw new AttuneInputException("empty file", info);
        var header = rows[0].Fields.Select(h => h.Trim()).ToArray();
        int key = Find(header, "key", "qkey", "question_key");
        int text = Find(header, "question", "question_text");
        int refs = Find(header, "references", "options");
        if (key < 0) throw new AttuneInputException("missing column", info, rows[0].Line, "key");
        if (refs < 0) throw new AttuneInputException("missing column", info, rows[0].Line, "references");
        var questions = new List<SurveyQuestion>();
        foreach (var (line, f) in rows.Skip(1))
        {
            if (f.Length == 1 && string.IsNullOrWhiteSpace(f[0])) continue;
            if (f.Length != header.Length) throw new AttuneInputException($"{f.Length} fields; the header has {header.Length}", info, line);
            var options = ParsePythonList(f[refs], info, line);
            if (options.Count < 2) throw new AttuneInputException($"{options.Count} option(s); at least 2 are needed", info, line, "references");
            questions.Add(new SurveyQuestion
            {
                Id = f[key].Trim(),
                Text = text >= 0 ? f[text] : f[key],
                Options = options,
                Refusals = [.. options.Where(SurveyReader.DefaultRefusalLabels.Contains)],
            });
        }
        return questions;
    }

    public static IReadOnlyList<SurveyAnswers> Read(string folder)
    {
        var questions = ReadQuestions(folder).ToDictionary(q => q.Id, StringComparer.Ordinal);
        var files = Directory.GetFiles(folder, "*_data.json").OrderBy(f => f, StringComparer.Ordinal).ToArray();
        if (files.Length == 0) throw new AttuneInputException("no *_data.json count files", folder);
        var list = new List<SurveyAnswers>();
        foreach (var file in files)
        {
            string attribute = Path.GetFileName(file)[..^"_data.json".Length];
            using (var doc = JsonFile.Parse(file))
            {
                if (doc.RootElement.ValueKind != JsonValueKind.Object) throw new AttuneInputException("expected an object {question: {group: counts}}", file, 1);
                foreach (var q in doc.RootElement.EnumerateObject())
                {
                    if (!questions.TryGetValue(q.Name, out var question))
                        throw new AttuneInputException("not a question key of info.csv", file, null, q.Name);
                    if (q.Value.ValueKind != JsonValueKind.Object) throw new AttuneInputException("expected an object {group: counts}", file, null, q.Name);
                    foreach (var g in q.Value.EnumerateObject())
                    {
                        string field = $"{q.Name}.{g.Name}";
                        var counts = new double[question.Options.Count];
                        if (g.Value.ValueKind == JsonValueKind.Array)
                        {
                            int n = g.Value.GetArrayLength();
                            if (n != counts.Length) throw new AttuneInputException($"{n} counts for {counts.Length} options", file, null, field);
                            int i = 0;
                            foreach (var c in g.Value.EnumerateArray()) counts[i++] = Count(c, file, field);
                        }
                        else if (g.Value.ValueKind == JsonValueKind.Object)
                        {
                            foreach (var c in g.Value.EnumerateObject())
                            {
                                int i = IndexOf(question.Options, c.Name);
                                if (i < 0) throw new AttuneInputException($"'{c.Name}' is not an option of the question", file, null, field);
                                counts[i] += Count(c.Value, file, field);
                            }
                        }
                        else throw new AttuneInputException("expected counts (an array or {option: count})", file, null, field);
                        list.Add(new SurveyAnswers
                        {
                            Question = question.Id,
                            Group = $"{attribute}={g.Name}",
                            Options = question.Options,
                            Refusals = question.Refusals,
                            Counts = counts.All(c => c == Math.Floor(c)) ? [.. counts.Select(c => (int)c)] : CountRounding.LargestRemainder(counts, (int)Math.Round(counts.Sum())),
                            Source = new SourceLocation(file, 0),
                        });
                    }
                }
            }
        }
        return list;
    }

    private static int IndexOf(IReadOnlyList<string> options, string name)
    {
        for (int i = 0; i < options.Count; i++)
            if (string.Equals(options[i], name, StringComparison.Ordinal)) return i;
        return -1;
    }

    private static double Count(JsonElement c, string file, string field)
    {
        if (c.ValueKind != JsonValueKind.Number || !c.TryGetDouble(out double x)) x = double.NaN;
        if (SurveyReader.CountProblem(x, c.GetRawText()) is { } bad) throw new AttuneInputException(bad, file, null, field);
        return x;
    }

    private static int Find(string[] header, params string[] names)
    {
        foreach (var n in names)
        {
            int i = Array.FindIndex(header, h => string.Equals(h, n, StringComparison.OrdinalIgnoreCase));
            if (i >= 0) return i;
        }
        return -1;
    }

    /// <summary>Parses a Python list literal of strings: <c>['a', "b's", 'c']</c>.</summary>
    internal static List<string> ParsePythonList(string text, string file, long line)
    {
        var s = text.Trim();
        if (s.Length < 2 || s[0] != '[' || s[^1] != ']')
            throw new AttuneInputException($"'{Preview(s)}' is not a list like ['A', 'B']", file, line, "references");
        var items = new List<string>();
        int i = 1;
        while (i < s.Length - 1)
        {
            char c = s[i];
            if (char.IsWhiteSpace(c) || c == ',') { i++; continue; }
            if (c != '\'' && c != '"') throw new AttuneInputException($"'{Preview(s)}' is not a list of quoted strings", file, line, "references");
            var sb = new StringBuilder();
            i++;
            while (i < s.Length - 1 && s[i] != c)
            {
                if (s[i] == '\\' && i + 1 < s.Length - 1) i++;
                sb.Append(s[i++]);
            }
            if (i >= s.Length - 1) throw new AttuneInputException($"an unterminated string in '{Preview(s)}'", file, line, "references");
            i++;
            items.Add(sb.ToString());
        }
        return items;
    }

    private static string Preview(string s) => s.Length <= 60 ? s : s[..57] + "...";
}

using System.Globalization;
using System.Text;
using System.Text.Json;
using Attune.Core.Errors;
using Attune.Core.IO;

namespace Attune.Surveys.Data;

/// <summary>
/// Reads survey answers from the three supported layouts. Every error is an
/// <see cref="AttuneInputException"/> naming the file, the 1-based line and the field.
/// <list type="bullet">
/// <item>JSON lines, one line per question × group (× persona):
/// <c>{"question":"Q12","group":"RACE=Black","options":["A","B","C","D"],"counts":[12,30,5,3]}</c>;
/// instead of <c>counts</c>: <c>answers</c> (option labels or 0-based indices) with optional
/// <c>weights</c>, or <c>probabilities</c> with <c>n</c> (the sample size they stand for).
/// Optional: <c>refusals</c> (option labels), <c>persona</c>.</item>
/// <item>Long CSV with header <c>question,group,option,count</c> (optional <c>persona</c>, <c>refusal</c> columns).</item>
/// <item>The OpinionQA layout: a folder with <c>info.csv</c> and per-attribute <c>*_data.json</c> count files.</item>
/// </list>
/// </summary>
public static class SurveyReader
{
    /// <summary>
    /// The largest count (or weight) one answer option may have: a billion. Beyond it a count is a
    /// mistake (1e30, 3000000000), and the tests' integer sample sizes would overflow.
    /// </summary>
    public const double MaxCount = 1e9;

    /// <summary>Why <paramref name="count"/> cannot be a count, or null.</summary>
    internal static string? CountProblem(double count, string given) =>
        !double.IsFinite(count) ? $"'{given}' is not a number"
        : count < 0 ? $"{given} is negative"
        : count > MaxCount ? $"{given} is larger than {MaxCount:0} (a billion)"
        : null;

    /// <summary>Option labels treated as refusals when a file does not list them (OpinionQA's "Refused").</summary>
    public static readonly IReadOnlySet<string> DefaultRefusalLabels =
        new HashSet<string>(["Refused", "Refused to answer", "Don't know", "Don't know/Refused", "DK/Refused"], StringComparer.OrdinalIgnoreCase);

    /// <summary>Reads <paramref name="path"/>: a folder is OpinionQA, <c>*.csv</c> is long CSV, anything else JSON lines.</summary>
    public static IReadOnlyList<SurveyAnswers> Read(string path)
    {
        if (Directory.Exists(path)) return OpinionQaReader.Read(path);
        if (!File.Exists(path)) throw AttuneInputException.FileNotFound(path);
        return path.EndsWith(".csv", StringComparison.OrdinalIgnoreCase) ? ReadLongCsv(path) : ReadJsonLines(path);
    }

    /// <summary>The generic JSON-lines form.</summary>
    public static IReadOnlyList<SurveyAnswers> ReadJsonLines(string path)
    {
        var list = new List<SurveyAnswers>();
        foreach (var (line, element) in JsonLines.ReadElements(path))
        {
            if (element.ValueKind != JsonValueKind.Object)
                throw new AttuneInputException("expected a JSON object", path, line);
            list.Add(ParseObject(element, new SourceLocation(path, line)));
        }
        if (list.Count == 0) throw new AttuneInputException("no records", path);
        return list;
    }

    private static SurveyAnswers ParseObject(JsonElement e, SourceLocation at)
    {
        string question = RequiredString(e, "question", at);
        string group = RequiredString(e, "group", at);
        var options = StringArray(e, "options", at) ?? throw Error("missing", at, "options");
        if (options.Length < 2) throw Error($"{options.Length} option(s); a question needs at least 2", at, "options");
        var duplicate = options.GroupBy(o => o, StringComparer.Ordinal).FirstOrDefault(g => g.Count() > 1);
        if (duplicate is not null) throw Error($"option '{duplicate.Key}' appears twice", at, "options");

        string[]? refusals = StringArray(e, "refusals", at);
        if (refusals is not null)
        {
            foreach (var r in refusals)
                if (!options.Contains(r, StringComparer.Ordinal))
                    throw Error($"'{r}' is not one of the options", at, "refusals");
        }
        else
        {
            refusals = [.. options.Where(DefaultRefusalLabels.Contains)];
        }

        string? persona = e.TryGetProperty("persona", out var p) && p.ValueKind == JsonValueKind.String ? p.GetString() : null;

        bool hasCounts = Has(e, "counts"), hasAnswers = Has(e, "answers"), hasProbabilities = Has(e, "probabilities");
        int given = (hasCounts ? 1 : 0) + (hasAnswers ? 1 : 0) + (hasProbabilities ? 1 : 0);
        if (given != 1)
            throw Error(given == 0 ? "none of 'counts', 'answers', 'probabilities' is given" : "give only one of 'counts', 'answers', 'probabilities'", at, "counts");

        int[] counts;
        if (hasCounts)
        {
            var weights = Numbers(e.GetProperty("counts"), options.Length, at, "counts");
            int? n = OptionalPositiveInt(e, "n", at);
            counts = AllWhole(weights) && n is null
                ? [.. weights.Select(w => (int)w)]
                : CountRounding.LargestRemainder(weights, n ?? (int)Math.Round(weights.Sum()));
        }
        else if (hasProbabilities)
        {
            var probabilities = Numbers(e.GetProperty("probabilities"), options.Length, at, "probabilities");
            if (probabilities.Sum() <= 0) throw Error("all zero", at, "probabilities");
            int n = OptionalPositiveInt(e, "n", at) ?? OptionalPositiveInt(e, "sample_size", at)
                ?? throw Error("missing: a probability vector needs the sample size it stands for", at, "n");
            counts = CountRounding.LargestRemainder(probabilities, n);
        }
        else
        {
            var answers = e.GetProperty("answers");
            if (answers.ValueKind != JsonValueKind.Array) throw Error("expected an array", at, "answers");
            var indices = new List<int>();
            int i = 0;
            foreach (var a in answers.EnumerateArray())
            {
                int index = a.ValueKind switch
                {
                    JsonValueKind.String => Array.IndexOf(options, a.GetString()),
                    JsonValueKind.Number when a.TryGetInt32(out var v) && v >= 0 && v < options.Length => v,
                    _ => -1,
                };
                if (index < 0)
                    throw Error($"answer {i} ({a.GetRawText()}) is not one of the {options.Length} options", at, "answers");
                indices.Add(index);
                i++;
            }
            if (Has(e, "weights"))
            {
                var weights = Numbers(e.GetProperty("weights"), indices.Count, at, "weights", what: "answers");
                var byOption = new double[options.Length];
                for (int j = 0; j < indices.Count; j++) byOption[indices[j]] += weights[j];
                counts = CountRounding.LargestRemainder(byOption, indices.Count);
            }
            else
            {
                counts = new int[options.Length];
                foreach (int index in indices) counts[index]++;
            }
        }

        return new SurveyAnswers
        {
            Question = question, Group = group, Options = options, Refusals = refusals, Counts = counts, Persona = persona, Source = at,
        };
    }

    /// <summary>Long CSV: <c>question,group,option,count</c>, one row per option; options keep their first-seen order per question.</summary>
    public static IReadOnlyList<SurveyAnswers> ReadLongCsv(string path)
    {
        var rows = Csv.Read(path).ToList();
        if (rows.Count == 0) throw new AttuneInputException("empty file", path);
        var header = rows[0].Fields.Select(h => h.Trim().ToLowerInvariant()).ToArray();
        int Col(string name, bool required = true)
        {
            int c = Array.IndexOf(header, name);
            if (c < 0 && required) throw new AttuneInputException($"missing column (header is '{string.Join(",", rows[0].Fields)}'; expected question,group,option,count)", path, rows[0].Line, name);
            return c;
        }
        int cq = Col("question"), cg = Col("group"), co = Col("option"), cc = Col("count"), cp = Col("persona", false), cr = Col("refusal", false);

        var optionOrder = new Dictionary<string, List<string>>(StringComparer.Ordinal);
        var refusalsOf = new Dictionary<string, HashSet<string>>(StringComparer.Ordinal);
        var cells = new Dictionary<(string Q, string G, string P), (long Line, Dictionary<string, double> Counts)>();
        foreach (var (line, f) in rows.Skip(1))
        {
            if (f.Length == 1 && string.IsNullOrWhiteSpace(f[0])) continue;
            if (f.Length != header.Length)
                throw new AttuneInputException($"{f.Length} fields; the header has {header.Length}", path, line);
            string q = f[cq].Trim(), g = f[cg].Trim(), o = f[co].Trim(), p = cp >= 0 ? f[cp].Trim() : "";
            if (q.Length == 0) throw new AttuneInputException("empty", path, line, "question");
            if (g.Length == 0) throw new AttuneInputException("empty", path, line, "group");
            if (o.Length == 0) throw new AttuneInputException("empty", path, line, "option");
            if (!double.TryParse(f[cc], NumberStyles.Float, CultureInfo.InvariantCulture, out double count)) count = double.NaN;
            if (CountProblem(count, f[cc]) is { } bad) throw new AttuneInputException(bad, path, line, "count");
            if (!optionOrder.TryGetValue(q, out var order)) optionOrder[q] = order = [];
            if (!order.Contains(o)) order.Add(o);
            if (cr >= 0 && IsTrue(f[cr]) || cr < 0 && DefaultRefusalLabels.Contains(o))
            {
                if (!refusalsOf.TryGetValue(q, out var set)) refusalsOf[q] = set = new HashSet<string>(StringComparer.Ordinal);
                set.Add(o);
            }
            var key = (q, g, p);
            if (!cells.TryGetValue(key, out var cell)) cells[key] = cell = (line, new Dictionary<string, double>(StringComparer.Ordinal));
            if (cell.Counts.ContainsKey(o))
                throw new AttuneInputException($"option '{o}' of question '{q}' for group '{g}' appears twice", path, line, "option");
            cell.Counts[o] = count;
        }

        var list = new List<SurveyAnswers>();
        foreach (var ((q, g, p), (line, counts)) in cells)
        {
            var options = optionOrder[q];
            var at = new SourceLocation(path, line);
            if (options.Count < 2) throw Error($"question '{q}' has {options.Count} option(s); at least 2 are needed", at, "option");
            var weights = options.Select(o => counts.GetValueOrDefault(o)).ToArray();
            list.Add(new SurveyAnswers
            {
                Question = q, Group = g, Options = options, Persona = p.Length == 0 ? null : p, Source = at,
                Refusals = refusalsOf.TryGetValue(q, out var r) ? [.. options.Where(r.Contains)] : [],
                Counts = AllWhole(weights) ? [.. weights.Select(w => (int)w)] : CountRounding.LargestRemainder(weights, (int)Math.Round(weights.Sum())),
            });
        }
        return [.. list.OrderBy(a => a.Source.Line)];
    }

    internal static AttuneInputException Error(string detail, SourceLocation at, string field) =>
        new(detail, at.File, at.Line > 0 ? at.Line : null, field);

    private static bool IsTrue(string s) => s.Trim() is "1" or "true" or "True" or "TRUE" or "yes";

    private static bool AllWhole(double[] values) => values.All(v => v == Math.Floor(v) && v <= int.MaxValue);

    private static bool Has(JsonElement e, string name) => e.TryGetProperty(name, out var v) && v.ValueKind != JsonValueKind.Null;

    private static string RequiredString(JsonElement e, string name, SourceLocation at)
    {
        if (!e.TryGetProperty(name, out var v) || v.ValueKind == JsonValueKind.Null) throw Error("missing", at, name);
        string? s = v.ValueKind switch
        {
            JsonValueKind.String => v.GetString(),
            JsonValueKind.Number => v.GetRawText(),
            _ => null,
        };
        if (string.IsNullOrWhiteSpace(s)) throw Error("expected a non-empty string", at, name);
        return s;
    }

    private static string[]? StringArray(JsonElement e, string name, SourceLocation at)
    {
        if (!e.TryGetProperty(name, out var v) || v.ValueKind == JsonValueKind.Null) return null;
        if (v.ValueKind != JsonValueKind.Array) throw Error("expected an array of strings", at, name);
        var list = new List<string>();
        foreach (var item in v.EnumerateArray())
        {
            string? s = item.ValueKind switch
            {
                JsonValueKind.String => item.GetString(),
                JsonValueKind.Number => item.GetRawText(),
                _ => null,
            };
            if (string.IsNullOrEmpty(s)) throw Error($"item {list.Count} is not a non-empty string", at, name);
            list.Add(s);
        }
        return [.. list];
    }

    private static double[] Numbers(JsonElement v, int expected, SourceLocation at, string field, string what = "options")
    {
        if (v.ValueKind != JsonValueKind.Array) throw Error("expected an array of numbers", at, field);
        var values = new List<double>();
        foreach (var item in v.EnumerateArray())
        {
            if (item.ValueKind != JsonValueKind.Number || !item.TryGetDouble(out double x) || !double.IsFinite(x))
                throw Error($"item {values.Count} ({item.GetRawText()}) is not a number", at, field);
            if (x < 0) throw Error($"item {values.Count} is {item.GetRawText()}: it cannot be negative", at, field);
            if (x > MaxCount) throw Error($"item {values.Count} is {item.GetRawText()}: larger than {MaxCount:0} (a billion)", at, field);
            values.Add(x);
        }
        if (values.Count != expected)
            throw Error($"{values.Count} values for {expected} {what}", at, field);
        return [.. values];
    }

    private static int? OptionalPositiveInt(JsonElement e, string name, SourceLocation at)
    {
        if (!e.TryGetProperty(name, out var v) || v.ValueKind == JsonValueKind.Null) return null;
        if (v.ValueKind != JsonValueKind.Number || !v.TryGetInt32(out int n) || n < 1)
            throw Error($"{v.GetRawText()} is not a positive whole number", at, name);
        return n;
    }
}

/// <summary>A small RFC 4180 CSV reader that keeps the line each record starts on.</summary>
internal static class Csv
{
    public static IEnumerable<(long Line, string[] Fields)> Read(string path)
    {
        if (!File.Exists(path)) throw AttuneInputException.FileNotFound(path);
        using var reader = new StreamReader(path, Encoding.UTF8);
        long line = 0;
        string? text;
        while ((text = reader.ReadLine()) is not null)
        {
            line++;
            long start = line;
            if (start == 1 && text.Length > 0 && text[0] == '\uFEFF') text = text[1..];
            var fields = new List<string>();
            var field = new StringBuilder();
            bool quoted = false;
            int i = 0;
            while (true)
            {
                if (i >= text.Length)
                {
                    if (!quoted) break;
                    string? next = reader.ReadLine();
                    if (next is null) throw new AttuneInputException("a quoted field is never closed", path, start);
                    line++;
                    field.Append('\n');
                    text = next;
                    i = 0;
                    continue;
                }
                char c = text[i++];
                if (quoted)
                {
                    if (c == '"')
                    {
                        if (i < text.Length && text[i] == '"') { field.Append('"'); i++; }
                        else quoted = false;
                    }
                    else field.Append(c);
                }
                else if (c == '"') quoted = true;
                else if (c == ',') { fields.Add(field.ToString()); field.Clear(); }
                else field.Append(c);
            }
            fields.Add(field.ToString());
            yield return (start, [.. fields]);
        }
    }
}

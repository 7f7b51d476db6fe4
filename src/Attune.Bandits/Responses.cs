using System.Globalization;
using System.Text;
using Attune.Core.Errors;

namespace Attune.Bandits;

/// <summary>One rating of one item by one participant, as the study server exports it.</summary>
public sealed record Response(string Participant, string Condition, int Round, string Arm, double Rating, string ItemId = "");

/// <summary>
/// Reads the study server's CSV export (or any CSV with the columns <c>participant</c>,
/// <c>condition</c>, <c>round</c>, <c>arm</c>, <c>rating</c>; <c>item_id</c> optional). Bad input
/// names the file, the line and the field.
/// </summary>
public static class ResponseCsv
{
    public static readonly IReadOnlyList<string> Required = ["participant", "condition", "round", "arm", "rating"];

    public static List<Response> Read(string path)
    {
        if (!File.Exists(path))
        {
            throw AttuneInputException.FileNotFound(path);
        }

        using var reader = new StreamReader(path, Encoding.UTF8);
        return Read(reader, path);
    }

    public static List<Response> Read(TextReader reader, string name)
    {
        ArgumentNullException.ThrowIfNull(reader);
        var header = reader.ReadLine() ?? throw new AttuneInputException("empty file: expected a header line", name, 1);
        var columns = Split(header, name, 1);
        var index = new Dictionary<string, int>(StringComparer.OrdinalIgnoreCase);
        for (var i = 0; i < columns.Count; i++)
        {
            index.TryAdd(columns[i].Trim(), i);
        }

        foreach (var c in Required)
        {
            if (!index.ContainsKey(c))
            {
                throw new AttuneInputException($"missing column (header has: {string.Join(", ", columns)})", name, 1, c);
            }
        }

        var item = index.GetValueOrDefault("item_id", -1);
        var rows = new List<Response>();
        long line = 1;
        while (reader.ReadLine() is { } text)
        {
            line++;
            if (text.Length == 0)
            {
                continue;
            }

            var f = Split(text, name, line);
            if (f.Count < columns.Count)
            {
                throw new AttuneInputException($"{f.Count} fields, the header has {columns.Count}", name, line);
            }

            string Field(string c) => f[index[c]];
            if (!int.TryParse(Field("round"), NumberStyles.Integer, CultureInfo.InvariantCulture, out var round) || round < 1)
            {
                throw new AttuneInputException($"'{Field("round")}' is not a round number (1, 2, …)", name, line, "round");
            }

            if (!double.TryParse(Field("rating"), NumberStyles.Float, CultureInfo.InvariantCulture, out var rating) || !double.IsFinite(rating))
            {
                throw new AttuneInputException($"'{Field("rating")}' is not a number", name, line, "rating");
            }

            foreach (var c in (string[])["participant", "arm"])
            {
                if (string.IsNullOrWhiteSpace(Field(c)))
                {
                    throw new AttuneInputException("empty", name, line, c);
                }
            }

            rows.Add(new Response(Field("participant"), Field("condition"), round, Field("arm"), rating, item >= 0 ? f[item] : ""));
        }

        return rows;
    }

    /// <summary>Writes responses as CSV with the study export's leading columns.</summary>
    public static void Write(TextWriter writer, IEnumerable<Response> responses)
    {
        ArgumentNullException.ThrowIfNull(writer);
        ArgumentNullException.ThrowIfNull(responses);
        writer.WriteLine("participant,condition,round,arm,item_id,rating");
        foreach (var r in responses)
        {
            writer.WriteLine(string.Join(',', Quote(r.Participant), Quote(r.Condition), r.Round.ToString(CultureInfo.InvariantCulture),
                Quote(r.Arm), Quote(r.ItemId), r.Rating.ToString("R", CultureInfo.InvariantCulture)));
        }
    }

    /// <summary>A CSV field, quoted when it holds a comma, quote or line break.</summary>
    public static string Quote(string value)
    {
        ArgumentNullException.ThrowIfNull(value);
        return value.AsSpan().IndexOfAny(",\"\r\n") >= 0 ? "\"" + value.Replace("\"", "\"\"", StringComparison.Ordinal) + "\"" : value;
    }

    private static List<string> Split(string line, string name, long lineNumber)
    {
        var fields = new List<string>();
        var sb = new StringBuilder();
        var quoted = false;
        for (var i = 0; i < line.Length; i++)
        {
            var c = line[i];
            if (quoted)
            {
                if (c == '"' && i + 1 < line.Length && line[i + 1] == '"')
                {
                    sb.Append('"');
                    i++;
                }
                else if (c == '"')
                {
                    quoted = false;
                }
                else
                {
                    sb.Append(c);
                }
            }
            else if (c == '"' && sb.Length == 0)
            {
                quoted = true;
            }
            else if (c == ',')
            {
                fields.Add(sb.ToString());
                sb.Clear();
            }
            else
            {
                sb.Append(c);
            }
        }

        if (quoted)
        {
            throw new AttuneInputException("unterminated quoted field", name, lineNumber);
        }

        fields.Add(sb.ToString());
        return fields;
    }
}

using System.Text.Encodings.Web;
using System.Text.Json;
using System.Text.Json.Nodes;
using Attune.Core.Errors;
using Attune.Core.IO;

namespace Attune.Reasoning;

/// <summary>
/// Reading and writing CoT data: LLaMA-Factory's alpaca JSON (an array of objects with
/// <c>instruction</c>, <c>input</c>, <c>output</c>; other fields kept as they are) — the paper's data
/// format — and JSON lines of the same objects.
/// </summary>
public static class CotData
{
    private static readonly JsonSerializerOptions Indented = new() { WriteIndented = true, Encoder = JavaScriptEncoder.UnsafeRelaxedJsonEscaping };

    /// <summary>One-line JSON with non-ASCII text and markup characters written as they are.</summary>
    internal static readonly JsonSerializerOptions Compact = new() { Encoder = JavaScriptEncoder.UnsafeRelaxedJsonEscaping };

    /// <summary>Reads a file: a JSON array (alpaca) when its first non-blank character is '[', else JSON lines. Every example needs string <c>instruction</c> and <c>output</c>.</summary>
    public static IReadOnlyList<JsonObject> Read(string path)
    {
        if (!File.Exists(path))
        {
            throw new AttuneInputException("not found", path);
        }

        var text = File.ReadAllText(path);
        var items = new List<(long Line, JsonObject Item)>();
        if (text.TrimStart().StartsWith('['))
        {
            JsonArray array;
            try
            {
                array = JsonNode.Parse(text)?.AsArray() ?? throw new AttuneInputException("empty", path);
            }
            catch (Exception ex) when (ex is JsonException or InvalidOperationException)
            {
                throw new AttuneInputException($"not a JSON array of examples: {ex.Message}", path);
            }

            for (var i = 0; i < array.Count; i++)
            {
                items.Add((i + 1, array[i] as JsonObject ?? throw new AttuneInputException($"example {i + 1} is not an object", path)));
            }
        }
        else
        {
            foreach (var (line, element) in JsonLines.ReadElements(path))
            {
                items.Add((line, JsonNode.Parse(element.GetRawText()) as JsonObject ?? throw new AttuneInputException("each line must be a JSON object", path, line)));
            }
        }

        if (items.Count == 0)
        {
            throw new AttuneInputException("no examples", path);
        }

        foreach (var (line, item) in items)
        {
            foreach (var field in new[] { "instruction", "output" })
            {
                if (item[field] is not JsonValue v || v.GetValueKind() != JsonValueKind.String)
                {
                    throw new AttuneInputException(item.ContainsKey(field) ? "must be a string" : "missing", path, line, field);
                }
            }
        }

        return [.. items.Select(i => i.Item)];
    }

    /// <summary>Writes <paramref name="items"/> atomically: alpaca JSON (indented) for a <c>.json</c> path, JSON lines otherwise.</summary>
    public static void Write(string path, IEnumerable<JsonObject> items)
    {
        ArgumentNullException.ThrowIfNull(items);
        var list = items.ToList();
        if (path.EndsWith(".json", StringComparison.OrdinalIgnoreCase))
        {
            var array = new JsonArray([.. list.Select(i => (JsonNode)i.DeepClone())]);
            AtomicFile.WriteAllText(path, array.ToJsonString(Indented) + "\n");
        }
        else
        {
            AtomicFile.WriteAllText(path, string.Concat(list.Select(i => i.ToJsonString(Compact) + "\n")));
        }
    }

    /// <summary>An example as an alpaca object: instruction, input (empty), output, then task, form and the answer label.</summary>
    public static JsonObject ToJson(CotExample example) => new()
    {
        ["instruction"] = example.Instruction,
        ["input"] = "",
        ["output"] = example.Output,
        ["task"] = example.Task,
        ["form"] = example.Form,
        ["answer_label"] = example.Answer,
    };
}

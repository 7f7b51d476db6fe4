using System.Text.Json;
using Attune.Core.Errors;

namespace Attune.Torch.Tokenizers;

/// <summary>Reads a JSON tokenizer file, turning every problem into an <see cref="AttuneInputException"/> naming the file and field.</summary>
internal sealed class TokenizerJson(string file)
{
    public string File { get; } = file;

    public static JsonDocument Parse(string file) => Core.IO.JsonFile.Parse(file);

    public AttuneInputException Error(string field, string detail) => new(detail, File, field: field);

    public JsonElement Object(JsonElement parent, string name, string path)
    {
        if (!parent.TryGetProperty(name, out var value) || value.ValueKind == JsonValueKind.Null)
        {
            throw Error(path, "is missing");
        }

        if (value.ValueKind != JsonValueKind.Object)
        {
            throw Error(path, $"must be an object, not {Describe(value)}");
        }

        return value;
    }

    /// <summary>The property, or null when it is absent or JSON null.</summary>
    public static JsonElement? Optional(JsonElement parent, string name) =>
        parent.ValueKind == JsonValueKind.Object && parent.TryGetProperty(name, out var value) && value.ValueKind != JsonValueKind.Null ? value : null;

    public string String(JsonElement parent, string name, string path)
    {
        var value = Optional(parent, name) ?? throw Error(path, "is missing");
        return value.ValueKind == JsonValueKind.String ? value.GetString()! : throw Error(path, $"must be a string, not {Describe(value)}");
    }

    public string? OptionalString(JsonElement parent, string name, string path)
    {
        var value = Optional(parent, name);
        return value is null ? null : value.Value.ValueKind == JsonValueKind.String ? value.Value.GetString() : throw Error(path, $"must be a string, not {Describe(value.Value)}");
    }

    public bool Bool(JsonElement parent, string name, string path, bool fallback)
    {
        var value = Optional(parent, name);
        return value is null ? fallback : value.Value.ValueKind switch
        {
            JsonValueKind.True => true,
            JsonValueKind.False => false,
            _ => throw Error(path, $"must be true or false, not {Describe(value.Value)}"),
        };
    }

    public int Int(JsonElement value, string path) =>
        value.ValueKind == JsonValueKind.Number && value.TryGetInt32(out var n) && n >= 0 ? n : throw Error(path, $"must be a non-negative integer, not {Describe(value)}");

    public JsonElement Array(JsonElement parent, string name, string path)
    {
        var value = Optional(parent, name) ?? throw Error(path, "is missing");
        return value.ValueKind == JsonValueKind.Array ? value : throw Error(path, $"must be an array, not {Describe(value)}");
    }

    public static string Describe(JsonElement value) => value.ValueKind switch
    {
        JsonValueKind.Object => "an object",
        JsonValueKind.Array => "an array",
        JsonValueKind.String => $"the string \"{Shorten(value.GetString()!)}\"",
        JsonValueKind.Number => $"the number {value.GetRawText()}",
        JsonValueKind.True or JsonValueKind.False => value.GetRawText(),
        _ => "null",
    };

    private static string Shorten(string s) => s.Length <= 40 ? s : s[..40] + "…";
}

using System.Text.Json;
using System.Text.Json.Nodes;
using System.Text.RegularExpressions;
using Attune.Core.Errors;

namespace Attune.Core.IO;

/// <summary>
/// Whole JSON files (configs, manifests, tokenizers): every problem — missing, unreadable, empty,
/// not JSON — is an <see cref="AttuneInputException"/> naming the file and, for syntax errors, the line.
/// </summary>
public static partial class JsonFile
{
    /// <summary>
    /// The reason <paramref name="e"/> gives, for people: without its "Path: … | LineNumber: …" tail
    /// (zero-based; the caller names the file and the one-based line) and without .NET type names
    /// ("could not be converted to System.Int32" reads "expected a whole number").
    /// </summary>
    public static string Describe(JsonException e)
    {
        ArgumentNullException.ThrowIfNull(e);
        var message = e.Message.Split('\n')[0];
        foreach (var tail in new[] { " Path: ", " LineNumber:", " | " })
        {
            if (message.IndexOf(tail, StringComparison.Ordinal) is var cut and >= 0)
            {
                message = message[..cut];
            }
        }

        message = message.Trim().TrimEnd('.');
        var field = string.IsNullOrEmpty(e.Path) || e.Path == "$" ? null : e.Path.TrimStart('$').TrimStart('.');
        if (message.Contains("could not be mapped to any .NET member", StringComparison.Ordinal))
        {
            return field is null ? "unknown field" : $"unknown field '{field}'";
        }

        if (ConvertedTo().Match(message) is { Success: true } converted)
        {
            return "expected " + Friendly(converted.Groups["type"].Value);
        }

        return TypeName().Replace(message, m => Friendly(m.Value));
    }

    private static string Friendly(string type)
    {
        var inner = NullableOf().Match(type) is { Success: true } n ? n.Groups["type"].Value : type;
        return inner.Split('.')[^1].TrimEnd(']') switch
        {
            "Int32" or "Int64" or "Int16" or "UInt32" or "UInt64" or "Byte" => "a whole number",
            "Double" or "Single" or "Decimal" => "a number",
            "String" => "a string",
            "Boolean" => "true or false",
            "DateTimeOffset" or "DateTime" => "a date and time",
            var other when other.EndsWith("[]", StringComparison.Ordinal) || other.Contains("List", StringComparison.Ordinal) => "an array",
            _ => "a value of the documented form",
        };
    }

    [GeneratedRegex(@"could not be converted to (?<type>\S+)$")]
    private static partial Regex ConvertedTo();

    [GeneratedRegex(@"Nullable`1\[(?<type>[^\]]+)\]")]
    private static partial Regex NullableOf();

    [GeneratedRegex(@"\b(System|Attune|Microsoft)\.[\w.`\[\]]+")]
    private static partial Regex TypeName();

    /// <summary>Parses the file at <paramref name="path"/>; a UTF-8 byte-order mark is allowed.</summary>
    public static JsonDocument Parse(string path, int maxDepth = 256)
    {
        var bytes = ReadBytes(path);
        try
        {
            return JsonDocument.Parse(bytes.AsMemory(BomLength(bytes)), new JsonDocumentOptions { MaxDepth = maxDepth });
        }
        catch (JsonException e)
        {
            throw Invalid(path, e);
        }
    }

    /// <summary>Parses the file at <paramref name="path"/> as a mutable JSON object.</summary>
    public static JsonObject ParseObject(string path)
    {
        var bytes = ReadBytes(path);
        JsonNode? node;
        try
        {
            node = JsonNode.Parse(bytes.AsSpan(BomLength(bytes)));
        }
        catch (JsonException e)
        {
            throw Invalid(path, e);
        }

        return node as JsonObject ?? throw new AttuneInputException("not a JSON object", path);
    }

    private static byte[] ReadBytes(string path)
    {
        if (!File.Exists(path))
        {
            throw AttuneInputException.FileNotFound(path);
        }

        byte[] bytes;
        try
        {
            bytes = File.ReadAllBytes(path);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            throw new AttuneInputException($"cannot read the file: {e.Message}", path, inner: e);
        }

        if (bytes.Length - BomLength(bytes) == 0)
        {
            throw new AttuneInputException("the file is empty", path);
        }

        return bytes;
    }

    private static int BomLength(byte[] bytes) => bytes.AsSpan().StartsWith("\uFEFF"u8) ? 3 : 0;

    private static AttuneInputException Invalid(string path, JsonException e)
    {
        return new AttuneInputException($"not valid JSON ({Describe(e)})", path, (e.LineNumber ?? 0) + 1, inner: e);
    }
}

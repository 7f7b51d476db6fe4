using System.Text.Json;
using System.Text.Json.Nodes;
using Attune.Core.Errors;

namespace Attune.Core.IO;

/// <summary>
/// Whole JSON files (configs, manifests, tokenizers): every problem — missing, unreadable, empty,
/// not JSON — is an <see cref="AttuneInputException"/> naming the file and, for syntax errors, the line.
/// </summary>
public static class JsonFile
{
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
            throw new AttuneInputException(Directory.Exists(path) ? "is a folder, not a file" : "file not found", path);
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
        var detail = e.Message.Split(". ")[0].Split(" LineNumber:")[0].TrimEnd('.');
        return new AttuneInputException($"not valid JSON ({detail})", path, (e.LineNumber ?? 0) + 1, inner: e);
    }
}

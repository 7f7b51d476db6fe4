using System.Text.Json;

namespace Attune.Torch.Tokenizers;

/// <summary>Loads whichever tokenizer a <c>tokenizer.json</c> holds.</summary>
/// <remarks>Named after Hugging Face's AutoTokenizer; a class named <c>Tokenizers</c> would be hidden by this namespace in callers under <c>Attune.Torch</c>.</remarks>
public static class AutoTokenizer
{
    /// <summary>
    /// Reads <paramref name="path"/> (a <c>tokenizer.json</c>, or a model folder holding one): Attune's
    /// own character tokenizer (<c>"type": "CharTokenizer"</c>) or a Hugging Face BPE tokenizer.
    /// </summary>
    /// <exception cref="Core.Errors.AttuneInputException">The file is missing, not JSON, or of an unsupported kind.</exception>
    public static ITokenizer Load(string path)
    {
        ArgumentNullException.ThrowIfNull(path);
        var file = Directory.Exists(path) ? Path.Combine(path, "tokenizer.json") : path;
        using var document = TokenizerJson.Parse(file);
        var json = new TokenizerJson(file);
        var root = document.RootElement;
        if (root.ValueKind == JsonValueKind.Object
            && root.TryGetProperty("type", out var type) && type.ValueKind == JsonValueKind.String
            && type.GetString() == CharTokenizer.FileType)
        {
            return CharTokenizer.FromJson(root, json);
        }

        return BpeTokenizer.FromJson(root, json);
    }
}

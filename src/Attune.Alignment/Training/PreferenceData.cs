using System.Text.Json;
using Attune.Core.Errors;
using Attune.Core.IO;
using Attune.Torch.Tokenizers;

namespace Attune.Alignment.Training;

/// <summary>One preference pair: a prompt, the preferred and the dispreferred response, and any other fields of its line (e.g. <c>user</c>, <c>difficulty</c>).</summary>
public sealed record PreferenceExample(string Prompt, string Chosen, string Rejected, IReadOnlyDictionary<string, JsonElement> Extra, long Line);

/// <summary>A pair encoded: prompt, chosen and rejected ids, each encoded separately (ids = ids(prompt) + ids(response)).</summary>
public sealed record PreferenceTokens(int[] Prompt, int[] Chosen, int[] Rejected)
{
    /// <summary>The longer of the two sequences: what a batch pads to.</summary>
    public int Length => Prompt.Length + Math.Max(Chosen.Length, Rejected.Length);
}

/// <summary>Reading preference data: JSON lines <c>{"prompt": "…", "chosen": "…", "rejected": "…", …}</c>.</summary>
public static class PreferenceData
{
    /// <summary>Reads every pair; a malformed line is an <see cref="AttuneInputException"/> naming the file, line and field.</summary>
    public static IReadOnlyList<PreferenceExample> Read(string path)
    {
        var result = new List<PreferenceExample>();
        foreach (var (line, element) in JsonLines.ReadElements(path))
        {
            if (element.ValueKind != JsonValueKind.Object)
            {
                throw new AttuneInputException("each line must be a JSON object with \"prompt\", \"chosen\" and \"rejected\"", path, line);
            }

            string Field(string name)
            {
                if (!element.TryGetProperty(name, out var value))
                {
                    throw new AttuneInputException("missing", path, line, name);
                }

                return value.ValueKind == JsonValueKind.String
                    ? value.GetString()!
                    : throw new AttuneInputException($"must be a string, not {value.ValueKind.ToString().ToLowerInvariant()}", path, line, name);
            }

            var (prompt, chosen, rejected) = (Field("prompt"), Field("chosen"), Field("rejected"));
            var extra = element.EnumerateObject().Where(p => p.Name is not ("prompt" or "chosen" or "rejected"))
                .ToDictionary(p => p.Name, p => p.Value.Clone(), StringComparer.Ordinal);
            result.Add(new PreferenceExample(prompt, chosen, rejected, extra, line));
        }

        return result.Count == 0 ? throw new AttuneInputException("no preference pairs", path) : result;
    }

    /// <summary>Encodes pairs (EOS appended to both responses when asked); every part must give at least one token.</summary>
    public static IReadOnlyList<PreferenceTokens> Encode(IReadOnlyList<PreferenceExample> examples, ITokenizer tokenizer, string path, bool appendEos = false, int maxLength = 0)
    {
        var eos = appendEos ? tokenizer.EosTokenId : null;
        var result = new List<PreferenceTokens>(examples.Count);
        foreach (var e in examples)
        {
            var prompt = tokenizer.Encode(e.Prompt);
            var chosen = tokenizer.Encode(e.Chosen);
            var rejected = tokenizer.Encode(e.Rejected);
            if (eos is int id)
            {
                (chosen, rejected) = ([.. chosen, id], [.. rejected, id]);
            }

            var empty = prompt.Length == 0 ? "prompt" : chosen.Length == 0 ? "chosen" : rejected.Length == 0 ? "rejected" : null;
            if (empty is not null)
            {
                throw new AttuneInputException("encodes to no tokens", path, e.Line, empty);
            }

            var tokens = new PreferenceTokens(prompt, chosen, rejected);
            if (maxLength > 0 && tokens.Length > maxLength)
            {
                throw new AttuneInputException($"{tokens.Length} tokens, more than the model's maximum of {maxLength}", path, e.Line);
            }

            result.Add(tokens);
        }

        return result;
    }
}

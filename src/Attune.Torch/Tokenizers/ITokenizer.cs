namespace Attune.Torch.Tokenizers;

/// <summary>
/// Text to token ids and back. Implementations are safe to use from several threads at once.
/// </summary>
public interface ITokenizer
{
    /// <summary>One more than the highest id this tokenizer can produce (model vocabulary and added tokens).</summary>
    int VocabSize { get; }

    /// <summary>The beginning-of-sequence token id, where the tokenizer defines one.</summary>
    int? BosTokenId { get; }

    /// <summary>The end-of-sequence token id, where the tokenizer defines one.</summary>
    int? EosTokenId { get; }

    /// <summary>The padding token id, where the tokenizer defines one.</summary>
    int? PadTokenId { get; }

    /// <summary>Special tokens by their text (for example <c>&lt;|im_end|&gt;</c> or <c>&lt;eos&gt;</c>) and their ids.</summary>
    IReadOnlyDictionary<string, int> SpecialTokens { get; }

    /// <summary>Token ids of <paramref name="text"/>; with <paramref name="addSpecialTokens"/> the tokenizer's template (BOS, EOS, …) is applied where it has one.</summary>
    int[] Encode(string text, bool addSpecialTokens = false);

    /// <summary>The text of <paramref name="ids"/>; with <paramref name="skipSpecialTokens"/> special tokens are left out.</summary>
    string Decode(IReadOnlyList<int> ids, bool skipSpecialTokens = false);

    /// <summary>The token string of <paramref name="id"/> (in the vocabulary's own spelling, e.g. <c>Ġthe</c> for byte-level BPE), or null when the id is unknown.</summary>
    string? IdToToken(int id);

    /// <summary>The id of a token string (in the vocabulary's own spelling), or null when it is not in the vocabulary.</summary>
    int? TokenToId(string token);
}

/// <summary>Conveniences over <see cref="ITokenizer"/>.</summary>
public static class TokenizerExtensions
{
    /// <summary>The token strings of <paramref name="ids"/> (unknown ids give an empty string).</summary>
    public static string[] IdsToTokens(this ITokenizer tokenizer, IReadOnlyList<int> ids)
    {
        ArgumentNullException.ThrowIfNull(tokenizer);
        ArgumentNullException.ThrowIfNull(ids);
        var tokens = new string[ids.Count];
        for (var i = 0; i < tokens.Length; i++)
        {
            tokens[i] = tokenizer.IdToToken(ids[i]) ?? "";
        }

        return tokens;
    }

    /// <summary>The token strings of <paramref name="text"/> (no special tokens added).</summary>
    public static string[] Tokenize(this ITokenizer tokenizer, string text)
    {
        ArgumentNullException.ThrowIfNull(tokenizer);
        return tokenizer.IdsToTokens(tokenizer.Encode(text));
    }

    /// <summary>The id of the named special token, or null when the tokenizer has no such special token.</summary>
    public static int? SpecialTokenId(this ITokenizer tokenizer, string token)
    {
        ArgumentNullException.ThrowIfNull(tokenizer);
        return tokenizer.SpecialTokens.TryGetValue(token, out var id) ? id : null;
    }
}

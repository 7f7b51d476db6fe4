using System.Text;
using System.Text.Json;
using System.Text.RegularExpressions;
using Attune.Core.Errors;

namespace Attune.Torch.Tokenizers;

/// <summary>
/// A Hugging Face <c>tokenizer.json</c> with a BPE model, as the GPT-2, Qwen2 and Llama-3 families
/// ship it (byte-level BPE). Encoding runs Hugging Face's pipeline: added tokens are split out,
/// the rest is normalized, pre-tokenized, and each piece is merged by BPE; a post-processor adds
/// special tokens on request. Decoding maps tokens back to bytes and reads them as UTF-8.
/// </summary>
public sealed class BpeTokenizer : ITokenizer
{
    // Ids index an array; a file with a wild id must not make it enormous.
    private const int MaxId = 1 << 24;

    private readonly BpeModel _model;
    private readonly Dictionary<string, int> _vocab;
    private readonly string?[] _idToToken;
    private readonly Dictionary<int, AddedToken> _addedById;
    private readonly Dictionary<string, int> _addedByContent;
    private readonly AddedTokenMatcher _rawMatcher;
    private readonly AddedTokenMatcher _normalizedMatcher;
    private readonly Normalizer? _normalizer;
    private readonly PreTokenizer? _preTokenizer;
    private readonly PostProcessor? _postProcessor;
    private readonly bool _byteLevelDecoder;
    private readonly Dictionary<string, int> _specialTokens;

    private BpeTokenizer(
        BpeModel model,
        Dictionary<string, int> vocab,
        IReadOnlyList<AddedToken> added,
        Normalizer? normalizer,
        PreTokenizer? preTokenizer,
        PostProcessor? postProcessor,
        bool byteLevelDecoder)
    {
        _model = model;
        _vocab = vocab;
        _normalizer = normalizer;
        _preTokenizer = preTokenizer;
        _postProcessor = postProcessor;
        _byteLevelDecoder = byteLevelDecoder;
        _addedById = [];
        _addedByContent = new Dictionary<string, int>(StringComparer.Ordinal);
        foreach (var token in added)
        {
            _addedById[token.Id] = token;
            _addedByContent.TryAdd(token.Content, token.Id);
        }

        AddedTokens = [.. added];
        // As Hugging Face: tokens marked normalized are looked for, in their normalized spelling,
        // in the normalized text; the others in the raw text, first.
        _rawMatcher = new AddedTokenMatcher(added.Where(t => !t.Normalized).Select(t => (t.Content, t)));
        _normalizedMatcher = new AddedTokenMatcher(added.Where(t => t.Normalized).Select(t => (normalizer?.Normalize(t.Content) ?? t.Content, t)));
        var maxId = Math.Max(vocab.Count == 0 ? -1 : vocab.Values.Max(), added.Count == 0 ? -1 : added.Max(t => t.Id));
        _idToToken = new string?[maxId + 1];
        foreach (var (token, id) in vocab)
        {
            _idToToken[id] = token;
        }

        foreach (var token in added)
        {
            _idToToken[token.Id] = token.Content;
        }

        _specialTokens = added.Where(t => t.Special).ToDictionary(t => t.Content, t => t.Id, StringComparer.Ordinal);
    }

    /// <summary>The file this tokenizer was read from.</summary>
    public string Path { get; private init; } = "";

    /// <summary>The added tokens (special and not) in file order.</summary>
    public IReadOnlyList<AddedToken> AddedTokens { get; }

    public int VocabSize => _idToToken.Length;

    public int? BosTokenId { get; private set; }

    public int? EosTokenId { get; private set; }

    public int? PadTokenId { get; private set; }

    public IReadOnlyDictionary<string, int> SpecialTokens => _specialTokens;

    public string? IdToToken(int id) => id >= 0 && id < _idToToken.Length ? _idToToken[id] : null;

    public int? TokenToId(string token)
    {
        ArgumentNullException.ThrowIfNull(token);
        return _addedByContent.TryGetValue(token, out var added) ? added : _vocab.TryGetValue(token, out var id) ? id : null;
    }

    public int[] Encode(string text, bool addSpecialTokens = false)
    {
        ArgumentNullException.ThrowIfNull(text);
        var ids = new List<int>(text.Length / 3 + 4);
        var segments = new List<Segment>();
        _rawMatcher.Split(new Segment(text, 0, text.Length, null), segments);
        var normalizedSegments = new List<Segment>(segments.Count);
        foreach (var segment in segments)
        {
            if (segment.Token is null && _normalizer is not null)
            {
                var normalized = _normalizer.Normalize(segment.Text.Substring(segment.Start, segment.Length));
                _normalizedMatcher.Split(new Segment(normalized, 0, normalized.Length, null), normalizedSegments);
            }
            else
            {
                _normalizedMatcher.Split(segment, normalizedSegments);
            }
        }

        var pieces = new List<Piece>();
        foreach (var segment in normalizedSegments)
        {
            if (segment.Token is not null)
            {
                ids.Add(segment.Token.Id);
                continue;
            }

            var piece = new Piece(segment.Text, segment.Start, segment.Length);
            if (_preTokenizer is null)
            {
                _model.Encode(piece.Span, ids);
                continue;
            }

            pieces.Clear();
            _preTokenizer.Split(piece, pieces);
            foreach (var p in pieces)
            {
                _model.Encode(p.Span, ids);
            }
        }

        var result = ids.ToArray();
        return addSpecialTokens && _postProcessor is not null ? _postProcessor.Process(result) : result;
    }

    public string Decode(IReadOnlyList<int> ids, bool skipSpecialTokens = false)
    {
        ArgumentNullException.ThrowIfNull(ids);
        if (_byteLevelDecoder)
        {
            var bytes = new List<byte>(ids.Count * 4);
            foreach (var id in ids)
            {
                var token = TokenFor(id, skipSpecialTokens);
                if (token is not null)
                {
                    ByteLevel.AppendTokenBytes(token, bytes);
                }
            }

            // Invalid UTF-8 becomes U+FFFD, one per maximal invalid subsequence, as Rust's from_utf8_lossy.
            return Encoding.UTF8.GetString(System.Runtime.InteropServices.CollectionsMarshal.AsSpan(bytes));
        }

        // No decoder: Hugging Face joins the token strings with spaces.
        var tokens = new List<string>(ids.Count);
        foreach (var id in ids)
        {
            if (TokenFor(id, skipSpecialTokens) is string token)
            {
                tokens.Add(token);
            }
        }

        return string.Join(' ', tokens);
    }

    /// <summary>
    /// The bytes one token adds to the decoded text: for a byte-level tokenizer its raw bytes (which may
    /// be part of a character), else the UTF-8 of its decoded text. Empty for an unknown id.
    /// </summary>
    public byte[] TokenBytes(int id)
    {
        if (TokenFor(id, skipSpecialTokens: false) is not { } token)
        {
            return [];
        }

        if (!_byteLevelDecoder)
        {
            return Encoding.UTF8.GetBytes(Decode([id]));
        }

        var bytes = new List<byte>(token.Length);
        ByteLevel.AppendTokenBytes(token, bytes);
        return [.. bytes];
    }

    private string? TokenFor(int id, bool skipSpecialTokens)
    {
        if (_addedById.TryGetValue(id, out var added))
        {
            return skipSpecialTokens && added.Special ? null : added.Content;
        }

        return IdToToken(id);
    }

    /// <summary>
    /// Reads a Hugging Face <c>tokenizer.json</c> (or the one in a model folder). BOS, EOS and PAD
    /// come from a <c>tokenizer_config.json</c> beside it where there is one, else from the usual
    /// special-token names (<c>&lt;|begin_of_text|&gt;</c>, <c>&lt;s&gt;</c>, <c>&lt;|endoftext|&gt;</c>, …).
    /// </summary>
    /// <exception cref="AttuneInputException">The file is missing, not JSON, or not a supported BPE tokenizer.</exception>
    public static BpeTokenizer Load(string path)
    {
        ArgumentNullException.ThrowIfNull(path);
        var file = Directory.Exists(path) ? System.IO.Path.Combine(path, "tokenizer.json") : path;
        using var document = TokenizerJson.Parse(file);
        return FromJson(document.RootElement, new TokenizerJson(file));
    }

    internal static BpeTokenizer FromJson(JsonElement root, TokenizerJson json)
    {
        if (root.ValueKind != JsonValueKind.Object)
        {
            throw json.Error("(root)", $"must be an object, not {TokenizerJson.Describe(root)}");
        }

        var model = json.Object(root, "model", "model");
        var type = json.OptionalString(model, "type", "model.type");
        if (type is null && !(model.TryGetProperty("merges", out _) && model.TryGetProperty("vocab", out _)))
        {
            throw json.Error("model.type", "is missing");
        }

        if (type is not null && type != "BPE")
        {
            throw json.Error("model.type", $"'{type}' is not supported (only BPE)");
        }

        if (json.OptionalString(model, "continuing_subword_prefix", "model.continuing_subword_prefix") is { Length: > 0 })
        {
            throw json.Error("model.continuing_subword_prefix", "is not supported");
        }

        if (json.OptionalString(model, "end_of_word_suffix", "model.end_of_word_suffix") is { Length: > 0 })
        {
            throw json.Error("model.end_of_word_suffix", "is not supported");
        }

        if (TokenizerJson.Optional(model, "dropout") is JsonElement dropout
            && !(dropout.ValueKind == JsonValueKind.Number && dropout.GetDouble() == 0))
        {
            throw json.Error("model.dropout", "BPE dropout is not supported");
        }

        var vocab = ReadVocab(json, model);
        var merges = ReadMerges(json, model, vocab);
        var added = ReadAddedTokens(json, root);
        foreach (var (token, id) in vocab)
        {
            if (id >= MaxId)
            {
                throw json.Error($"model.vocab.{token}", $"id {id} is implausibly large (at most {MaxId - 1})");
            }
        }

        for (var i = 0; i < added.Count; i++)
        {
            if (added[i].Id >= MaxId)
            {
                throw json.Error($"added_tokens[{i}].id", $"id {added[i].Id} is implausibly large (at most {MaxId - 1})");
            }
        }

        int? unkId = null;
        if (json.OptionalString(model, "unk_token", "model.unk_token") is string unk)
        {
            unkId = vocab.TryGetValue(unk, out var u) ? u : added.FirstOrDefault(t => t.Content == unk)?.Id
                ?? throw json.Error("model.unk_token", $"'{unk}' is not in the vocabulary");
        }

        var normalizer = TokenizerJson.Optional(root, "normalizer") is JsonElement n ? ReadNormalizer(json, n, "normalizer") : null;
        var byteLevel = false;
        var preTokenizer = TokenizerJson.Optional(root, "pre_tokenizer") is JsonElement p ? ReadPreTokenizer(json, p, "pre_tokenizer", ref byteLevel, last: true) : null;
        var postProcessor = TokenizerJson.Optional(root, "post_processor") is JsonElement pp ? ReadPostProcessor(json, pp, "post_processor", vocab, added) : null;
        var byteLevelDecoder = TokenizerJson.Optional(root, "decoder") is JsonElement d && ReadDecoder(json, d, "decoder");

        var bpe = new BpeModel(
            vocab,
            merges,
            unkId,
            json.Bool(model, "byte_fallback", "model.byte_fallback", false),
            json.Bool(model, "ignore_merges", "model.ignore_merges", false),
            byteLevel);
        var tokenizer = new BpeTokenizer(bpe, vocab, added, normalizer, preTokenizer, postProcessor, byteLevelDecoder) { Path = json.File };
        tokenizer.ResolveBosEosPad(json.File);
        return tokenizer;
    }

    private static Dictionary<string, int> ReadVocab(TokenizerJson json, JsonElement model)
    {
        var vocabElement = json.Object(model, "vocab", "model.vocab");
        var vocab = new Dictionary<string, int>(StringComparer.Ordinal);
        foreach (var entry in vocabElement.EnumerateObject())
        {
            vocab[entry.Name] = json.Int(entry.Value, $"model.vocab.{entry.Name}");
        }

        return vocab;
    }

    private static Dictionary<long, (int Rank, int NewId)> ReadMerges(TokenizerJson json, JsonElement model, Dictionary<string, int> vocab)
    {
        var mergesElement = json.Array(model, "merges", "model.merges");
        var merges = new Dictionary<long, (int, int)>(mergesElement.GetArrayLength());
        var rank = 0;
        foreach (var merge in mergesElement.EnumerateArray())
        {
            var field = $"model.merges[{rank}]";
            string left, right;
            if (merge.ValueKind == JsonValueKind.String)
            {
                // The older form: "a b", exactly one space.
                var parts = merge.GetString()!.Split(' ');
                if (parts.Length != 2)
                {
                    throw json.Error(field, $"'{merge.GetString()}' must be two tokens separated by one space");
                }

                (left, right) = (parts[0], parts[1]);
            }
            else if (merge.ValueKind == JsonValueKind.Array && merge.GetArrayLength() == 2
                && merge[0].ValueKind == JsonValueKind.String && merge[1].ValueKind == JsonValueKind.String)
            {
                (left, right) = (merge[0].GetString()!, merge[1].GetString()!);
            }
            else
            {
                throw json.Error(field, $"must be \"a b\" or [\"a\", \"b\"], not {TokenizerJson.Describe(merge)}");
            }

            var leftId = vocab.TryGetValue(left, out var l) ? l : throw json.Error(field, $"token '{left}' is not in the vocabulary");
            var rightId = vocab.TryGetValue(right, out var r) ? r : throw json.Error(field, $"token '{right}' is not in the vocabulary");
            var newId = vocab.TryGetValue(left + right, out var m) ? m : throw json.Error(field, $"the merged token '{left + right}' is not in the vocabulary");
            merges.TryAdd(BpeModel.PairKey(leftId, rightId), (rank, newId));
            rank++;
        }

        return merges;
    }

    private static List<AddedToken> ReadAddedTokens(TokenizerJson json, JsonElement root)
    {
        var result = new List<AddedToken>();
        if (TokenizerJson.Optional(root, "added_tokens") is not JsonElement array)
        {
            return result;
        }

        if (array.ValueKind != JsonValueKind.Array)
        {
            throw json.Error("added_tokens", $"must be an array, not {TokenizerJson.Describe(array)}");
        }

        var i = 0;
        foreach (var t in array.EnumerateArray())
        {
            var field = $"added_tokens[{i++}]";
            if (t.ValueKind != JsonValueKind.Object)
            {
                throw json.Error(field, $"must be an object, not {TokenizerJson.Describe(t)}");
            }

            var id = json.Int(TokenizerJson.Optional(t, "id") ?? throw json.Error(field + ".id", "is missing"), field + ".id");
            result.Add(new AddedToken(
                id,
                json.String(t, "content", field + ".content"),
                json.Bool(t, "special", field + ".special", false),
                json.Bool(t, "single_word", field + ".single_word", false),
                json.Bool(t, "lstrip", field + ".lstrip", false),
                json.Bool(t, "rstrip", field + ".rstrip", false),
                json.Bool(t, "normalized", field + ".normalized", false)));
        }

        return result;
    }

    private static Normalizer ReadNormalizer(TokenizerJson json, JsonElement element, string path)
    {
        if (element.ValueKind != JsonValueKind.Object)
        {
            throw json.Error(path, $"must be an object, not {TokenizerJson.Describe(element)}");
        }

        var type = json.String(element, "type", path + ".type");
        switch (type)
        {
            case "NFC": return new UnicodeNormalizer(NormalizationForm.FormC);
            case "NFD": return new UnicodeNormalizer(NormalizationForm.FormD);
            case "NFKC": return new UnicodeNormalizer(NormalizationForm.FormKC);
            case "NFKD": return new UnicodeNormalizer(NormalizationForm.FormKD);
            case "Lowercase": return new LowercaseNormalizer();
            case "Prepend": return new PrependNormalizer(json.String(element, "prepend", path + ".prepend"));
            case "Replace":
                return new ReplaceNormalizer(ReadPattern(json, element, path), json.String(element, "content", path + ".content"));
            case "Sequence":
            {
                var steps = new List<Normalizer>();
                var i = 0;
                foreach (var step in json.Array(element, "normalizers", path + ".normalizers").EnumerateArray())
                {
                    steps.Add(ReadNormalizer(json, step, $"{path}.normalizers[{i++}]"));
                }

                return new SequenceNormalizer(steps);
            }

            default:
                throw json.Error(path + ".type", $"normalizer '{type}' is not supported (supported: NFC, NFD, NFKC, NFKD, Lowercase, Prepend, Replace, Sequence)");
        }
    }

    private static Regex ReadPattern(TokenizerJson json, JsonElement element, string path)
    {
        var pattern = json.Object(element, "pattern", path + ".pattern");
        if (json.OptionalString(pattern, "String", path + ".pattern.String") is string literal)
        {
            return RegexPatterns.Get(Regex.Escape(literal));
        }

        var regex = json.OptionalString(pattern, "Regex", path + ".pattern.Regex") ?? throw json.Error(path + ".pattern", "must have 'String' or 'Regex'");
        try
        {
            return RegexPatterns.Get(regex);
        }
        catch (ArgumentException e)
        {
            throw json.Error(path + ".pattern.Regex", $"not a regular expression .NET can run: {e.Message}");
        }
    }

    private static PreTokenizer ReadPreTokenizer(TokenizerJson json, JsonElement element, string path, ref bool byteLevel, bool last)
    {
        if (element.ValueKind != JsonValueKind.Object)
        {
            throw json.Error(path, $"must be an object, not {TokenizerJson.Describe(element)}");
        }

        if (byteLevel)
        {
            throw json.Error(path, "a pre-tokenizer after ByteLevel is not supported");
        }

        var type = json.String(element, "type", path + ".type");
        switch (type)
        {
            case "ByteLevel":
                if (!last)
                {
                    throw json.Error(path, "ByteLevel must be the last pre-tokenizer");
                }

                byteLevel = true;
                return new ByteLevelPreTokenizer(
                    json.Bool(element, "add_prefix_space", path + ".add_prefix_space", true),
                    json.Bool(element, "use_regex", path + ".use_regex", true));
            case "Split":
            {
                var behaviorName = json.String(element, "behavior", path + ".behavior");
                if (!Enum.TryParse<SplitBehavior>(behaviorName, ignoreCase: false, out var behavior) || !Enum.IsDefined(behavior))
                {
                    throw json.Error(path + ".behavior", $"'{behaviorName}' is not one of Removed, Isolated, MergedWithPrevious, MergedWithNext, Contiguous");
                }

                return new SplitPreTokenizer(ReadPattern(json, element, path), behavior, json.Bool(element, "invert", path + ".invert", false));
            }

            case "Digits":
                return json.Bool(element, "individual_digits", path + ".individual_digits", false)
                    ? new SplitPreTokenizer(RegexPatterns.Get(@"\p{N}"), SplitBehavior.Isolated, invert: false)
                    : new SplitPreTokenizer(RegexPatterns.Get(@"\p{N}+"), SplitBehavior.Isolated, invert: false);
            case "Whitespace":
                return new SplitPreTokenizer(RegexPatterns.Get(@"\w+|[^\w\s]+"), SplitBehavior.Removed, invert: true);
            case "WhitespaceSplit":
                return new SplitPreTokenizer(RegexPatterns.Get(@"\s+"), SplitBehavior.Removed, invert: false);
            case "Sequence":
            {
                var steps = new List<PreTokenizer>();
                var array = json.Array(element, "pretokenizers", path + ".pretokenizers");
                var count = array.GetArrayLength();
                var i = 0;
                foreach (var step in array.EnumerateArray())
                {
                    steps.Add(ReadPreTokenizer(json, step, $"{path}.pretokenizers[{i}]", ref byteLevel, last && i == count - 1));
                    i++;
                }

                return new SequencePreTokenizer(steps);
            }

            default:
                throw json.Error(path + ".type", $"pre-tokenizer '{type}' is not supported (supported: ByteLevel, Split, Digits, Whitespace, WhitespaceSplit, Sequence)");
        }
    }

    private static PostProcessor ReadPostProcessor(TokenizerJson json, JsonElement element, string path, Dictionary<string, int> vocab, List<AddedToken> added)
    {
        if (element.ValueKind != JsonValueKind.Object)
        {
            throw json.Error(path, $"must be an object, not {TokenizerJson.Describe(element)}");
        }

        var type = json.String(element, "type", path + ".type");
        switch (type)
        {
            case "ByteLevel":
                return new IdentityPostProcessor();
            case "TemplateProcessing":
            {
                var specials = TokenizerJson.Optional(element, "special_tokens");
                var items = new List<int[]?>();
                var i = 0;
                foreach (var item in json.Array(element, "single", path + ".single").EnumerateArray())
                {
                    var field = $"{path}.single[{i++}]";
                    if (TokenizerJson.Optional(item, "Sequence") is not null)
                    {
                        items.Add(null);
                        continue;
                    }

                    var special = TokenizerJson.Optional(item, "SpecialToken") ?? throw json.Error(field, "must be a Sequence or a SpecialToken");
                    var name = json.String(special, "id", field + ".SpecialToken.id");
                    if (specials is JsonElement table && TokenizerJson.Optional(table, name) is JsonElement entry)
                    {
                        var idsArray = json.Array(entry, "ids", $"{path}.special_tokens.{name}.ids");
                        items.Add([.. idsArray.EnumerateArray().Select(e => json.Int(e, $"{path}.special_tokens.{name}.ids"))]);
                    }
                    else
                    {
                        var id = added.FirstOrDefault(t => t.Content == name)?.Id ?? (vocab.TryGetValue(name, out var v) ? v : (int?)null);
                        items.Add(id is int known ? [known] : throw json.Error(field, $"special token '{name}' is not defined"));
                    }
                }

                return new TemplatePostProcessor(items);
            }

            case "RobertaProcessing":
            case "BertProcessing":
            {
                int Id(string name)
                {
                    var pair = json.Array(element, name, $"{path}.{name}");
                    return pair.GetArrayLength() == 2 ? json.Int(pair[1], $"{path}.{name}[1]") : throw json.Error($"{path}.{name}", "must be [token, id]");
                }

                return new TemplatePostProcessor([[Id("cls")], null, [Id("sep")]]);
            }

            case "Sequence":
            {
                var steps = new List<PostProcessor>();
                var i = 0;
                foreach (var step in json.Array(element, "processors", path + ".processors").EnumerateArray())
                {
                    steps.Add(ReadPostProcessor(json, step, $"{path}.processors[{i++}]", vocab, added));
                }

                return new SequencePostProcessor(steps);
            }

            default:
                throw json.Error(path + ".type", $"post-processor '{type}' is not supported (supported: TemplateProcessing, ByteLevel, RobertaProcessing, BertProcessing, Sequence)");
        }
    }

    /// <summary>Whether the decoder is byte-level (true); without a decoder tokens are joined with spaces.</summary>
    private static bool ReadDecoder(TokenizerJson json, JsonElement element, string path)
    {
        if (element.ValueKind != JsonValueKind.Object)
        {
            throw json.Error(path, $"must be an object, not {TokenizerJson.Describe(element)}");
        }

        var type = json.String(element, "type", path + ".type");
        return type switch
        {
            "ByteLevel" => true,
            _ => throw json.Error(path + ".type", $"decoder '{type}' is not supported (only ByteLevel)"),
        };
    }

    private void ResolveBosEosPad(string file)
    {
        int? Named(params string[] names)
        {
            foreach (var name in names)
            {
                var id = TokenToId(name);
                if (id is not null)
                {
                    return id;
                }
            }

            return null;
        }

        BosTokenId = Named("<|begin_of_text|>", "<s>", "<bos>", "<|startoftext|>");
        EosTokenId = Named("<|end_of_text|>", "<|endoftext|>", "</s>", "<eos>");
        PadTokenId = Named("<pad>", "<|pad|>", "[PAD]");

        var configFile = System.IO.Path.Combine(System.IO.Path.GetDirectoryName(System.IO.Path.GetFullPath(file))!, "tokenizer_config.json");
        if (!File.Exists(configFile))
        {
            return;
        }

        using var document = TokenizerJson.Parse(configFile);
        var config = document.RootElement;
        if (config.ValueKind != JsonValueKind.Object)
        {
            return;
        }

        int? FromConfig(string key, int? fallback)
        {
            if (!config.TryGetProperty(key, out var value))
            {
                return fallback;
            }

            var name = value.ValueKind switch
            {
                JsonValueKind.String => value.GetString(),
                JsonValueKind.Object when value.TryGetProperty("content", out var c) && c.ValueKind == JsonValueKind.String => c.GetString(),
                _ => null,
            };
            return name is null ? null : TokenToId(name);
        }

        BosTokenId = FromConfig("bos_token", BosTokenId);
        EosTokenId = FromConfig("eos_token", EosTokenId);
        PadTokenId = FromConfig("pad_token", PadTokenId);
    }
}

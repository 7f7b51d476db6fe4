using System.Text;
using System.Text.Json;
using Attune.Core.IO;

namespace Attune.Torch.Tokenizers;

/// <summary>
/// A character-level tokenizer for Attune's built-in tiny models: one token per Unicode code
/// point, plus the specials <c>&lt;pad&gt;</c> (0), <c>&lt;bos&gt;</c> (1), <c>&lt;eos&gt;</c> (2) and
/// <c>&lt;unk&gt;</c> (3); the characters take ids 4 onwards in the order given. Characters outside
/// the alphabet encode as <c>&lt;unk&gt;</c>.
/// </summary>
/// <remarks>
/// Saved as a <c>tokenizer.json</c> of its own small form, so that a tiny model's folder is
/// self-contained:
/// <code>
/// {
///   "type": "CharTokenizer",
///   "version": 1,
///   "special_tokens": ["&lt;pad&gt;", "&lt;bos&gt;", "&lt;eos&gt;", "&lt;unk&gt;"],
///   "chars": ["\n", " ", "a", "b", "🙂"]
/// }
/// </code>
/// <c>special_tokens</c> take ids 0, 1, 2, 3 in that order and must be exactly these four;
/// each entry of <c>chars</c> is one code point, and entry <c>i</c> has id <c>4 + i</c>.
/// </remarks>
public sealed class CharTokenizer : ITokenizer
{
    /// <summary>The <c>type</c> written in this tokenizer's <c>tokenizer.json</c>.</summary>
    public const string FileType = "CharTokenizer";

    public const string Pad = "<pad>";
    public const string Bos = "<bos>";
    public const string Eos = "<eos>";
    public const string Unk = "<unk>";

    private static readonly string[] Specials = [Pad, Bos, Eos, Unk];

    private readonly string[] _tokens; // id → token (specials, then characters)
    private readonly Dictionary<int, int> _idByCodePoint;
    private readonly Dictionary<string, int> _specialTokens;

    private CharTokenizer(IEnumerable<Rune> alphabet)
    {
        _idByCodePoint = [];
        var tokens = new List<string>(Specials);
        foreach (var rune in alphabet)
        {
            if (_idByCodePoint.TryAdd(rune.Value, tokens.Count))
            {
                tokens.Add(rune.ToString());
            }
        }

        _tokens = [.. tokens];
        _specialTokens = new Dictionary<string, int>(StringComparer.Ordinal) { [Pad] = 0, [Bos] = 1, [Eos] = 2, [Unk] = 3 };
    }

    /// <summary>A tokenizer over the characters of <paramref name="alphabet"/>, in that order (repeats ignored).</summary>
    public static CharTokenizer FromAlphabet(string alphabet)
    {
        ArgumentNullException.ThrowIfNull(alphabet);
        return new CharTokenizer(alphabet.EnumerateRunes());
    }

    /// <summary>A tokenizer over every character that occurs in <paramref name="corpus"/>, sorted by code point.</summary>
    public static CharTokenizer FromCorpus(IEnumerable<string> corpus)
    {
        ArgumentNullException.ThrowIfNull(corpus);
        var runes = new SortedSet<Rune>();
        foreach (var text in corpus)
        {
            foreach (var rune in text.EnumerateRunes())
            {
                runes.Add(rune);
            }
        }

        return new CharTokenizer(runes);
    }

    public int VocabSize => _tokens.Length;

    public int? BosTokenId => 1;

    public int? EosTokenId => 2;

    public int? PadTokenId => 0;

    /// <summary>The id of <c>&lt;unk&gt;</c>.</summary>
    public static int UnkTokenId => 3;

    public IReadOnlyDictionary<string, int> SpecialTokens => _specialTokens;

    /// <summary>The characters of the alphabet, in id order (ids 4 onwards).</summary>
    public IReadOnlyList<string> Alphabet => _tokens[Specials.Length..];

    public int[] Encode(string text, bool addSpecialTokens = false)
    {
        ArgumentNullException.ThrowIfNull(text);
        var ids = new List<int>(text.Length + 2);
        if (addSpecialTokens)
        {
            ids.Add(1);
        }

        foreach (var rune in text.EnumerateRunes())
        {
            ids.Add(_idByCodePoint.TryGetValue(rune.Value, out var id) ? id : UnkTokenId);
        }

        if (addSpecialTokens)
        {
            ids.Add(2);
        }

        return [.. ids];
    }

    /// <summary>The text of <paramref name="ids"/>; specials read as their names (<c>&lt;unk&gt;</c>, …) unless skipped.</summary>
    public string Decode(IReadOnlyList<int> ids, bool skipSpecialTokens = false)
    {
        ArgumentNullException.ThrowIfNull(ids);
        var text = new StringBuilder(ids.Count);
        foreach (var id in ids)
        {
            if (id < 0 || id >= _tokens.Length || (skipSpecialTokens && id < Specials.Length))
            {
                continue;
            }

            text.Append(_tokens[id]);
        }

        return text.ToString();
    }

    public string? IdToToken(int id) => id >= 0 && id < _tokens.Length ? _tokens[id] : null;

    public int? TokenToId(string token)
    {
        ArgumentNullException.ThrowIfNull(token);
        if (_specialTokens.TryGetValue(token, out var special))
        {
            return special;
        }

        return Rune.TryGetRuneAt(token, 0, out var rune) && rune.Utf16SequenceLength == token.Length && _idByCodePoint.TryGetValue(rune.Value, out var id) ? id : null;
    }

    /// <summary>Writes the tokenizer to <paramref name="path"/> (a file, or a folder that gets a <c>tokenizer.json</c>), atomically.</summary>
    public void Save(string path)
    {
        ArgumentNullException.ThrowIfNull(path);
        var file = Directory.Exists(path) ? Path.Combine(path, "tokenizer.json") : path;
        AtomicFile.Write(file, stream =>
        {
            using var writer = new Utf8JsonWriter(stream, new JsonWriterOptions { Indented = true });
            writer.WriteStartObject();
            writer.WriteString("type", FileType);
            writer.WriteNumber("version", 1);
            writer.WriteStartArray("special_tokens");
            foreach (var s in Specials)
            {
                writer.WriteStringValue(s);
            }

            writer.WriteEndArray();
            writer.WriteStartArray("chars");
            foreach (var c in Alphabet)
            {
                writer.WriteStringValue(c);
            }

            writer.WriteEndArray();
            writer.WriteEndObject();
        });
    }

    /// <summary>Reads a tokenizer written by <see cref="Save"/>.</summary>
    /// <exception cref="Core.Errors.AttuneInputException">The file is missing, not JSON, or not in this form.</exception>
    public static CharTokenizer Load(string path)
    {
        ArgumentNullException.ThrowIfNull(path);
        var file = Directory.Exists(path) ? Path.Combine(path, "tokenizer.json") : path;
        using var document = TokenizerJson.Parse(file);
        return FromJson(document.RootElement, new TokenizerJson(file));
    }

    internal static CharTokenizer FromJson(JsonElement root, TokenizerJson json)
    {
        if (root.ValueKind != JsonValueKind.Object)
        {
            throw json.Error("(root)", $"must be an object, not {TokenizerJson.Describe(root)}");
        }

        var type = json.String(root, "type", "type");
        if (type != FileType)
        {
            throw json.Error("type", $"must be '{FileType}', not '{type}'");
        }

        var version = TokenizerJson.Optional(root, "version");
        if (version is null || json.Int(version.Value, "version") != 1)
        {
            throw json.Error("version", "must be 1");
        }

        var specials = json.Array(root, "special_tokens", "special_tokens");
        if (specials.GetArrayLength() != Specials.Length
            || !specials.EnumerateArray().Select(e => e.ValueKind == JsonValueKind.String ? e.GetString() : null).SequenceEqual(Specials))
        {
            throw json.Error("special_tokens", $"must be [{string.Join(", ", Specials.Select(s => $"\"{s}\""))}]");
        }

        var runes = new List<Rune>();
        var seen = new HashSet<Rune>();
        var i = 0;
        foreach (var c in json.Array(root, "chars", "chars").EnumerateArray())
        {
            var field = $"chars[{i++}]";
            var s = c.ValueKind == JsonValueKind.String ? c.GetString()! : throw json.Error(field, $"must be a string, not {TokenizerJson.Describe(c)}");
            if (!Rune.TryGetRuneAt(s, 0, out var rune) || rune.Utf16SequenceLength != s.Length)
            {
                throw json.Error(field, $"must be exactly one character, not \"{s}\"");
            }

            if (!seen.Add(rune))
            {
                throw json.Error(field, $"\"{s}\" appears twice");
            }

            runes.Add(rune);
        }

        return new CharTokenizer(runes);
    }
}

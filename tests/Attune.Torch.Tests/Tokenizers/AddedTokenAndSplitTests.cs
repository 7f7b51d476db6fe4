using System.Text.Json.Nodes;
using System.Text.RegularExpressions;
using Attune.Torch.Tokenizers;
using static Attune.Torch.Tests.Tokenizers.TestFiles;

namespace Attune.Torch.Tests.Tokenizers;

/// <summary>Added-token flags, Split behaviours and pattern translation. Byte b has id b throughout.</summary>
public class AddedTokenAndSplitTests
{
    private static BpeTokenizer WithAddedTokens(JsonNode? normalizer = null) =>
        BpeTokenizer.Load(Write(SplitByteLevelTokenizer(
            Llama3Pattern,
            ByteVocab(),
            [],
            ignoreMerges: false,
            normalizer: normalizer,
            addedTokens:
            [
                AddedToken(300, "<mask>", lstrip: true),
                AddedToken(301, "<r>", rstrip: true),
                AddedToken(302, "ok", special: false, singleWord: true),
                AddedToken(303, "hello", special: false, normalized: true),
                AddedToken(304, "ABC", special: false),
                AddedToken(305, "<a>"),
                AddedToken(306, "<a><b>"),
            ]).ToJsonString()));

    [Fact]
    public void Lstrip_takes_the_white_space_before_the_token()
    {
        // "a <mask>b": the space before <mask> is absorbed → "a" [97], <mask> [300], "b" [98].
        Assert.Equal([97, 300, 98], WithAddedTokens().Encode("a <mask>b"));
    }

    [Fact]
    public void Rstrip_takes_the_white_space_after_the_token()
    {
        // "<r>  b": both spaces are absorbed → [301], "b" [98].
        Assert.Equal([301, 98], WithAddedTokens().Encode("<r>  b"));
    }

    [Fact]
    public void Single_word_tokens_match_only_whole_words()
    {
        var tokenizer = WithAddedTokens();
        // "ok go" → [302] then " go" → Ġ g o = [32, 103, 111].
        Assert.Equal([302, 32, 103, 111], tokenizer.Encode("ok go"));
        // "okay": "ok" is followed by a letter → no match → o k a y.
        Assert.Equal([111, 107, 97, 121], tokenizer.Encode("okay"));
        // "(ok)": brackets are not word characters → "(" [40], [302], ")" [41].
        Assert.Equal([40, 302, 41], tokenizer.Encode("(ok)"));
    }

    [Fact]
    public void Normalized_tokens_match_after_normalization_and_the_others_before()
    {
        var tokenizer = WithAddedTokens(new JsonObject { ["type"] = "Lowercase" });
        // "HeLLo" is lower-cased to "hello", which matches the normalized token 303; then " there"
        // → Ġ t h e r e.
        Assert.Equal([303, 32, 116, 104, 101, 114, 101], tokenizer.Encode("HeLLo there"));
        // "ABC" (not normalized) matches in the raw text; "abc" does not match it.
        Assert.Equal([120, 304], tokenizer.Encode("xABC"));
        Assert.Equal([97, 98, 99], tokenizer.Encode("abc"));
    }

    [Fact]
    public void The_longest_added_token_wins()
    {
        Assert.Equal([306, 305], WithAddedTokens().Encode("<a><b><a>"));
    }

    [Fact]
    public void Only_special_tokens_are_skipped_when_decoding()
    {
        var tokenizer = WithAddedTokens();
        Assert.Equal("ok", tokenizer.Decode([300, 302], skipSpecialTokens: true));
        Assert.Equal("<mask>ok", tokenizer.Decode([300, 302]));
        Assert.False(tokenizer.SpecialTokens.ContainsKey("ok"));
        Assert.Equal(302, tokenizer.TokenToId("ok"));
    }

    /// <summary>A byte vocabulary (no merges, so a text run encodes as its UTF-8 bytes) with the given added tokens.</summary>
    private static BpeTokenizer BytesWith(JsonNode? normalizer, params JsonObject[] added) =>
        BpeTokenizer.Load(Write(SplitByteLevelTokenizer(Llama3Pattern, ByteVocab(), [], ignoreMerges: false, normalizer: normalizer, addedTokens: [.. added]).ToJsonString()));

    private static int[] Bytes(string text) => [.. System.Text.Encoding.UTF8.GetBytes(text).Select(b => (int)b)];

    [Fact]
    public void Hugging_face_single_word_example()
    {
        // From the tokenizers crate's own test (test_single_word_is_correct): with a Lowercase
        // normalizer and "<mask>" (normalized, single_word), the text
        // "<mask> My name <mask> A<mask> <mask>ony <mask>" splits into
        // "<mask>" | " my name " | "<mask>" | " a<mask> <mask>ony " | "<mask>".
        var tokenizer = BytesWith(new JsonObject { ["type"] = "Lowercase" }, AddedToken(300, "<mask>", special: false, singleWord: true, normalized: true));
        int[] expected = [300, .. Bytes(" my name "), 300, .. Bytes(" a<mask> <mask>ony "), 300];
        Assert.Equal(expected, tokenizer.Encode("<mask> My name <mask> A<mask> <mask>ony <mask>"));
    }

    [Fact]
    public void Hugging_face_options_example()
    {
        // From the tokenizers crate's own test (options_use_cases): Lowercase normalizer; "my"
        // (normalized, lstrip, rstrip), "name" (normalized), "ony" (normalized, single_word),
        // "[CLS]" and "[SEP]" (special, not normalized). "[CLS] My name is Anthony [SEP]" splits into
        // "[CLS]" | " my " (both spaces taken by the strips) | "name" | " is anthony " | "[SEP]".
        var tokenizer = BytesWith(
            new JsonObject { ["type"] = "Lowercase" },
            AddedToken(300, "my", special: false, lstrip: true, rstrip: true, normalized: true),
            AddedToken(301, "name", special: false, normalized: true),
            AddedToken(302, "ony", special: false, singleWord: true, normalized: true),
            AddedToken(303, "[CLS]"),
            AddedToken(304, "[SEP]"));
        int[] expected = [303, 300, 301, .. Bytes(" is anthony "), 304];
        Assert.Equal(expected, tokenizer.Encode("[CLS] My name is Anthony [SEP]"));
    }

    [Fact]
    public void A_normalized_token_is_looked_for_in_its_normalized_spelling()
    {
        // "HELLO" (normalized) under Lowercase is looked for as "hello" in the lower-cased text.
        var tokenizer = BytesWith(new JsonObject { ["type"] = "Lowercase" }, AddedToken(300, "HELLO", special: false, normalized: true));
        Assert.Equal([300, 33], tokenizer.Encode("Hello!"));
    }

    // Hugging Face's documented example of each behaviour, splitting "the-final--countdown" on "-".
    [Theory]
    [InlineData("Removed", "the|final|countdown")]
    [InlineData("Isolated", "the|-|final|-|-|countdown")]
    [InlineData("MergedWithPrevious", "the-|final-|-|countdown")]
    [InlineData("MergedWithNext", "the|-final|-|-countdown")]
    [InlineData("Contiguous", "the|-|final|--|countdown")]
    public void Split_behaviours(string behavior, string expected)
    {
        var split = new SplitPreTokenizer(new Regex("-"), Enum.Parse<SplitBehavior>(behavior), invert: false);
        var pieces = new List<Piece>();
        split.Split(new Piece("the-final--countdown", 0, 20), pieces);
        Assert.Equal(expected, string.Join("|", pieces.Select(p => p.Span.ToString())));
    }

    [Fact]
    public void Split_invert_keeps_the_matches_as_the_content()
    {
        // Whitespace-style: pattern \w+, invert, Removed → the words are kept, the rest removed.
        var split = new SplitPreTokenizer(new Regex(@"\w+"), SplitBehavior.Removed, invert: true);
        var pieces = new List<Piece>();
        split.Split(new Piece("hi, you", 0, 7), pieces);
        Assert.Equal("hi|you", string.Join("|", pieces.Select(p => p.Span.ToString())));
    }

    [Fact]
    public void Contiguous_with_invert_merges_adjacent_pattern_matches()
    {
        // Pattern "-", inverted: "--" are two adjacent (now non-)matches and merge into one piece,
        // as consecutive equal kinds do in Hugging Face's Contiguous.
        var split = new SplitPreTokenizer(new Regex("-"), SplitBehavior.Contiguous, invert: true);
        var pieces = new List<Piece>();
        split.Split(new Piece("ab--c", 0, 5), pieces);
        Assert.Equal("ab|--|c", string.Join("|", pieces.Select(p => p.Span.ToString())));
    }

    [Theory]
    [InlineData(@"\p{L}++", @"(?>\p{L}+)")]
    [InlineData(@"[^\r\n\p{L}\p{N}]?+\p{L}+", @"(?>[^\r\n\p{L}\p{N}]?)\p{L}+")]
    [InlineData("(ab)*+c", "(?>(ab)*)c")]
    [InlineData("x{1,3}+", "(?>x{1,3})")]
    [InlineData("a+?b", "a+?b")]
    [InlineData(@"\++", @"\++")] // an escaped plus, greedily repeated: nothing possessive
    [InlineData(@"\+++", @"(?>\++)")]
    [InlineData(@"[+]+", @"[+]+")]
    [InlineData("{x}+", "{x}+")]
    public void Possessive_quantifiers_become_atomic_groups(string oniguruma, string dotnet)
    {
        Assert.Equal(dotnet, RegexPatterns.Translate(oniguruma));
    }

    [Fact]
    public void Possessive_quantifiers_do_not_give_back()
    {
        // a++a can never match: the possessive a++ keeps every a.
        Assert.DoesNotMatch(RegexPatterns.Get("a++a"), "aaa");
        Assert.Matches(RegexPatterns.Get("a+a"), "aaa");
    }
}

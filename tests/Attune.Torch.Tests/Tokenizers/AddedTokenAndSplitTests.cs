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

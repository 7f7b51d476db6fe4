using System.Text.Json.Nodes;
using Attune.Torch.Tokenizers;
using static Attune.Torch.Tests.Tokenizers.TestFiles;

namespace Attune.Torch.Tests.Tokenizers;

/// <summary>
/// Qwen2- and Llama-3-shaped tokenizers (Sequence[Split(their real pattern), ByteLevel(use_regex
/// false)]) built here with a byte vocabulary where byte b has id b, plus a few merges. Each
/// expectation is derived by hand in the comments: first the pieces the split pattern gives, then
/// the merges within each piece, lowest rank first.
/// </summary>
public class SplitPatternTokenizerTests
{
    private const string G = "Ġ"; // the byte-level spelling of a space (byte 0x20, id 32)
    private const string C = "Ċ"; // the byte-level spelling of a newline (byte 0x0A, id 10)

    /// <summary>Qwen2 shape, merges written as "a b" strings, NFC normalizer, no ignore_merges.</summary>
    private static BpeTokenizer Qwen2Like(bool ignoreMerges = false)
    {
        var vocab = ByteVocab();
        vocab[G + "t"] = 256;
        vocab["he"] = 257;
        vocab[G + "the"] = 258;
        vocab["12"] = 259;
        vocab["'S"] = 260;
        vocab[G + "hello"] = 261; // in the vocabulary, but no merges lead to it
        var merges = new JsonArray($"{G} t", "h e", $"{G}t he", "1 2", "' S");
        var json = SplitByteLevelTokenizer(Qwen2Pattern, vocab, merges, ignoreMerges, normalizer: new JsonObject { ["type"] = "NFC" });
        return BpeTokenizer.Load(Write(json.ToJsonString()));
    }

    /// <summary>Llama-3 shape, merges written as ["a", "b"] pairs, ignore_merges, a BOS template.</summary>
    private static BpeTokenizer Llama3Like(bool ignoreMerges = true)
    {
        var vocab = ByteVocab();
        vocab[G + "t"] = 256;
        vocab["he"] = 257;
        vocab[G + "the"] = 258;
        vocab["12"] = 259;
        vocab["123"] = 260;
        vocab[G + "hello"] = 261; // in the vocabulary, but no merges lead to it
        vocab[C + C] = 262;
        vocab[ByteChar(0x80) + "a"] = 263; // last byte of 🙂/😀 (F0 9F 98 80 / F0 9F 99 82) + 'a'
        var merges = new JsonArray(
            new JsonArray(G, "t"),
            new JsonArray("h", "e"),
            new JsonArray(G + "t", "he"),
            new JsonArray("1", "2"),
            new JsonArray("12", "3"),
            new JsonArray(C, C),
            new JsonArray(ByteChar(0x80).ToString(), "a"));
        var added = new JsonArray(AddedToken(300, "<|begin_of_text|>"), AddedToken(301, "<|eot_id|>"));
        var post = new JsonObject
        {
            ["type"] = "Sequence",
            ["processors"] = new JsonArray(
                new JsonObject { ["type"] = "ByteLevel", ["add_prefix_space"] = true, ["trim_offsets"] = false, ["use_regex"] = true },
                new JsonObject
                {
                    ["type"] = "TemplateProcessing",
                    ["single"] = new JsonArray(
                        new JsonObject { ["SpecialToken"] = new JsonObject { ["id"] = "<|begin_of_text|>", ["type_id"] = 0 } },
                        new JsonObject { ["Sequence"] = new JsonObject { ["id"] = "A", ["type_id"] = 0 } }),
                    ["pair"] = new JsonArray(),
                    ["special_tokens"] = new JsonObject
                    {
                        ["<|begin_of_text|>"] = new JsonObject { ["id"] = "<|begin_of_text|>", ["ids"] = new JsonArray(300), ["tokens"] = new JsonArray("<|begin_of_text|>") },
                    },
                }),
        };
        var json = SplitByteLevelTokenizer(Llama3Pattern, vocab, merges, ignoreMerges, addedTokens: added, postProcessor: post);
        return BpeTokenizer.Load(Write(json.ToJsonString()));
    }

    [Fact]
    public void Qwen2_splits_digits_one_by_one_and_contractions_case_insensitively()
    {
        // "the 123 IT'S" → pieces "the", " ", "1", "2", "3", " IT", "'S":
        //   "the": [^\r\n\p{L}\p{N}]?\p{L}+ ; " " before a digit: only \s+ matches (\s+(?!\S) fails
        //   because '1' follows) ; digits: \p{N} one at a time ; " IT": the optional non-letter
        //   prefix takes the space ; "'S": (?i:'s).
        // Merges: "the" → t,h,e → (h e) rank 1 → t,he → (t he) is no merge → [116, 257].
        //   " " → [32]. "1","2","3" → [49],[50],[51]: "1 2" never applies across pieces.
        //   " IT" → Ġ,I,T: no merge has upper-case letters → [32, 73, 84]. "'S" → (' S) → [260].
        var tokenizer = Qwen2Like();
        Assert.Equal([116, 257, 32, 49, 50, 51, 32, 73, 84, 260], tokenizer.Encode("the 123 IT'S"));
    }

    [Fact]
    public void Lowest_rank_merges_first()
    {
        // "the the" → pieces "the", " the". " the" → Ġ,t,h,e: candidates (Ġ t) rank 0 and (h e)
        // rank 1 → Ġt,h,e → (h e) → Ġt,he → (Ġt he) rank 2 → Ġthe (258).
        var tokenizer = Qwen2Like();
        Assert.Equal([116, 257, 258], tokenizer.Encode("the the"));
    }

    [Fact]
    public void Without_ignore_merges_a_vocabulary_word_is_still_merged_piece_by_piece()
    {
        // " hello" → Ġ,h,e,l,l,o → only (h e) applies → [32, 257, 108, 108, 111], although
        // "Ġhello" (261) is in the vocabulary.
        Assert.Equal([32, 257, 108, 108, 111], Qwen2Like().Encode(" hello"));
        Assert.Equal([32, 257, 108, 108, 111], Llama3Like(ignoreMerges: false).Encode(" hello"));
    }

    [Fact]
    public void Llama3_ignore_merges_takes_a_vocabulary_word_whole()
    {
        // " hello 12345" → pieces " hello", " ", "123", "45" (\p{N}{1,3} takes digits three at a
        // time). " hello" is in the vocabulary → [261]. " " → [32]. "123" is in the vocabulary →
        // [260]. "45" → [52, 53].
        Assert.Equal([261, 32, 260, 52, 53], Llama3Like().Encode(" hello 12345"));
    }

    [Fact]
    public void Llama3_groups_newlines()
    {
        // "a\n\nb" → pieces "a", "\n\n" (\s*[\r\n]+), "b" → [97], (Ċ Ċ) → [262], [98].
        Assert.Equal([97, 262, 98], Llama3Like().Encode("a\n\nb"));
    }

    [Fact]
    public void Llama3_template_adds_bos_only_when_asked()
    {
        // "hi" → one piece "hi" → h,i → no merge → [104, 105]; the template puts 300 first.
        var tokenizer = Llama3Like();
        Assert.Equal([104, 105], tokenizer.Encode("hi"));
        Assert.Equal([300, 104, 105], tokenizer.Encode("hi", addSpecialTokens: true));
        Assert.Equal(300, tokenizer.BosTokenId);
        Assert.Equal("hi", tokenizer.Decode([300, 104, 105], skipSpecialTokens: true));
    }

    [Fact]
    public void Added_tokens_are_split_out_before_the_pattern()
    {
        // "<|eot_id|>the" → [301] then "the" → [116, 257].
        Assert.Equal([301, 116, 257], Llama3Like().Encode("<|eot_id|>the"));
    }

    [Fact]
    public void An_emoji_before_letters_joins_them_as_in_oniguruma()
    {
        // Oniguruma sees 😀 as one character, not a letter: [^\r\n\p{L}\p{N}]?\p{L}+ takes "😀abc"
        // as one piece. Its bytes F0 9F 98 80 61 62 63 then merge (0x80 a) → 263:
        // [240, 159, 152, 263, 98, 99]. Were the emoji its own piece, no merge would apply.
        Assert.Equal([240, 159, 152, 263, 98, 99], Llama3Like().Encode("😀abc"));
    }

    [Fact]
    public void Nfc_normalizer_composes_before_splitting()
    {
        // "e" + U+0301 (combining acute) is composed to "é" (C3 A9) by NFC → [195, 169]. Without
        // NFC it would be 65 CC 81 → [101, 204, 129].
        Assert.Equal([195, 169], Qwen2Like().Encode("e\u0301"));
        Assert.Equal([101, 204, 129], Llama3Like().Encode("e\u0301"));
    }
}

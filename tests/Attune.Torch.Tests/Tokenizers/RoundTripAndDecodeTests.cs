using System.Text.Json.Nodes;
using Attune.Torch.Tokenizers;
using static Attune.Torch.Tests.Tokenizers.TestFiles;

namespace Attune.Torch.Tests.Tokenizers;

public class RoundTripAndDecodeTests
{
    private static BpeTokenizer HfTiny() => BpeTokenizer.Load(FixturePath("hf-tiny", "tokenizer.json"));

    private static BpeTokenizer Llama3Bytes()
    {
        var vocab = ByteVocab();
        vocab["Ġt"] = 256;
        var json = SplitByteLevelTokenizer(Llama3Pattern, vocab, [new JsonArray("Ġ", "t")], ignoreMerges: true);
        return BpeTokenizer.Load(Write(json.ToJsonString()));
    }

    private static BpeTokenizer Qwen2Bytes()
    {
        var json = SplitByteLevelTokenizer(Qwen2Pattern, ByteVocab(), [], ignoreMerges: false);
        return BpeTokenizer.Load(Write(json.ToJsonString()));
    }

    [Fact]
    public void Decode_of_encode_is_the_text_for_random_unicode()
    {
        var tokenizers = new[] { HfTiny(), Llama3Bytes(), Qwen2Bytes() };
        var random = new Random(20261127);
        for (var i = 0; i < 500; i++)
        {
            var text = RandomText.Next(random, 12);
            foreach (var tokenizer in tokenizers)
            {
                var ids = tokenizer.Encode(text);
                Assert.Equal(text, tokenizer.Decode(ids));
            }
        }
    }

    [Fact]
    public void Encoding_from_many_threads_gives_the_same_ids()
    {
        var random = new Random(11);
        var texts = Enumerable.Range(0, 400).Select(_ => RandomText.Next(random, 15)).ToArray();
        var expected = texts.Select(t => HfTiny().Encode(t)).ToArray(); // each on a fresh tokenizer, one thread
        var shared = HfTiny();
        var actual = new int[texts.Length][];
        Parallel.For(0, texts.Length, new ParallelOptions { MaxDegreeOfParallelism = 4 }, i => actual[i] = shared.Encode(texts[i]));
        Assert.Equal(expected, actual);
    }

    [Fact]
    public void Pieces_never_cut_a_character_in_two()
    {
        // With a byte vocabulary and no merges, each piece is its bytes, so the number of ids is the
        // UTF-8 length of the text whatever the pieces are; and every piece decodes on its own.
        var tokenizer = Qwen2Bytes();
        var text = "😀abc 𠀀x 👍🏽!";
        Assert.Equal(System.Text.Encoding.UTF8.GetByteCount(text), tokenizer.Encode(text).Length);
    }

    [Fact]
    public void Invalid_utf8_decodes_to_replacement_characters()
    {
        var tokenizer = Llama3Bytes(); // byte b has id b
        // F0 9F (the start of a four-byte sequence) then 'a': one U+FFFD for the maximal invalid
        // prefix, as Rust's String::from_utf8_lossy.
        Assert.Equal("\uFFFDa", tokenizer.Decode([0xF0, 0x9F, 'a']));
        // FF is never valid; C3 alone at the end is truncated.
        Assert.Equal("\uFFFDb\uFFFD", tokenizer.Decode([0xFF, 'b', 0xC3]));
        // C3 A9 is é.
        Assert.Equal("é", tokenizer.Decode([0xC3, 0xA9]));
    }

    [Fact]
    public void A_lone_surrogate_encodes_as_the_replacement_character()
    {
        // Not valid UTF-16; its UTF-8 encoding is that of U+FFFD (EF BF BD), and it decodes so.
        var tokenizer = Llama3Bytes();
        Assert.Equal([0xEF, 0xBF, 0xBD, 'a'], tokenizer.Encode("\uD800a"));
        Assert.Equal("\uFFFDa", tokenizer.Decode(tokenizer.Encode("\uD800a")));
    }

    [Fact]
    public void Empty_text_encodes_to_nothing()
    {
        Assert.Empty(HfTiny().Encode(""));
        Assert.Equal("", HfTiny().Decode([]));
    }
}

using Attune.Core.Errors;
using Attune.Torch.Tokenizers;

namespace Attune.Torch.Tests.Tokenizers;

public class CharTokenizerTests
{
    [Fact]
    public void Ids_follow_the_alphabet_after_the_four_specials()
    {
        var tokenizer = CharTokenizer.FromAlphabet("ab c");
        // <pad> 0, <bos> 1, <eos> 2, <unk> 3, then 'a' 4, 'b' 5, ' ' 6, 'c' 7.
        Assert.Equal(8, tokenizer.VocabSize);
        Assert.Equal([4, 5, 6, 7, 4], tokenizer.Encode("ab ca"));
        Assert.Equal([1, 7, 2], tokenizer.Encode("c", addSpecialTokens: true));
        Assert.Equal((0, 1, 2), (tokenizer.PadTokenId, tokenizer.BosTokenId, tokenizer.EosTokenId));
        Assert.Equal(3, tokenizer.SpecialTokenId("<unk>"));
    }

    [Fact]
    public void Unknown_characters_become_unk()
    {
        var tokenizer = CharTokenizer.FromAlphabet("ab");
        Assert.Equal([4, 3, 5, 3], tokenizer.Encode("axb🙂")); // the emoji is one unknown character, not two
        Assert.Equal("a<unk>b<unk>", tokenizer.Decode([4, 3, 5, 3]));
        Assert.Equal("ab", tokenizer.Decode([1, 4, 3, 5, 2, 0], skipSpecialTokens: true));
    }

    [Fact]
    public void Round_trip_over_its_corpus()
    {
        var random = new Random(5);
        var corpus = Enumerable.Range(0, 50).Select(_ => RandomText.Next(random, 10)).ToArray();
        var tokenizer = CharTokenizer.FromCorpus(corpus);
        foreach (var text in corpus)
        {
            var ids = tokenizer.Encode(text);
            Assert.Equal(text.EnumerateRunes().Count(), ids.Length);
            Assert.DoesNotContain(CharTokenizer.UnkTokenId, ids);
            Assert.Equal(text, tokenizer.Decode(ids));
        }
    }

    [Fact]
    public void Corpus_alphabet_is_sorted_by_code_point()
    {
        var tokenizer = CharTokenizer.FromCorpus(["cab", "a\n🙂"]);
        Assert.Equal(["\n", "a", "b", "c", "🙂"], tokenizer.Alphabet);
    }

    [Fact]
    public void Save_and_load_give_the_same_tokenizer()
    {
        var tokenizer = CharTokenizer.FromAlphabet("hello wrd\n\"🙂");
        var dir = TestFiles.TempDir();
        tokenizer.Save(dir);
        var path = Path.Combine(dir, "tokenizer.json");
        Assert.True(File.Exists(path));
        var loaded = Assert.IsType<CharTokenizer>(AutoTokenizer.Load(dir));
        Assert.Equal(tokenizer.Alphabet, loaded.Alphabet);
        Assert.Equal(tokenizer.Encode("hello world\n🙂?"), loaded.Encode("hello world\n🙂?"));
        Assert.Equal(tokenizer.Encode("wo"), CharTokenizer.Load(path).Encode("wo"));
    }

    [Fact]
    public void A_file_with_a_byte_order_mark_loads()
    {
        var path = Path.Combine(TestFiles.TempDir(), "tokenizer.json");
        File.WriteAllText(path, """{"type": "CharTokenizer", "version": 1, "special_tokens": ["<pad>", "<bos>", "<eos>", "<unk>"], "chars": ["z"]}""", new System.Text.UTF8Encoding(true));
        Assert.Equal([4], AutoTokenizer.Load(path).Encode("z"));
    }

    [Fact]
    public void Token_lookups()
    {
        var tokenizer = CharTokenizer.FromAlphabet("xy🙂");
        Assert.Equal("🙂", tokenizer.IdToToken(6));
        Assert.Equal(6, tokenizer.TokenToId("🙂"));
        Assert.Equal(0, tokenizer.TokenToId("<pad>"));
        Assert.Null(tokenizer.TokenToId("xy"));
        Assert.Null(tokenizer.IdToToken(7));
    }

    [Theory]
    [InlineData("""{"type": "CharTokenizer", "version": 1, "special_tokens": ["<pad>", "<bos>", "<eos>", "<unk>"], "chars": ["a", "a"]}""", "chars[1]")]
    [InlineData("""{"type": "CharTokenizer", "version": 1, "special_tokens": ["<pad>", "<bos>", "<eos>", "<unk>"], "chars": ["ab"]}""", "chars[0]")]
    [InlineData("""{"type": "CharTokenizer", "version": 1, "special_tokens": ["<bos>"], "chars": []}""", "special_tokens")]
    [InlineData("""{"type": "CharTokenizer", "version": 2, "special_tokens": ["<pad>", "<bos>", "<eos>", "<unk>"], "chars": []}""", "version")]
    [InlineData("""{"type": "CharTokenizer", "version": 1, "special_tokens": ["<pad>", "<bos>", "<eos>", "<unk>"]}""", "chars")]
    public void Malformed_files_name_the_field(string content, string field)
    {
        var path = TestFiles.Write(content);
        var e = Assert.Throws<AttuneInputException>(() => CharTokenizer.Load(path));
        Assert.Equal(path, e.File);
        Assert.Equal(field, e.Field);
        Assert.Equal(e.Message, Assert.Throws<AttuneInputException>(() => AutoTokenizer.Load(path)).Message);
    }
}

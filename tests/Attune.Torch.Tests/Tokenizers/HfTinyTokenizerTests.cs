using System.Text.Json;
using Attune.Torch.Tokenizers;

namespace Attune.Torch.Tests.Tokenizers;

/// <summary>The GPT-2-style fixture tokenizer against the outputs of Hugging Face's own tokenizers library.</summary>
public class HfTinyTokenizerTests
{
    private static readonly string TokenizerPath = TestFiles.FixturePath("hf-tiny", "tokenizer.json");

    public static TheoryData<string> Texts()
    {
        var data = new TheoryData<string>();
        using var doc = JsonDocument.Parse(File.ReadAllText(TestFiles.FixturePath("hf-tiny", "tokenizer_expected.json")));
        foreach (var entry in doc.RootElement.EnumerateObject())
        {
            data.Add(entry.Name);
        }

        return data;
    }

    private static JsonElement Expected(string text)
    {
        using var doc = JsonDocument.Parse(File.ReadAllText(TestFiles.FixturePath("hf-tiny", "tokenizer_expected.json")));
        return doc.RootElement.GetProperty(text).Clone();
    }

    [Fact]
    public void Fixture_has_every_expected_text()
    {
        Assert.Equal(4, Texts().Count);
    }

    [Theory]
    [MemberData(nameof(Texts))]
    public void Ids_match_hugging_face(string text)
    {
        var tokenizer = BpeTokenizer.Load(TokenizerPath);
        var expected = Expected(text).GetProperty("ids").EnumerateArray().Select(e => e.GetInt32()).ToArray();
        Assert.Equal(expected, tokenizer.Encode(text));
    }

    [Theory]
    [MemberData(nameof(Texts))]
    public void Tokens_match_hugging_face(string text)
    {
        var tokenizer = BpeTokenizer.Load(TokenizerPath);
        var expected = Expected(text).GetProperty("tokens").EnumerateArray().Select(e => e.GetString()!).ToArray();
        Assert.Equal(expected, tokenizer.Tokenize(text));
    }

    [Theory]
    [MemberData(nameof(Texts))]
    public void Decoded_matches_hugging_face(string text)
    {
        var tokenizer = BpeTokenizer.Load(TokenizerPath);
        var expected = Expected(text);
        var ids = expected.GetProperty("ids").EnumerateArray().Select(e => e.GetInt32()).ToArray();
        Assert.Equal(expected.GetProperty("decoded").GetString(), tokenizer.Decode(ids));
    }

    [Fact]
    public void Special_tokens_are_split_out_and_can_be_skipped_when_decoding()
    {
        var tokenizer = BpeTokenizer.Load(TokenizerPath);
        var ids = tokenizer.Encode("<|im_start|>The quick<|im_end|><|endoftext|>");

        // The fixture's added tokens: <|endoftext|> 0, <|im_start|> 1, <|im_end|> 2; "The" is 321
        // and "Ġquick" 470 (from tokenizer_expected.json). A special token in front of "The" leaves
        // "The quick" to be encoded exactly as it is at the start of a text.
        Assert.Equal([1, 321, 470, 2, 0], ids);
        Assert.Equal("<|im_start|>The quick<|im_end|><|endoftext|>", tokenizer.Decode(ids));
        Assert.Equal("The quick", tokenizer.Decode(ids, skipSpecialTokens: true));
    }

    [Fact]
    public void Vocabulary_queries()
    {
        var tokenizer = BpeTokenizer.Load(TokenizerPath);
        Assert.Equal(507, tokenizer.VocabSize);
        Assert.Equal("Ġquick", tokenizer.IdToToken(470));
        Assert.Equal(470, tokenizer.TokenToId("Ġquick"));
        Assert.Null(tokenizer.IdToToken(507));
        Assert.Null(tokenizer.TokenToId("no-such-token"));
        Assert.Equal(0, tokenizer.EosTokenId);
        Assert.Equal(2, tokenizer.SpecialTokenId("<|im_end|>"));
        Assert.Equal(3, tokenizer.SpecialTokens.Count);

        // No post-processor in this file: adding special tokens changes nothing, as in Hugging Face.
        Assert.Equal(tokenizer.Encode("The"), tokenizer.Encode("The", addSpecialTokens: true));
    }

    [Fact]
    public void Auto_tokenizer_loads_the_folder()
    {
        var tokenizer = AutoTokenizer.Load(Path.GetDirectoryName(TokenizerPath)!);
        Assert.IsType<BpeTokenizer>(tokenizer);
        Assert.Equal([321, 470, 485, 449, 16], tokenizer.Encode("The quick brown fox."));
    }

    [Fact]
    public void Tokenizer_config_beside_the_file_names_bos_eos_pad()
    {
        var dir = TestFiles.TempDir();
        File.Copy(TokenizerPath, Path.Combine(dir, "tokenizer.json"));
        File.WriteAllText(Path.Combine(dir, "tokenizer_config.json"),
            """{"bos_token": {"content": "<|im_start|>"}, "eos_token": "<|im_end|>", "pad_token": "<|endoftext|>"}""");
        var tokenizer = BpeTokenizer.Load(dir);
        Assert.Equal(1, tokenizer.BosTokenId);
        Assert.Equal(2, tokenizer.EosTokenId);
        Assert.Equal(0, tokenizer.PadTokenId);
    }
}

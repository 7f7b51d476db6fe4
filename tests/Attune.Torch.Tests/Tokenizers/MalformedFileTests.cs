using System.Text.Json.Nodes;
using Attune.Core.Errors;
using Attune.Torch.Tokenizers;
using static Attune.Torch.Tests.Tokenizers.TestFiles;

namespace Attune.Torch.Tests.Tokenizers;

/// <summary>Bad tokenizer files give an <see cref="AttuneInputException"/> naming the file (and the field where there is one).</summary>
public class MalformedFileTests
{
    private static string Fixture => File.ReadAllText(FixturePath("hf-tiny", "tokenizer.json"));

    private static AttuneInputException Fails(string path)
    {
        var e = Assert.Throws<AttuneInputException>(() => AutoTokenizer.Load(path));
        Assert.Equal(path, e.File);
        Assert.Contains(path, e.Message, StringComparison.Ordinal);
        var bpe = Assert.Throws<AttuneInputException>(() => BpeTokenizer.Load(path));
        Assert.Equal(e.Message, bpe.Message);
        return e;
    }

    private static JsonObject FixtureJson() => JsonNode.Parse(Fixture)!.AsObject();

    [Fact]
    public void Truncated_json()
    {
        var path = Write(Fixture[..(Fixture.Length / 2)]);
        var e = Fails(path);
        Assert.Contains("not valid JSON", e.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void Empty_file()
    {
        var e = Fails(Write(""));
        Assert.Contains("empty", e.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void Missing_file()
    {
        var path = Path.Combine(TempDir(), "tokenizer.json");
        Fails(path);
    }

    [Fact]
    public void Not_an_object()
    {
        Fails(Write("[1, 2, 3]"));
    }

    [Fact]
    public void Unknown_model_type()
    {
        var json = FixtureJson();
        json["model"]!["type"] = "WordPiece";
        var e = Fails(Write(json.ToJsonString()));
        Assert.Equal("model.type", e.Field);
        Assert.Contains("WordPiece", e.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void Missing_model()
    {
        var json = FixtureJson();
        json.Remove("model");
        Assert.Equal("model", Fails(Write(json.ToJsonString())).Field);
    }

    [Fact]
    public void Merge_of_a_token_not_in_the_vocabulary()
    {
        var json = FixtureJson();
        json["model"]!["merges"]!.AsArray().Add(new JsonArray("Ġ", "no-such-token"));
        var e = Fails(Write(json.ToJsonString()));
        Assert.Equal("model.merges[248]", e.Field);
        Assert.Contains("no-such-token", e.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void Merge_whose_result_is_not_in_the_vocabulary()
    {
        var json = FixtureJson();
        json["model"]!["merges"] = new JsonArray("Q Z");
        Assert.Equal("model.merges[0]", Fails(Write(json.ToJsonString())).Field);
    }

    [Fact]
    public void Merge_string_without_exactly_one_space()
    {
        var json = FixtureJson();
        json["model"]!["merges"] = new JsonArray("abc");
        Assert.Equal("model.merges[0]", Fails(Write(json.ToJsonString())).Field);
    }

    [Fact]
    public void Vocabulary_id_that_is_not_a_number()
    {
        var json = FixtureJson();
        json["model"]!["vocab"]!["a"] = "sixty-seven";
        Assert.Equal("model.vocab.a", Fails(Write(json.ToJsonString())).Field);
    }

    [Fact]
    public void Implausibly_large_id()
    {
        var json = FixtureJson();
        json["model"]!["vocab"]!["a"] = 2_000_000_000;
        Assert.Equal("model.vocab.a", Fails(Write(json.ToJsonString())).Field);
    }

    [Fact]
    public void Unsupported_normalizer()
    {
        var json = FixtureJson();
        json["normalizer"] = new JsonObject { ["type"] = "BertNormalizer" };
        var e = Fails(Write(json.ToJsonString()));
        Assert.Equal("normalizer.type", e.Field);
        Assert.Contains("BertNormalizer", e.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void Unsupported_pre_tokenizer_inside_a_sequence()
    {
        var json = FixtureJson();
        json["pre_tokenizer"] = new JsonObject
        {
            ["type"] = "Sequence",
            ["pretokenizers"] = new JsonArray(new JsonObject { ["type"] = "Metaspace" }),
        };
        Assert.Equal("pre_tokenizer.pretokenizers[0].type", Fails(Write(json.ToJsonString())).Field);
    }

    [Fact]
    public void Split_regex_that_does_not_compile()
    {
        var json = FixtureJson();
        json["pre_tokenizer"] = new JsonObject
        {
            ["type"] = "Split",
            ["pattern"] = new JsonObject { ["Regex"] = "(unclosed" },
            ["behavior"] = "Isolated",
            ["invert"] = false,
        };
        Assert.Equal("pre_tokenizer.pattern.Regex", Fails(Write(json.ToJsonString())).Field);
    }

    [Fact]
    public void Unknown_split_behavior()
    {
        var json = FixtureJson();
        json["pre_tokenizer"] = new JsonObject
        {
            ["type"] = "Split",
            ["pattern"] = new JsonObject { ["String"] = " " },
            ["behavior"] = "Sideways",
            ["invert"] = false,
        };
        Assert.Equal("pre_tokenizer.behavior", Fails(Write(json.ToJsonString())).Field);
    }

    [Fact]
    public void Unsupported_decoder()
    {
        var json = FixtureJson();
        json["decoder"] = new JsonObject { ["type"] = "WordPiece" };
        Assert.Equal("decoder.type", Fails(Write(json.ToJsonString())).Field);
    }

    [Fact]
    public void Added_token_without_content()
    {
        var json = FixtureJson();
        json["added_tokens"]![0]!.AsObject().Remove("content");
        Assert.Equal("added_tokens[0].content", Fails(Write(json.ToJsonString())).Field);
    }
}

using System.Text.Json.Nodes;
using Attune.Torch.Tokenizers;
using static Attune.Torch.Tests.Tokenizers.TestFiles;

namespace Attune.Torch.Tests.Tokenizers;

public class PreTokenizerTests
{
    [Fact]
    public void Byte_level_add_prefix_space_prefixes_every_text_segment()
    {
        // The fixture with add_prefix_space switched on. From tokenizer_expected.json, "Ġquick" is
        // 470 and "Ġbrown" 485; <|im_start|> is 1. "quick brown" becomes " quick brown" →
        // " quick", " brown"; the text after a special token is prefixed too.
        var json = JsonNode.Parse(File.ReadAllText(FixturePath("hf-tiny", "tokenizer.json")))!.AsObject();
        json["pre_tokenizer"]!["add_prefix_space"] = true;
        var tokenizer = BpeTokenizer.Load(Write(json.ToJsonString()));
        Assert.Equal([470, 485], tokenizer.Encode("quick brown"));
        Assert.Equal([1, 470], tokenizer.Encode("<|im_start|>quick"));
        Assert.Equal([470], tokenizer.Encode(" quick")); // already starts with a space
    }

    private static BpeTokenizer DigitsTokenizer(JsonObject? digits)
    {
        // Byte vocabulary (byte b has id b) plus "a1" (256, rank 0) and "12" (257, rank 1).
        var vocab = ByteVocab();
        vocab["a1"] = 256;
        vocab["12"] = 257;
        var steps = new JsonArray();
        if (digits is not null)
        {
            steps.Add(digits);
        }

        steps.Add(new JsonObject { ["type"] = "ByteLevel", ["add_prefix_space"] = false, ["use_regex"] = false });
        var json = new JsonObject
        {
            ["pre_tokenizer"] = new JsonObject { ["type"] = "Sequence", ["pretokenizers"] = steps },
            ["decoder"] = new JsonObject { ["type"] = "ByteLevel" },
            ["model"] = new JsonObject { ["type"] = "BPE", ["vocab"] = vocab, ["merges"] = new JsonArray("a 1", "1 2") },
        };
        return BpeTokenizer.Load(Write(json.ToJsonString()));
    }

    [Fact]
    public void Digits_pre_tokenizer()
    {
        // No split: "a123" is one piece → (a 1) rank 0 → a1,2,3 → [256, 50, 51].
        Assert.Equal([256, 50, 51], DigitsTokenizer(null).Encode("a123"));
        // Digits: "a", "123" → [97], (1 2) → 12,3 → [257, 51].
        Assert.Equal([97, 257, 51], DigitsTokenizer(new JsonObject { ["type"] = "Digits", ["individual_digits"] = false }).Encode("a123"));
        // Individual digits: "a", "1", "2", "3" → no merge applies.
        Assert.Equal([97, 49, 50, 51], DigitsTokenizer(new JsonObject { ["type"] = "Digits", ["individual_digits"] = true }).Encode("a123"));
    }
}

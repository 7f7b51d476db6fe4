using System.Text.Json.Nodes;
using Attune.Torch.Tokenizers;
using static Attune.Torch.Tests.Tokenizers.TestFiles;

namespace Attune.Torch.Tests.Tokenizers;

/// <summary>A BPE file without byte-level pieces: characters are symbols, unknown ones fall back to byte tokens or the unknown token.</summary>
public class NonByteLevelBpeTests
{
    private static BpeTokenizer Load(bool withDecoder = false)
    {
        var json = new JsonObject
        {
            ["added_tokens"] = new JsonArray(),
            ["normalizer"] = null,
            ["pre_tokenizer"] = new JsonObject { ["type"] = "WhitespaceSplit" },
            ["post_processor"] = null,
            ["decoder"] = null,
            ["model"] = new JsonObject
            {
                ["type"] = "BPE",
                ["unk_token"] = "<unk>",
                ["byte_fallback"] = true,
                ["vocab"] = new JsonObject { ["<unk>"] = 0, ["a"] = 1, ["b"] = 2, ["ab"] = 3, ["<0xC3>"] = 4, ["<0xA9>"] = 5 },
                ["merges"] = new JsonArray("a b"),
            },
        };
        return BpeTokenizer.Load(Write(json.ToJsonString()));
    }

    [Fact]
    public void Unknown_characters_fall_back_to_bytes_then_to_unk()
    {
        // WhitespaceSplit gives "ab", "é", "x". "ab" → (a b) → [3]. "é" is not in the vocabulary;
        // its UTF-8 bytes C3 A9 are → [4, 5]. "x" is not, and byte 0x78 has no token → <unk> [0].
        Assert.Equal([3, 4, 5, 0], Load().Encode("ab é x"));
    }

    [Fact]
    public void Without_a_decoder_tokens_are_joined_with_spaces()
    {
        // Hugging Face's decode without a decoder: the token strings joined by " ".
        Assert.Equal("ab <0xC3> <unk>", Load().Decode([3, 4, 0]));
    }
}

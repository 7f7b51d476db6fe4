using Attune.Torch.Models;
using Attune.Torch.Tokenizers;
using TorchSharp;
using static TorchSharp.torch;

namespace Attune.Torch.Tests;

/// <summary>
/// Input embeddings and soft tokens: soft tokens that equal real tokens' embeddings must give
/// exactly what those tokens give as ids (the splice, the positions and the rows read are right).
/// </summary>
public class SoftTokenTests
{
    private static readonly CharTokenizer Tokenizer = CharTokenizer.FromAlphabet("abcdefgh:");

    [Theory]
    [InlineData("llama", 0)]
    [InlineData("llama", 1)]
    [InlineData("qwen3", 2)]
    public void Soft_tokens_equal_to_token_embeddings_give_the_same_log_probs_as_the_tokens(string arch, int at)
    {
        using var model = ModelFolder.Initialize(BuiltInModels.Create(arch, "tiny", Tokenizer.VocabSize), 11);
        using var _ = no_grad();
        var inserted = Tokenizer.Encode("hgf");
        SequencePair[] pairs = [new(Tokenizer.Encode("ab:"), Tokenizer.Encode("cde")), new(Tokenizer.Encode("ba:"), Tokenizer.Encode("d"))];
        var spliced = pairs.Select(p => new SequencePair([.. p.Prompt[..at], .. inserted, .. p.Prompt[at..]], p.Response)).ToList();
        using var expected = LogProbs.Response(model, spliced);

        using var ids = tensor(inserted.Select(i => (long)i).ToArray()).unsqueeze(0).expand(2, -1);
        using var soft = model.Embed(ids);                                      // [2, 3, E]
        using var got = LogProbs.Response(model, pairs, soft, at);
        Assert.Equal(expected.Sum.data<float>().ToArray(), got.Sum.data<float>().ToArray(), (x, y) => Math.Abs(x - y) <= 1e-5 * Math.Max(1, Math.Abs(x)));
        Assert.Equal(expected.Mask.data<float>().ToArray(), got.Mask.data<float>().ToArray());

        // No soft tokens at all is the plain computation.
        using var none = LogProbs.Response(model, pairs, zeros(2, 0, model.Config.HiddenSize), at);
        using var plain = LogProbs.Response(model, pairs);
        Assert.True(none.Sum.allclose(plain.Sum, rtol: 0, atol: 0));
    }

    [Fact]
    public void Generation_with_soft_tokens_equal_to_token_embeddings_is_generation_from_those_tokens()
    {
        using var model = ModelFolder.Initialize(BuiltInModels.Create("llama", "tiny", Tokenizer.VocabSize), 13);
        var inserted = Tokenizer.Encode("hg");
        int[][] prompts = [Tokenizer.Encode("ab:"), Tokenizer.Encode("bcda:")];  // different lengths: left padding
        var options = new GenerationOptions { MaxNewTokens = 6, Greedy = true };
        var expected = Generation.Generate(model, [.. prompts.Select(p => (int[])[.. p[..1], .. inserted, .. p[1..]])], options);
        using var ids = tensor(inserted.Select(i => (long)i).ToArray()).unsqueeze(0).expand(2, -1);
        using var soft = model.Embed(ids).detach();
        var got = Generation.Generate(model, prompts, options, new SoftPrefix(soft, 1));
        Assert.Equal(expected.Select(g => g.NewIds), got.Select(g => g.NewIds));
        Assert.Throws<ArgumentException>(() => Generation.Generate(model, prompts, options with { UseCache = false }, new SoftPrefix(soft, 1)));
    }

    [Fact]
    public void Hidden_from_embeddings_of_ids_is_hidden_of_the_ids()
    {
        using var model = ModelFolder.Initialize(BuiltInModels.Create("llama", "tiny", Tokenizer.VocabSize), 3);
        using var _ = no_grad();
        using var ids = tensor(new long[] { 1, 2, 3, 4, 5 }).unsqueeze(0);
        using var a = model.Hidden(ids);
        using var b = model.HiddenFromEmbeddings(model.Embed(ids));
        Assert.True(a.allclose(b, rtol: 0, atol: 0));
    }

    [Fact]
    public void Badly_shaped_soft_tokens_are_refused()
    {
        using var model = ModelFolder.Initialize(BuiltInModels.Create("llama", "tiny", Tokenizer.VocabSize), 3);
        SequencePair[] pairs = [new(Tokenizer.Encode("ab:"), Tokenizer.Encode("c"))];
        Assert.Throws<ArgumentException>(() => LogProbs.Response(model, pairs, zeros(2, 1, model.Config.HiddenSize), 1)); // two rows for one pair
        Assert.Throws<ArgumentException>(() => LogProbs.Response(model, pairs, zeros(1, 1, model.Config.HiddenSize), 4)); // after the prompt's end
    }
}

using Attune.Alignment.Probe;
using Attune.Alignment.Training;
using Attune.Core.Errors;

namespace Attune.Alignment.Tests;

/// <summary>Parameter subsets and the per-token gradient matrix of the probe.</summary>
[Collection("torch")]
public sealed class ProbeTests
{
    [Fact]
    public void Subsets_partition_the_squared_norms()
    {
        using var model = TinyTask.Model();
        var pair = TinyTask.Pairs(1, seed: 3)[0];
        ProbeResult P(string subset) => EntanglementProbe.Run(model, pair, -10, -10, new ProbeOptions { Parameters = subset });
        var all = P("all");
        var parts = new[] { "embeddings", "layer:0", "layer:1", "norm", "head" }.Select(P).ToList();
        Assert.Equal(all.ParameterCount, parts.Sum(p => p.ParameterCount));
        Assert.Equal(all.GradChosenNorm * all.GradChosenNorm, parts.Sum(p => p.GradChosenNorm * p.GradChosenNorm), all.GradChosenNorm * all.GradChosenNorm * 1e-4);
        Assert.Equal(all.GradInner, parts.Sum(p => p.GradInner), Math.Abs(all.GradInner) * 1e-3 + 1e-6);
        Assert.Throws<AttuneInputException>(() => P("layer:7"));
    }

    [Fact]
    public void Token_matrix_of_single_token_responses_is_the_sequence_cosine()
    {
        using var model = TinyTask.Model();
        var tok = TinyTask.Tokenizer;
        var pair = new PreferenceTokens(tok.Encode("mn:"), tok.Encode("a"), tok.Encode("w"));
        var result = EntanglementProbe.Run(model, pair, -3, -3, new ProbeOptions { TokenMatrix = true });
        Assert.Equal(1, result.TokenCosine!.GetLength(0));
        Assert.Equal(result.GradCosine, result.TokenCosine[0, 0], 1e-4);
        // Over the untied output head alone the gradients are (e_a − p)hᵀ and (e_w − p)hᵀ, whose inner product is
        // (‖p‖² − p_a − p_w)‖h‖² < 0: a single differing token pulls the logits apart (the paper's single-token case).
        Assert.False(model.Config.TieWordEmbeddings);
        var head = EntanglementProbe.Run(model, pair, -3, -3, new ProbeOptions { Parameters = "head" });
        Assert.True(head.GradCosine < 0, $"cosine {head.GradCosine}");
        Assert.Equal("chosen_up_rejected_down", head.Case);
    }

    [Fact]
    public void Token_matrix_has_one_row_per_chosen_token()
    {
        using var model = TinyTask.Model();
        var tok = TinyTask.Tokenizer;
        var pair = new PreferenceTokens(tok.Encode("mn:"), tok.Encode("abc"), tok.Encode("wx"));
        var result = EntanglementProbe.Run(model, pair, -3, -3, new ProbeOptions { TokenMatrix = true });
        Assert.Equal((3, 2), (result.TokenCosine!.GetLength(0), result.TokenCosine.GetLength(1)));
        Assert.All(Enumerable.Range(0, 6), k => Assert.InRange(result.TokenCosine[k / 2, k % 2], -1.0001, 1.0001));
    }

    [Fact]
    public void Simpo_ratio_is_the_length_ratio()
    {
        using var model = TinyTask.Model();
        var tok = TinyTask.Tokenizer;
        var pair = new PreferenceTokens(tok.Encode("mn:"), tok.Encode("abcd"), tok.Encode("wx"));
        var result = EntanglementProbe.Run(model, pair, null, null, new ProbeOptions { Loss = "simpo", LossOptions = new() { Beta = 2 } });
        Assert.Equal(2.0 / 4.0, result.Ratio!.Value, 1e-4);   // h_w′/h_l′ = |y_l|/|y_w|
        Assert.Equal(result.GradInner < result.Ratio.Value * result.GradChosenNorm * result.GradChosenNorm, result.ChosenRises);
    }
}

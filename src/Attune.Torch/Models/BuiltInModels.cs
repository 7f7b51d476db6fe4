using Attune.Core.Errors;

namespace Attune.Torch.Models;

/// <summary>
/// Configurations of the small models Attune builds itself (<c>attune model init</c>): the same
/// Llama / Qwen2 / Qwen3 architectures as real checkpoints, sized for a laptop.
/// </summary>
public static class BuiltInModels
{
    /// <summary>The sizes <c>attune model init --size</c> knows.</summary>
    public static readonly IReadOnlyList<string> Sizes = ["tiny", "small", "bench"];

    /// <summary>A configuration of family <paramref name="arch"/> and size <paramref name="size"/> for a vocabulary of <paramref name="vocabSize"/>.</summary>
    /// <remarks>
    /// tiny: hidden 64, 2 layers, 4 heads (2 KV), MLP 128 — the fixtures' shape, for tests.
    /// small: hidden 128, 4 layers, 4 heads (2 KV), MLP 384 — for the reproductions.
    /// bench: hidden 384, 8 layers, 6 heads (2 KV), MLP 1024, vocab 8192 by default — the ~19M-parameter benchmark model.
    /// </remarks>
    public static ModelConfig Create(string arch, string size, int vocabSize)
    {
        if (!ModelConfig.KnownTypes.Contains(arch))
        {
            throw new AttuneInputException($"unknown architecture '{arch}' (known: {string.Join(", ", ModelConfig.KnownTypes)})");
        }

        var (hidden, layers, heads, kv, mlp) = size switch
        {
            "tiny" => (64, 2, 4, 2, 128),
            "small" => (128, 4, 4, 2, 384),
            "bench" => (384, 8, 6, 2, 1024),
            _ => throw new AttuneInputException($"unknown size '{size}' (known: {string.Join(", ", Sizes)})"),
        };
        if (vocabSize < 2)
        {
            throw new AttuneInputException($"a vocabulary of {vocabSize} tokens is too small");
        }

        return new ModelConfig
        {
            ModelType = arch,
            VocabSize = vocabSize,
            HiddenSize = hidden,
            IntermediateSize = mlp,
            NumLayers = layers,
            NumHeads = heads,
            NumKeyValueHeads = kv,
            HeadDim = hidden / heads,
            RmsNormEps = 1e-6,
            Rope = new RopeSettings(10000.0),
            TieWordEmbeddings = arch == "qwen3",
            QkvBias = arch == "qwen2",
            QkNorm = arch == "qwen3",
            MaxPositionEmbeddings = 2048,
        };
    }
}

using System.Text.Json;
using Attune.Core.Errors;
using Attune.Torch.Models;
using Attune.Torch.Serving;
using Attune.Torch.Tokenizers;
using TorchSharp;
using static TorchSharp.torch;

namespace Attune.Torch.Gguf;

/// <summary>What an export wrote.</summary>
public sealed record GgufExportSummary(
    string Path,
    string Architecture,
    string DType,
    int TensorCount,
    long Bytes,
    int VocabSize,
    string PreTokenizer,
    string ChatTemplate);

/// <summary>
/// Writes a <see cref="CausalLM"/> and its byte-level BPE tokenizer as a GGUF file that llama.cpp
/// runs: the architecture's hyper-parameters, the tensors under llama.cpp's names (Q and K rows
/// permuted for <c>llama</c>, whose rotary embedding pairs adjacent dimensions where Hugging Face
/// pairs the two halves), and the tokenizer as <c>gpt2</c>-style BPE with its merges, special
/// tokens and a chat template. What convert_hf_to_gguf.py does for these three families, in C#.
/// </summary>
public static class GgufExporter
{
    /// <summary>Hugging Face pre-tokenizer split patterns and llama.cpp's name for each (<c>tokenizer.ggml.pre</c>).</summary>
    public static readonly IReadOnlyDictionary<string, string> KnownSplitPatterns = new Dictionary<string, string>(StringComparer.Ordinal)
    {
        [@"(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+"] = "llama-bpe",
        [@"(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+"] = "qwen2",
    };

    // ggml token types (llama.cpp's LLAMA_TOKEN_TYPE_*).
    private const int Normal = 1;
    private const int Control = 3;
    private const int UserDefined = 4;
    private const int Unused = 5;

    /// <summary>Exports <paramref name="model"/> with <paramref name="tokenizer"/> to <paramref name="path"/> (atomically).</summary>
    /// <exception cref="AttuneInputException">The tokenizer is not byte-level BPE, or the model has something llama.cpp cannot take.</exception>
    public static GgufExportSummary Export(CausalLM model, ITokenizer tokenizer, string path, GgmlType dtype = GgmlType.F32, ChatTemplate? template = null, string? name = null)
    {
        ArgumentNullException.ThrowIfNull(path);
        var (writer, pre, chat) = Build(model, tokenizer, dtype, template, name ?? Path.GetFileNameWithoutExtension(path));
        writer.Write(path);
        return new GgufExportSummary(
            Path.GetFullPath(path), model.Config.ModelType, dtype.ToString().ToLowerInvariant(), writer.TensorNames.Count,
            new FileInfo(path).Length, model.Config.VocabSize, pre, chat);
    }

    /// <summary>The writer with every key and tensor added (not yet written), the pre-tokenizer name and the chat template name.</summary>
    public static (GgufWriter Writer, string PreTokenizer, string ChatTemplate) Build(CausalLM model, ITokenizer tokenizer, GgmlType dtype, ChatTemplate? template, string name)
    {
        ArgumentNullException.ThrowIfNull(model);
        ArgumentNullException.ThrowIfNull(tokenizer);
        if (tokenizer is not BpeTokenizer bpe)
        {
            throw new AttuneInputException(
                $"GGUF export needs a byte-level BPE tokenizer.json (GPT-2 / Qwen / Llama-3 style); this model has a {tokenizer.GetType().Name}, which llama.cpp has no tokenizer for");
        }

        var c = model.Config;
        if (c.MlpBias)
        {
            throw new AttuneInputException("GGUF export: MLP biases (mlp_bias) are not supported");
        }

        if (tokenizer.VocabSize > c.VocabSize)
        {
            throw new AttuneInputException($"the tokenizer has {tokenizer.VocabSize} tokens but the model only {c.VocabSize}", bpe.Path);
        }

        var w = new GgufWriter();
        var arch = c.ModelType;
        w.Add("general.architecture", arch);
        w.Add("general.name", name);
        w.Add("general.file_type", dtype == GgmlType.F32 ? 0u : 1u);   // LLAMA_FTYPE_ALL_F32 / MOSTLY_F16
        w.Add($"{arch}.vocab_size", (uint)c.VocabSize);
        w.Add($"{arch}.context_length", (uint)c.MaxPositionEmbeddings);
        w.Add($"{arch}.embedding_length", (uint)c.HiddenSize);
        w.Add($"{arch}.block_count", (uint)c.NumLayers);
        w.Add($"{arch}.feed_forward_length", (uint)c.IntermediateSize);
        w.Add($"{arch}.attention.head_count", (uint)c.NumHeads);
        w.Add($"{arch}.attention.head_count_kv", (uint)c.NumKeyValueHeads);
        w.Add($"{arch}.attention.key_length", (uint)c.HeadDim);
        w.Add($"{arch}.attention.value_length", (uint)c.HeadDim);
        w.Add($"{arch}.attention.layer_norm_rms_epsilon", (float)c.RmsNormEps);
        w.Add($"{arch}.rope.dimension_count", (uint)c.HeadDim);
        w.Add($"{arch}.rope.freq_base", (float)c.Rope.Theta);
        if (c.Rope.Type == "linear")
        {
            w.Add($"{arch}.rope.scaling.type", "linear");
            w.Add($"{arch}.rope.scaling.factor", (float)c.Rope.Factor);
        }

        var chat = template ?? ChatTemplate.Select(tokenizer, c.ModelType);
        var pre = AddTokenizer(w, bpe, c, chat);
        AddTensors(w, model, dtype);
        return (w, pre, chat.Name);
    }

    /// <summary>The llama.cpp name of a Hugging Face parameter name.</summary>
    public static string TensorName(string hfName)
    {
        ArgumentNullException.ThrowIfNull(hfName);
        switch (hfName)
        {
            case "model.embed_tokens.weight": return "token_embd.weight";
            case "model.norm.weight": return "output_norm.weight";
            case "lm_head.weight": return "output.weight";
        }

        const string prefix = "model.layers.";
        if (hfName.StartsWith(prefix, StringComparison.Ordinal))
        {
            var dot = hfName.IndexOf('.', prefix.Length);
            if (dot > prefix.Length && int.TryParse(hfName.AsSpan(prefix.Length, dot - prefix.Length), out var layer))
            {
                var rest = hfName[(dot + 1)..];
                var lastDot = rest.LastIndexOf('.');
                var module = rest[..lastDot];
                var kind = rest[(lastDot + 1)..];   // weight or bias
                var mapped = module switch
                {
                    "input_layernorm" => "attn_norm",
                    "self_attn.q_proj" => "attn_q",
                    "self_attn.k_proj" => "attn_k",
                    "self_attn.v_proj" => "attn_v",
                    "self_attn.o_proj" => "attn_output",
                    "self_attn.q_norm" => "attn_q_norm",
                    "self_attn.k_norm" => "attn_k_norm",
                    "post_attention_layernorm" => "ffn_norm",
                    "mlp.gate_proj" => "ffn_gate",
                    "mlp.up_proj" => "ffn_up",
                    "mlp.down_proj" => "ffn_down",
                    _ => null,
                };
                if (mapped is not null && kind is "weight" or "bias")
                {
                    return $"blk.{layer}.{mapped}.{kind}";
                }
            }
        }

        throw new AttuneInputException($"GGUF export: no llama.cpp name for the parameter '{hfName}'");
    }

    /// <summary>
    /// Reorders the rows of a Llama q_proj/k_proj weight (or bias) from Hugging Face's rotary layout
    /// (each head's first half rotates with its second half) to llama.cpp's (adjacent pairs rotate):
    /// rows viewed as [heads, 2, D/2] become [heads, D/2, 2].
    /// </summary>
    public static Tensor PermuteForRope(Tensor weight, int heads)
    {
        ArgumentNullException.ThrowIfNull(weight);
        var rows = weight.shape[0];
        if (rows % (2 * heads) != 0)
        {
            throw new ArgumentException($"{rows} rows do not split into {heads} heads of even size");
        }

        var rest = weight.shape.Skip(1).ToArray();
        long[] view = [heads, 2, rows / heads / 2, .. rest];
        return weight.reshape(view).transpose(1, 2).reshape(weight.shape);
    }

    private static void AddTensors(GgufWriter w, CausalLM model, GgmlType dtype)
    {
        var c = model.Config;
        using var noGrad = no_grad();
        foreach (var (hfName, parameter) in model.StateDict())
        {
            using var scope = NewDisposeScope();
            var t = parameter.detach().to_type(ScalarType.Float32).cpu();
            var heads = c.ModelType != "llama" ? 0
                : hfName.Contains(".self_attn.q_proj.", StringComparison.Ordinal) ? c.NumHeads
                : hfName.Contains(".self_attn.k_proj.", StringComparison.Ordinal) ? c.NumKeyValueHeads
                : 0;
            if (heads > 0)
            {
                t = PermuteForRope(t, heads);
            }

            var data = t.contiguous().data<float>().ToArray();
            // As convert_hf_to_gguf: vectors (norms, biases) stay F32 whatever the file type.
            w.AddTensor(TensorName(hfName), t.shape, data, t.shape.Length == 1 ? GgmlType.F32 : dtype);
        }

        if (c.Rope.Type == "llama3")
        {
            // llama.cpp applies Llama 3's frequency scaling as a per-frequency divisor tensor.
            var plain = RotaryEmbedding.InverseFrequencies(c.HeadDim, c.Rope with { Type = "default" });
            var scaled = RotaryEmbedding.InverseFrequencies(c.HeadDim, c.Rope);
            w.AddTensor("rope_freqs.weight", [plain.Length], [.. plain.Zip(scaled, (p, s) => p / s)], GgmlType.F32);
        }
    }

    private static string AddTokenizer(GgufWriter w, BpeTokenizer tokenizer, ModelConfig c, ChatTemplate chat)
    {
        var (merges, pre) = ReadMergesAndPre(tokenizer.Path);
        var added = tokenizer.AddedTokens.ToDictionary(t => t.Id);
        var tokens = new string[c.VocabSize];
        var types = new int[c.VocabSize];
        for (var id = 0; id < c.VocabSize; id++)
        {
            var token = tokenizer.IdToToken(id);
            tokens[id] = token ?? $"[PAD{id}]";
            types[id] = token is null ? Unused : added.TryGetValue(id, out var a) ? (a.Special ? Control : UserDefined) : Normal;
        }

        w.Add("tokenizer.ggml.model", "gpt2");
        w.Add("tokenizer.ggml.pre", pre);
        w.AddArray("tokenizer.ggml.tokens", tokens);
        w.AddArray("tokenizer.ggml.token_type", types);
        w.AddArray("tokenizer.ggml.merges", merges);
        var bos = tokenizer.BosTokenId ?? c.BosTokenId;
        var eos = tokenizer.EosTokenId ?? (c.EosTokenIds.Count > 0 ? c.EosTokenIds[0] : null);
        if (bos is { } b)
        {
            w.Add("tokenizer.ggml.bos_token_id", (uint)b);
        }

        if (eos is { } e)
        {
            w.Add("tokenizer.ggml.eos_token_id", (uint)e);
        }

        if (tokenizer.SpecialTokenId(chat.EndOfTurn) is { } eot)
        {
            w.Add("tokenizer.ggml.eot_token_id", (uint)eot);
        }

        if ((tokenizer.PadTokenId ?? c.PadTokenId) is { } pad)
        {
            w.Add("tokenizer.ggml.padding_token_id", (uint)pad);
        }

        // llama.cpp adds BOS by default for BPE vocabularies; say what this tokenizer does.
        var probe = tokenizer.Encode("a", addSpecialTokens: true);
        w.Add("tokenizer.ggml.add_bos_token", bos is { } first && probe.Length > 0 && probe[0] == first);
        w.Add("tokenizer.ggml.add_eos_token", false);
        w.Add("tokenizer.chat_template", chat.Jinja);
        return pre;
    }

    /// <summary>The merges as <c>"a b"</c> in rank order, and llama.cpp's pre-tokenizer name, from the tokenizer.json.</summary>
    private static (List<string> Merges, string Pre) ReadMergesAndPre(string file)
    {
        if (string.IsNullOrEmpty(file) || !File.Exists(file))
        {
            throw new AttuneInputException("GGUF export re-reads the tokenizer's merges from its tokenizer.json, which is gone", file);
        }

        using var doc = JsonDocument.Parse(File.ReadAllText(file));
        var root = doc.RootElement;
        var merges = new List<string>();
        foreach (var m in root.GetProperty("model").GetProperty("merges").EnumerateArray())
        {
            merges.Add(m.ValueKind == JsonValueKind.String ? m.GetString()! : $"{m[0].GetString()} {m[1].GetString()}");
        }

        if (merges.Any(m => m.Count(ch => ch == ' ') != 1))
        {
            throw new AttuneInputException("GGUF export: a merge holds a token with a space, which llama.cpp's \"a b\" merges cannot express", file, field: "model.merges");
        }

        return (merges, PreTokenizerName(root, file));
    }

    /// <summary>
    /// llama.cpp has no general pre-tokenizer: it knows named patterns. GPT-2's ByteLevel regex is
    /// <c>gpt-2</c>; a Split with Llama 3's or Qwen2's pattern before a regex-free ByteLevel is
    /// <c>llama-bpe</c> or <c>qwen2</c>. Anything else cannot be exported faithfully.
    /// </summary>
    private static string PreTokenizerName(JsonElement root, string file)
    {
        if (!root.TryGetProperty("pre_tokenizer", out var p) || p.ValueKind != JsonValueKind.Object)
        {
            throw new AttuneInputException("GGUF export: no pre_tokenizer; llama.cpp needs a known one (ByteLevel with GPT-2's regex, or Llama 3's / Qwen2's Split pattern)", file, field: "pre_tokenizer");
        }

        static bool Flag(JsonElement e, string name, bool fallback) =>
            e.TryGetProperty(name, out var v) && v.ValueKind is JsonValueKind.True or JsonValueKind.False ? v.GetBoolean() : fallback;

        var type = p.GetProperty("type").GetString();
        if (type == "ByteLevel" && Flag(p, "use_regex", true))
        {
            if (Flag(p, "add_prefix_space", true))
            {
                throw new AttuneInputException("GGUF export: ByteLevel with add_prefix_space is not supported by llama.cpp's gpt-2 pre-tokenizer", file, field: "pre_tokenizer.add_prefix_space");
            }

            return "gpt-2";
        }

        if (type == "Sequence" && p.GetProperty("pretokenizers") is { ValueKind: JsonValueKind.Array } steps && steps.GetArrayLength() == 2
            && steps[0].GetProperty("type").GetString() == "Split" && steps[1].GetProperty("type").GetString() == "ByteLevel"
            && !Flag(steps[1], "use_regex", true)
            && steps[0].TryGetProperty("pattern", out var pattern) && pattern.TryGetProperty("Regex", out var regex)
            && KnownSplitPatterns.TryGetValue(regex.GetString() ?? "", out var known))
        {
            return known;
        }

        throw new AttuneInputException(
            "GGUF export: llama.cpp knows only named pre-tokenizers; supported: ByteLevel with GPT-2's regex (gpt-2), or Split with Llama 3's (llama-bpe) or Qwen2's (qwen2) pattern followed by ByteLevel without regex",
            file,
            field: "pre_tokenizer");
    }
}

using System.Text.Json;
using System.Text.Json.Nodes;
using Attune.Core.Errors;
using Attune.Core.IO;

namespace Attune.Torch.Models;

/// <summary>How rotary position embeddings are computed (<c>rope_type</c>).</summary>
public sealed record RopeSettings(
    double Theta,
    string Type = "default",
    double Factor = 1.0,
    double LowFrequencyFactor = 1.0,
    double HighFrequencyFactor = 4.0,
    int OriginalMaxPositions = 8192);

/// <summary>
/// A causal language model's <c>config.json</c>, for the Llama, Qwen2 and Qwen3 families. Reads
/// both the transformers-4 form (<c>rope_theta</c>, <c>rope_scaling</c>) and the transformers-5
/// form (<c>rope_parameters</c>), and writes the transformers-5 form back with the fields the
/// reference stack needs.
/// </summary>
public sealed record ModelConfig
{
    public required string ModelType { get; init; }

    public required int VocabSize { get; init; }

    public required int HiddenSize { get; init; }

    public required int IntermediateSize { get; init; }

    public required int NumLayers { get; init; }

    public required int NumHeads { get; init; }

    public required int NumKeyValueHeads { get; init; }

    public required int HeadDim { get; init; }

    public double RmsNormEps { get; init; } = 1e-6;

    public required RopeSettings Rope { get; init; }

    public bool TieWordEmbeddings { get; init; }

    /// <summary>Biases on the q, k and v projections (Qwen2: always; Llama: <c>attention_bias</c>).</summary>
    public bool QkvBias { get; init; }

    /// <summary>A bias on the output projection too (Llama's <c>attention_bias</c> covers o_proj).</summary>
    public bool OutputBias { get; init; }

    public bool MlpBias { get; init; }

    /// <summary>RMSNorm over each head of q and k (Qwen3).</summary>
    public bool QkNorm { get; init; }

    public int MaxPositionEmbeddings { get; init; } = 2048;

    public int? BosTokenId { get; init; }

    public IReadOnlyList<int> EosTokenIds { get; init; } = [];

    public int? PadTokenId { get; init; }

    public string HiddenAct { get; init; } = "silu";

    /// <summary>The families this port implements.</summary>
    public static readonly IReadOnlyList<string> KnownTypes = ["llama", "qwen2", "qwen3"];

    /// <summary>Reads <c>config.json</c> from a checkpoint folder or a file path.</summary>
    public static ModelConfig Load(string path)
    {
        var file = Directory.Exists(path) ? Path.Combine(path, "config.json") : path;
        return Parse(JsonFile.ParseObject(file), file);
    }

    public static ModelConfig Parse(JsonObject o, string file)
    {
        var type = Str(o, "model_type", file) ?? throw new AttuneInputException("missing", file, field: "model_type");
        if (!KnownTypes.Contains(type))
        {
            throw new AttuneInputException($"unsupported model type '{type}' (supported: {string.Join(", ", KnownTypes)})", file, field: "model_type");
        }

        var hidden = Int(o, "hidden_size", file) ?? throw Missing("hidden_size");
        var heads = Int(o, "num_attention_heads", file) ?? throw Missing("num_attention_heads");
        var kvHeads = Int(o, "num_key_value_heads", file) ?? heads;
        var headDim = Int(o, "head_dim", file) ?? (heads > 0 ? hidden / heads : 0);
        if (heads <= 0 || kvHeads <= 0 || heads % kvHeads != 0)
        {
            throw new AttuneInputException($"num_attention_heads {heads} must be a positive multiple of num_key_value_heads {kvHeads}", file, field: "num_key_value_heads");
        }

        if (headDim <= 0 || headDim % 2 != 0)
        {
            throw new AttuneInputException($"head_dim {headDim} must be positive and even (rotary embeddings rotate pairs)", file, field: "head_dim");
        }

        var attentionBias = Bool(o, "attention_bias", file) ?? false;
        var config = new ModelConfig
        {
            ModelType = type,
            VocabSize = Positive(o, "vocab_size", file),
            HiddenSize = hidden,
            IntermediateSize = Positive(o, "intermediate_size", file),
            NumLayers = Positive(o, "num_hidden_layers", file),
            NumHeads = heads,
            NumKeyValueHeads = kvHeads,
            HeadDim = headDim,
            RmsNormEps = Double(o, "rms_norm_eps", file) ?? 1e-6,
            Rope = ReadRope(o, file),
            TieWordEmbeddings = Bool(o, "tie_word_embeddings", file) ?? false,
            QkvBias = type == "qwen2" || attentionBias,
            OutputBias = type != "qwen2" && attentionBias,
            MlpBias = Bool(o, "mlp_bias", file) ?? false,
            QkNorm = type == "qwen3",
            MaxPositionEmbeddings = Int(o, "max_position_embeddings", file) ?? 2048,
            BosTokenId = Int(o, "bos_token_id", file),
            EosTokenIds = IntOrList(o, "eos_token_id", file),
            PadTokenId = Int(o, "pad_token_id", file),
            HiddenAct = Str(o, "hidden_act", file) ?? "silu",
        };
        if (config.HiddenAct != "silu")
        {
            throw new AttuneInputException($"unsupported activation '{config.HiddenAct}' (supported: silu)", file, field: "hidden_act");
        }

        return config;

        AttuneInputException Missing(string field) => new("missing", file, field: field);
    }

    /// <summary>The architecture class name Hugging Face uses for this family.</summary>
    public string ArchitectureName => ModelType switch
    {
        "llama" => "LlamaForCausalLM",
        "qwen2" => "Qwen2ForCausalLM",
        _ => "Qwen3ForCausalLM",
    };

    /// <summary>Writes <c>config.json</c> (transformers-5 form) into <paramref name="directory"/>, atomically.</summary>
    public void Save(string directory)
    {
        var rope = new JsonObject { ["rope_theta"] = Rope.Theta, ["rope_type"] = Rope.Type };
        if (Rope.Type == "llama3")
        {
            rope["factor"] = Rope.Factor;
            rope["low_freq_factor"] = Rope.LowFrequencyFactor;
            rope["high_freq_factor"] = Rope.HighFrequencyFactor;
            rope["original_max_position_embeddings"] = Rope.OriginalMaxPositions;
        }
        else if (Rope.Type == "linear")
        {
            rope["factor"] = Rope.Factor;
        }

        var o = new JsonObject
        {
            ["architectures"] = new JsonArray(ArchitectureName),
            ["model_type"] = ModelType,
            ["vocab_size"] = VocabSize,
            ["hidden_size"] = HiddenSize,
            ["intermediate_size"] = IntermediateSize,
            ["num_hidden_layers"] = NumLayers,
            ["num_attention_heads"] = NumHeads,
            ["num_key_value_heads"] = NumKeyValueHeads,
            ["head_dim"] = HeadDim,
            ["hidden_act"] = HiddenAct,
            ["rms_norm_eps"] = RmsNormEps,
            ["max_position_embeddings"] = MaxPositionEmbeddings,
            ["tie_word_embeddings"] = TieWordEmbeddings,
            ["rope_parameters"] = rope,
            // transformers 4 reads these two; 5 reads rope_parameters.
            ["rope_theta"] = Rope.Theta,
            ["bos_token_id"] = BosTokenId,
            ["eos_token_id"] = EosTokenIds.Count switch { 0 => null, 1 => EosTokenIds[0], _ => new JsonArray([.. EosTokenIds.Select(i => (JsonNode)i)]) },
            ["pad_token_id"] = PadTokenId,
            ["dtype"] = "float32",
            ["use_cache"] = true,
        };
        if (ModelType == "llama")
        {
            o["attention_bias"] = QkvBias;
            o["mlp_bias"] = MlpBias;
        }

        Directory.CreateDirectory(directory);
        AtomicFile.WriteAllText(Path.Combine(directory, "config.json"), o.ToJsonString(new JsonSerializerOptions { WriteIndented = true }) + "\n");
    }

    private static RopeSettings ReadRope(JsonObject o, string file)
    {
        // transformers 5: rope_parameters {rope_theta, rope_type, ...}; transformers 4: rope_theta + rope_scaling {type|rope_type, ...}.
        var parameters = o["rope_parameters"] as JsonObject;
        var scaling = o["rope_scaling"] as JsonObject;
        var source = parameters ?? scaling;
        var field = parameters is not null ? "rope_parameters" : "rope_scaling";
        var theta = (parameters is not null ? Double(parameters, "rope_theta", file) : null) ?? Double(o, "rope_theta", file) ?? 10000.0;
        if (source is null)
        {
            return new RopeSettings(theta);
        }

        var type = Str(source, "rope_type", file) ?? Str(source, "type", file) ?? "default";
        switch (type)
        {
            case "default":
                return new RopeSettings(theta);
            case "linear":
                return new RopeSettings(theta, type, Factor: Double(source, "factor", file) ?? throw new AttuneInputException("missing", file, field: $"{field}.factor"));
            case "llama3":
                return new RopeSettings(
                    theta,
                    type,
                    Factor: Double(source, "factor", file) ?? throw new AttuneInputException("missing", file, field: $"{field}.factor"),
                    LowFrequencyFactor: Double(source, "low_freq_factor", file) ?? 1.0,
                    HighFrequencyFactor: Double(source, "high_freq_factor", file) ?? 4.0,
                    OriginalMaxPositions: Int(source, "original_max_position_embeddings", file) ?? 8192);
            default:
                throw new AttuneInputException($"unsupported rope type '{type}' (supported: default, linear, llama3)", file, field: field);
        }
    }

    private static string? Str(JsonObject o, string name, string file) => o[name] switch
    {
        null => null,
        JsonValue v when v.TryGetValue<string>(out var s) => s,
        _ => throw new AttuneInputException("must be a string", file, field: name),
    };

    private static int? Int(JsonObject o, string name, string file) => o[name] switch
    {
        null => null,
        JsonValue v when v.TryGetValue<int>(out var i) => i,
        JsonValue v when v.TryGetValue<double>(out var d) && d == Math.Floor(d) && Math.Abs(d) < int.MaxValue => (int)d,
        _ => throw new AttuneInputException("must be an integer", file, field: name),
    };

    private static int Positive(JsonObject o, string name, string file)
    {
        var v = Int(o, name, file) ?? throw new AttuneInputException("missing", file, field: name);
        return v > 0 ? v : throw new AttuneInputException($"must be positive, not {v}", file, field: name);
    }

    private static double? Double(JsonObject o, string name, string file) => o[name] switch
    {
        null => null,
        JsonValue v when v.TryGetValue<double>(out var d) => d,
        _ => throw new AttuneInputException("must be a number", file, field: name),
    };

    private static bool? Bool(JsonObject o, string name, string file) => o[name] switch
    {
        null => null,
        JsonValue v when v.TryGetValue<bool>(out var b) => b,
        _ => throw new AttuneInputException("must be true or false", file, field: name),
    };

    private static List<int> IntOrList(JsonObject o, string name, string file) => o[name] switch
    {
        null => [],
        JsonArray a => [.. a.Select((x, i) => x is JsonValue v && v.TryGetValue<int>(out var n) ? n : throw new AttuneInputException($"entry {i} must be an integer", file, field: name))],
        _ => [Int(o, name, file)!.Value],
    };
}

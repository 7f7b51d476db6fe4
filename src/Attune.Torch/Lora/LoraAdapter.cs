using System.Text.Json;
using System.Text.Json.Nodes;
using System.Text.RegularExpressions;
using Attune.Core.Errors;
using Attune.Core.IO;
using Attune.Torch.Models;
using TorchSharp.Modules;
using TorchSharp;
using static TorchSharp.torch;

namespace Attune.Torch.Lora;

/// <summary>LoRA settings, as PEFT's <c>adapter_config.json</c> names them.</summary>
public sealed record LoraConfig
{
    public int Rank { get; init; } = 8;

    public double Alpha { get; init; } = 16;

    public double Dropout { get; init; }

    /// <summary>Module names (the last part of the path, e.g. <c>q_proj</c>), or the single entry <c>all-linear</c>.</summary>
    public IReadOnlyList<string> TargetModules { get; init; } = ["q_proj", "v_proj"];

    /// <summary>A regular expression over the whole module path, used instead of <see cref="TargetModules"/> when set (PEFT: a string target_modules).</summary>
    public string? TargetPattern { get; init; }

    public bool RsLora { get; init; }

    public bool Targets(string path)
    {
        if (TargetPattern is not null)
        {
            return Regex.IsMatch(path, $"^(?:{TargetPattern})$", RegexOptions.None, TimeSpan.FromSeconds(1));
        }

        var last = path[(path.LastIndexOf('.') + 1)..];
        return TargetModules.Contains("all-linear") ? last != "lm_head" : TargetModules.Contains(last);
    }
}

/// <summary>
/// LoRA adapters on a <see cref="CausalLM"/>: attach, merge and unmerge, and the PEFT layout
/// (<c>adapter_config.json</c> + <c>adapter_model.safetensors</c> with names
/// <c>base_model.model.&lt;path&gt;.lora_A.weight</c>).
/// </summary>
public static class LoraAdapter
{
    public const string ConfigFile = "adapter_config.json";
    public const string WeightsFile = "adapter_model.safetensors";
    private const string PeftPrefix = "base_model.model.";

    /// <summary>Attaches fresh adapters to every targeted projection; returns the paths adapted.</summary>
    public static IReadOnlyList<string> Attach(CausalLM model, LoraConfig config, int seed)
    {
        torch.manual_seed(seed);
        var adapted = new List<string>();
        foreach (var (path, projection) in model.Projections().ToList())
        {
            if (config.Targets(path))
            {
                projection.AttachAdapter(config.Rank, config.Alpha, config.Dropout, config.RsLora);
                adapted.Add(path);
            }
        }

        if (adapted.Count == 0)
        {
            throw new AttuneInputException($"no module matches the LoRA targets ({config.TargetPattern ?? string.Join(", ", config.TargetModules)})");
        }

        return adapted;
    }

    /// <summary>The adapter parameters (for an optimizer); everything else should stay frozen.</summary>
    public static IReadOnlyList<Parameter> Parameters(CausalLM model) =>
        [.. model.Projections().Where(p => p.Projection.HasAdapter).SelectMany(p => new[] { p.Projection.LoraA!, p.Projection.LoraB! })];

    /// <summary>Freezes every base parameter and leaves the adapters trainable.</summary>
    public static void FreezeBase(CausalLM model)
    {
        foreach (var (name, p) in model.named_parameters())
        {
            p.requires_grad = CausalLM.IsAdapterParameter(name);
        }
    }

    public static void Merge(CausalLM model)
    {
        foreach (var (_, p) in model.Projections())
        {
            p.Merge();
        }
    }

    public static void Unmerge(CausalLM model)
    {
        foreach (var (_, p) in model.Projections())
        {
            p.Unmerge();
        }
    }

    /// <summary>Reads a PEFT adapter folder and attaches it to <paramref name="model"/>.</summary>
    public static LoraConfig Load(CausalLM model, string directory)
    {
        var config = ReadConfig(Path.Combine(directory, ConfigFile));
        var weightsPath = Path.Combine(directory, WeightsFile);
        var tensors = Safetensors.Safetensors.Load(weightsPath, ScalarType.Float32);
        try
        {
            var adapted = Attach(model, config, seed: 0);
            var projections = model.Projections().ToDictionary(p => p.Path, p => p.Projection, StringComparer.Ordinal);
            var used = new HashSet<string>(StringComparer.Ordinal);
            using var noGrad = no_grad();
            foreach (var path in adapted)
            {
                var projection = projections[path];
                foreach (var (suffix, target) in new[] { ("lora_A", projection.LoraA!), ("lora_B", projection.LoraB!) })
                {
                    var key = $"{PeftPrefix}{path}.{suffix}.weight";
                    if (!tensors.TryGetValue(key, out var t))
                    {
                        throw new AttuneInputException($"missing adapter tensor '{key}'", weightsPath);
                    }

                    if (!t.shape.SequenceEqual(target.shape))
                    {
                        throw new AttuneInputException($"shape [{string.Join(", ", t.shape)}] does not match the model's [{string.Join(", ", target.shape)}]", weightsPath, field: key);
                    }

                    target.copy_(t);
                    used.Add(key);
                }
            }

            var unused = tensors.Keys.Where(k => !used.Contains(k)).ToList();
            if (unused.Count > 0)
            {
                throw new AttuneInputException($"{unused.Count} adapter tensors match no targeted module of this model, e.g. '{unused[0]}'", weightsPath);
            }

            return config;
        }
        finally
        {
            foreach (var t in tensors.Values)
            {
                t.Dispose();
            }
        }
    }

    /// <summary>Writes the adapters in the PEFT layout so that <c>PeftModel.from_pretrained</c> loads them, as <paramref name="dtype"/>.</summary>
    public static void Save(CausalLM model, LoraConfig config, string directory, string? baseModel = null, Safetensors.SafetensorsDType dtype = Safetensors.SafetensorsDType.F32)
    {
        var tensors = new Dictionary<string, Tensor>(StringComparer.Ordinal);
        foreach (var (path, p) in model.Projections().Where(p => p.Projection.HasAdapter))
        {
            tensors[$"{PeftPrefix}{path}.lora_A.weight"] = p.LoraA!;
            tensors[$"{PeftPrefix}{path}.lora_B.weight"] = p.LoraB!;
        }

        if (tensors.Count == 0)
        {
            throw new InvalidOperationException("the model has no adapters to save");
        }

        Directory.CreateDirectory(directory);
        Safetensors.Safetensors.Save(Path.Combine(directory, WeightsFile), tensors, dtype);
        var json = new JsonObject
        {
            ["peft_type"] = "LORA",
            ["task_type"] = "CAUSAL_LM",
            ["base_model_name_or_path"] = baseModel,
            ["r"] = config.Rank,
            ["lora_alpha"] = config.Alpha,
            ["lora_dropout"] = config.Dropout,
            ["target_modules"] = config.TargetPattern is not null ? JsonValue.Create(config.TargetPattern) : new JsonArray([.. config.TargetModules.Select(m => (JsonNode)m)]),
            ["use_rslora"] = config.RsLora,
            ["use_dora"] = false,
            ["bias"] = "none",
            ["fan_in_fan_out"] = false,
            ["inference_mode"] = true,
            ["init_lora_weights"] = true,
            ["modules_to_save"] = null,
            ["rank_pattern"] = new JsonObject(),
            ["alpha_pattern"] = new JsonObject(),
        };
        AtomicFile.WriteAllText(Path.Combine(directory, ConfigFile), json.ToJsonString(new JsonSerializerOptions { WriteIndented = true }) + "\n");
    }

    /// <summary>Reads <c>adapter_config.json</c>; options Attune does not implement are errors, not silently ignored.</summary>
    public static LoraConfig ReadConfig(string path)
    {
        var o = JsonFile.ParseObject(path);
        var type = o["peft_type"]?.GetValue<string>();
        if (type != "LORA")
        {
            throw new AttuneInputException($"peft_type '{type}' is not LORA", path, field: "peft_type");
        }

        foreach (var (field, unsupported) in new (string, bool)[]
                 {
                     ("use_dora", o["use_dora"]?.GetValue<bool>() == true),
                     ("fan_in_fan_out", o["fan_in_fan_out"]?.GetValue<bool>() == true),
                     ("bias", o["bias"] is not null && o["bias"]!.GetValue<string>() != "none"),
                     ("rank_pattern", o["rank_pattern"] is JsonObject rp && rp.Count > 0),
                     ("alpha_pattern", o["alpha_pattern"] is JsonObject ap && ap.Count > 0),
                     ("modules_to_save", o["modules_to_save"] is JsonArray ms && ms.Count > 0),
                     ("layers_to_transform", o["layers_to_transform"] is not null),
                 })
        {
            if (unsupported)
            {
                throw new AttuneInputException("this LoRA option is not supported by Attune", path, field: field);
            }
        }

        var targets = o["target_modules"];
        return new LoraConfig
        {
            Rank = o["r"]?.GetValue<int>() ?? throw new AttuneInputException("missing", path, field: "r"),
            Alpha = o["lora_alpha"]?.GetValue<double>() ?? 8,
            Dropout = o["lora_dropout"]?.GetValue<double>() ?? 0,
            RsLora = o["use_rslora"]?.GetValue<bool>() ?? false,
            TargetModules = targets is JsonArray a ? [.. a.Select(x => x!.GetValue<string>())] : [],
            TargetPattern = targets is JsonValue v && v.TryGetValue<string>(out var pattern) ? (pattern == "all-linear" ? null : pattern) : null,
        } is var c && targets is JsonValue v2 && v2.TryGetValue<string>(out var p2) && p2 == "all-linear" ? c with { TargetModules = ["all-linear"] } : c;
    }
}

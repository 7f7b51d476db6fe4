using System.Globalization;
using System.Text.Json;
using System.Text.Json.Nodes;
using System.Text.RegularExpressions;
using Attune.Core.Errors;
using Attune.Core.IO;
using Attune.Torch.Lora;
using Attune.Torch.Models;
using Attune.Torch.Safetensors;
using static TorchSharp.torch;

namespace Attune.Torch.Training;

/// <summary>Where a run stands: everything besides tensors that a resumed run needs.</summary>
public sealed record TrainerState
{
    /// <summary>Optimizer steps completed.</summary>
    public long Step { get; init; }

    /// <summary>Steps the whole run takes.</summary>
    public long TotalSteps { get; init; }

    /// <summary>The epoch (0-based) and micro-batch index within it where the next step starts: the data-order position.</summary>
    public int Epoch { get; init; }

    public int NextMicroBatch { get; init; }

    public int MicroBatchesPerEpoch { get; init; }

    public int GradAccum { get; init; }

    /// <summary>The run's seed: data order of epoch e is drawn from (seed, e); dropout of step s from (seed, s).</summary>
    public int Seed { get; init; }

    /// <summary>The learning rate the last step used.</summary>
    public double LearningRate { get; init; }

    public double? LastLoss { get; init; }

    public double? LastEvalLoss { get; init; }

    /// <summary>Tokens fed to the model so far.</summary>
    public long TokensSeen { get; init; }

    public bool Lora { get; init; }

    /// <summary>The run's <see cref="Models.Precision"/> by name (<c>fp32</c>, <c>bf16</c>, <c>bf16-pure</c>); checkpoints from before it was recorded were fp32.</summary>
    public string Precision { get; init; } = "fp32";
}

/// <summary>
/// Training checkpoints, each a folder <c>checkpoints/step-NNNNNNNN/</c> holding
/// <c>model/</c> (Hugging Face layout) or <c>adapter/</c> (PEFT layout, when training LoRA),
/// <c>optimizer.safetensors</c> (AdamW moments by parameter name, step count in the metadata),
/// <c>trainer_state.json</c> and <c>run_config.json</c>. A checkpoint is written into a hidden
/// temporary folder and renamed into place, so a crash while writing leaves the earlier ones intact
/// and never a half-written <c>step-…</c> folder.
/// </summary>
public static partial class Checkpoints
{
    public const string ModelFolder = "model";
    public const string AdapterFolder = "adapter";
    public const string OptimizerFile = "optimizer.safetensors";
    public const string StateFile = "trainer_state.json";
    public const string RunConfigFile = "run_config.json";

    internal static readonly JsonSerializerOptions Json = new(JsonSerializerDefaults.Web) { WriteIndented = true, PropertyNamingPolicy = JsonNamingPolicy.SnakeCaseLower };

    /// <summary>The folder name of the checkpoint after <paramref name="step"/> steps.</summary>
    public static string Name(long step) => "step-" + step.ToString("D8", CultureInfo.InvariantCulture);

    /// <summary>Test hook: runs inside the temporary folder just before it is renamed into place.</summary>
    internal static Action<string>? BeforeCommit { get; set; }

    /// <summary>Writes a checkpoint under <paramref name="root"/> atomically; keeps the newest <paramref name="keep"/> (0: all). Returns its folder.</summary>
    public static string Save(string root, CausalLM model, LoraConfig? lora, AdamW optimizer, TrainerState state, JsonObject? runConfig, Action<string>? writeExtras = null, int keep = 0)
    {
        Directory.CreateDirectory(root);
        var final = Path.Combine(root, Name(state.Step));
        var temp = Path.Combine(root, $".{Name(state.Step)}.{Guid.NewGuid():N}.tmp");
        Directory.CreateDirectory(temp);
        try
        {
            WriteWeights(temp, model, lora, writeExtras);
            var meta = new Dictionary<string, string>(StringComparer.Ordinal)
            {
                ["step"] = optimizer.StepCount.ToString(CultureInfo.InvariantCulture),
                ["beta1"] = optimizer.Options.Beta1.ToString("R", CultureInfo.InvariantCulture),
                ["beta2"] = optimizer.Options.Beta2.ToString("R", CultureInfo.InvariantCulture),
                ["eps"] = optimizer.Options.Eps.ToString("R", CultureInfo.InvariantCulture),
                ["weight_decay"] = optimizer.Options.WeightDecay.ToString("R", CultureInfo.InvariantCulture),
            };
            Safetensors.Safetensors.Save(Path.Combine(temp, OptimizerFile), optimizer.StateTensors(), metadata: meta);
            AtomicFile.WriteAllText(Path.Combine(temp, RunConfigFile), (runConfig ?? []).ToJsonString(Json) + "\n");
            AtomicFile.WriteAllText(Path.Combine(temp, StateFile), JsonSerializer.Serialize(state, Json) + "\n");
            BeforeCommit?.Invoke(temp);
            if (Directory.Exists(final))
            {
                Directory.Delete(final, recursive: true);   // the same step saved again (e.g. resumed after the end)
            }

            Directory.Move(temp, final);
        }
        finally
        {
            if (Directory.Exists(temp))
            {
                Directory.Delete(temp, recursive: true);
            }
        }

        if (keep > 0)
        {
            foreach (var old in List(root).SkipLast(keep))
            {
                Directory.Delete(old, recursive: true);
            }
        }

        return final;
    }

    /// <summary>
    /// Drops the lines of a per-step JSON-lines log (<c>metrics.jsonl</c>, <c>probe.jsonl</c>) whose
    /// <c>step</c> is after <paramref name="step"/>: written after the checkpoint a resumed run starts
    /// from. A line cut short by a kill is dropped too. Rewritten atomically; a missing file is left alone.
    /// </summary>
    public static void TruncateStepLog(string path, long step)
    {
        if (!File.Exists(path))
        {
            return;
        }

        var kept = File.ReadLines(path).Where(line =>
        {
            try
            {
                using var doc = JsonDocument.Parse(line);
                return doc.RootElement.GetProperty("step").GetInt64() <= step;
            }
            catch (JsonException)
            {
                return false;   // a line cut short by the kill
            }
        }).ToList();
        AtomicFile.WriteAllText(path, kept.Count == 0 ? "" : string.Join('\n', kept) + "\n");
    }

    /// <summary>
    /// Writes a run's final weights to <c>model/</c> (or <c>adapter/</c> with LoRA) in
    /// <paramref name="output"/>, atomically (temporary folder + rename); returns the folder.
    /// </summary>
    public static string WriteFinal(string output, CausalLM model, LoraConfig? lora, Action<string>? writeExtras = null, SafetensorsDType dtype = SafetensorsDType.F32)
    {
        var name = lora is null ? ModelFolder : AdapterFolder;
        var final = Path.Combine(output, name);
        var temp = Path.Combine(output, $".final.{Guid.NewGuid():N}.tmp");
        try
        {
            WriteWeights(temp, model, lora, writeExtras, dtype);
            if (Directory.Exists(final))
            {
                Directory.Delete(final, recursive: true);
            }

            Directory.Move(Path.Combine(temp, name), final);
        }
        finally
        {
            if (Directory.Exists(temp))
            {
                Directory.Delete(temp, recursive: true);
            }
        }

        return final;
    }

    /// <summary>
    /// Writes the trained weights into <paramref name="directory"/>: <c>model/</c> (full) or <c>adapter/</c> (LoRA),
    /// floating tensors as <paramref name="dtype"/> (checkpoints keep F32, the master weights' type).
    /// </summary>
    public static void WriteWeights(string directory, CausalLM model, LoraConfig? lora, Action<string>? writeExtras = null, SafetensorsDType dtype = SafetensorsDType.F32)
    {
        if (lora is null)
        {
            var dir = Path.Combine(directory, ModelFolder);
            model.Save(dir, dtype);
            writeExtras?.Invoke(dir);
        }
        else
        {
            var dir = Path.Combine(directory, AdapterFolder);
            LoraAdapter.Save(model, lora, dir, dtype: dtype);
            writeExtras?.Invoke(dir);
        }
    }

    /// <summary>Complete checkpoints under <paramref name="root"/>, oldest first (temporary folders are not listed).</summary>
    public static IReadOnlyList<string> List(string root) =>
        !Directory.Exists(root)
            ? []
            : [.. Directory.EnumerateDirectories(root)
                .Where(d => StepFolder().IsMatch(Path.GetFileName(d)) && File.Exists(Path.Combine(d, StateFile)))
                .Order(StringComparer.Ordinal)];

    /// <summary>The newest complete checkpoint, or null.</summary>
    public static string? Latest(string root) => List(root).LastOrDefault();

    /// <summary>Removes temporary folders a crash left behind.</summary>
    public static void RemoveLeftovers(string root)
    {
        if (!Directory.Exists(root))
        {
            return;
        }

        foreach (var d in Directory.EnumerateDirectories(root, ".step-*.tmp"))
        {
            Directory.Delete(d, recursive: true);
        }
    }

    /// <summary>Reads a checkpoint's state file.</summary>
    public static TrainerState ReadState(string checkpoint)
    {
        var path = Path.Combine(checkpoint, StateFile);
        if (!File.Exists(path))
        {
            throw new AttuneInputException("not a checkpoint (no trainer_state.json)", checkpoint);
        }

        try
        {
            return JsonSerializer.Deserialize<TrainerState>(File.ReadAllText(path), Json) ?? throw new AttuneInputException("empty state", path);
        }
        catch (JsonException ex)
        {
            throw new AttuneInputException($"not a valid trainer state ({ex.Message.Split(". ")[0]})", path);
        }
    }

    /// <summary>Copies a checkpoint's weights and optimizer state into <paramref name="model"/> and <paramref name="optimizer"/>; returns its state.</summary>
    public static TrainerState Restore(string checkpoint, CausalLM model, bool lora, AdamW optimizer)
    {
        var state = ReadState(checkpoint);
        if (state.Lora != lora)
        {
            throw new AttuneInputException(state.Lora ? "the checkpoint holds a LoRA adapter but this run trains the full model" : "the checkpoint holds a full model but this run trains LoRA", checkpoint);
        }

        if (lora)
        {
            RestoreAdapter(Path.Combine(checkpoint, AdapterFolder), model);
        }
        else
        {
            var tensors = Safetensors.Safetensors.LoadCheckpoint(Path.Combine(checkpoint, ModelFolder), ScalarType.Float32);
            try
            {
                model.LoadStateDict(tensors, checkpoint);
            }
            finally
            {
                Dispose(tensors);
            }
        }

        var optimizerPath = Path.Combine(checkpoint, OptimizerFile);
        var header = Safetensors.SafetensorsHeader.Read(optimizerPath);
        var moments = Safetensors.Safetensors.Load(optimizerPath, ScalarType.Float32, model.Device);
        try
        {
            var step = header.Metadata.TryGetValue("step", out var s) ? long.Parse(s, CultureInfo.InvariantCulture) : state.Step;
            optimizer.LoadState(moments, step, optimizerPath);
        }
        finally
        {
            Dispose(moments);
        }

        return state;
    }

    /// <summary>Copies adapter weights in the PEFT layout onto the model's attached adapters, by name.</summary>
    private static void RestoreAdapter(string directory, CausalLM model)
    {
        var path = Path.Combine(directory, LoraAdapter.WeightsFile);
        var tensors = Safetensors.Safetensors.Load(path, ScalarType.Float32);
        try
        {
            var parameters = model.named_parameters().ToDictionary(p => p.name, p => p.parameter, StringComparer.Ordinal);
            var adapters = parameters.Keys.Where(CausalLM.IsAdapterParameter).ToHashSet(StringComparer.Ordinal);
            using var noGrad = no_grad();
            foreach (var (key, t) in tensors)
            {
                var name = key.StartsWith("base_model.model.", StringComparison.Ordinal) ? key["base_model.model.".Length..] : key;
                if (!adapters.Remove(name))
                {
                    throw new AttuneInputException($"adapter tensor '{key}' matches no adapter of the model", path);
                }

                parameters[name].copy_(t);
            }

            if (adapters.Count > 0)
            {
                throw new AttuneInputException($"{adapters.Count} adapter tensors missing, e.g. '{adapters.First()}'", path);
            }
        }
        finally
        {
            Dispose(tensors);
        }
    }

    private static void Dispose(Dictionary<string, Tensor> tensors)
    {
        foreach (var t in tensors.Values)
        {
            t.Dispose();
        }
    }

    [GeneratedRegex(@"^step-\d{8}$")]
    private static partial Regex StepFolder();
}

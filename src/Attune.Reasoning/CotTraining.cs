using System.Text.Json;
using System.Text.Json.Nodes;
using Attune.Core.Errors;
using Attune.Core.IO;
using Attune.Core.Randomness;
using Attune.Reasoning.Tasks;
using Attune.Torch.Lora;
using Attune.Torch.Models;
using Attune.Torch.Tokenizers;
using Attune.Torch.Training;

namespace Attune.Reasoning;

/// <summary>The training recipes of Composable CoT (Yin et al. 2025, Sections 4–5).</summary>
public enum CotRecipe
{
    /// <summary>One model per task in the data ("atomic CoT models"), each on its task's examples as written.</summary>
    Atomic,

    /// <summary>One model on the union of every data file's examples as written (multitask learning).</summary>
    Mtl,

    /// <summary>One model on the examples rewritten as instruction → answer (the answer-only baseline on a compositional budget).</summary>
    AnswerOnly,

    /// <summary>As <see cref="AnswerOnly"/>, from a model already trained (continued fine-tuning of an MTL model on the budget).</summary>
    Continued,
}

/// <summary>One prompt/response pair to learn.</summary>
public sealed record CotPair(string Prompt, string Response);

/// <summary>One training run a recipe asks for: its name, its folder and its pairs.</summary>
public sealed record CotRunPlan(string Name, string Output, IReadOnlyList<CotPair> Pairs);

/// <summary>Settings of the SFT runs a recipe makes (the trainer's, the batch size, LoRA).</summary>
public sealed record CotSftSettings
{
    public int BatchSize { get; init; } = 8;

    public LoraConfig? Lora { get; init; }

    public TrainerOptions Trainer { get; init; } = new();
}

/// <summary>The outcome of one run: where its weights are (<c>model/</c>, or <c>adapter/</c> for LoRA) and the trainer's result.</summary>
public sealed record CotRunResult(string Name, string Output, string? Weights, SftResult Sft);

/// <summary>Data assembly of the recipes, and the runs, all through <see cref="SftTrainer"/>.</summary>
public static class CotTraining
{
    /// <summary>The file each run writes its pairs to (JSON lines of <c>prompt</c>/<c>response</c>, <c>train sft</c>'s format).</summary>
    public const string PairsFile = "sft_data.jsonl";

    public static IReadOnlyList<string> RecipeNames { get; } = ["atomic", "mtl", "answer-only", "continued"];

    public static CotRecipe ParseRecipe(string? name) => name?.Trim().ToLowerInvariant() switch
    {
        "atomic" => CotRecipe.Atomic,
        "mtl" => CotRecipe.Mtl,
        "answer-only" or "answer" => CotRecipe.AnswerOnly,
        "continued" or "continue" => CotRecipe.Continued,
        _ => throw new AttuneInputException($"--recipe: unknown recipe '{name}' ({string.Join(", ", RecipeNames)})"),
    };

    /// <summary>Examples as written: prompt = instruction + input, response = output.</summary>
    public static IReadOnlyList<CotPair> AsWritten(IEnumerable<JsonObject> examples) =>
        [.. examples.Select(e => new CotPair(Prompt(e), (string)e["output"]!))];

    /// <summary>
    /// Examples rewritten as answer-only: the instruction without a proxy prefix → the answer (the task's
    /// oracle, else <c>answer_label</c>; an example with neither is bad input naming it).
    /// </summary>
    public static IReadOnlyList<CotPair> AnswerOnly(IReadOnlyList<JsonObject> examples, string source) =>
        [.. CotEvaluation.Questions(examples, source).Select(q => new CotPair(q.Instruction, q.Answer))];

    /// <summary>The task of every example: its <c>task</c> field, else the task whose template its instruction follows (bad input when neither).</summary>
    public static IReadOnlyList<string> Tasks(IReadOnlyList<JsonObject> examples, string source)
    {
        ArgumentNullException.ThrowIfNull(examples);
        return [.. examples.Select((e, i) => e["task"] is JsonValue t && (string?)t is { Length: > 0 } named ? named
            : ReasoningTasks.Recognise(Prompt(e))?.Name ?? throw new AttuneInputException($"example {i + 1}: no task field, and the instruction follows no task template", source))];
    }

    /// <summary>
    /// The runs of <paramref name="recipe"/> over the data files: atomic, one per task (in the order tasks
    /// first appear) under <c>output/&lt;task&gt;/</c>; the others, one under <paramref name="output"/> on every
    /// file's examples, shuffled together with <paramref name="seed"/>.
    /// </summary>
    public static IReadOnlyList<CotRunPlan> Plan(CotRecipe recipe, IReadOnlyList<(string Path, IReadOnlyList<JsonObject> Examples)> data, string output, int seed)
    {
        ArgumentNullException.ThrowIfNull(data);
        if (recipe == CotRecipe.Atomic)
        {
            var byTask = new List<(string Task, List<CotPair> Pairs)>();
            foreach (var (path, examples) in data)
            {
                var tasks = Tasks(examples, path);
                var pairs = AsWritten(examples);
                for (var i = 0; i < pairs.Count; i++)
                {
                    var slot = byTask.FindIndex(t => t.Task == tasks[i]);
                    if (slot < 0)
                    {
                        byTask.Add((tasks[i], []));
                        slot = byTask.Count - 1;
                    }

                    byTask[slot].Pairs.Add(pairs[i]);
                }
            }

            return [.. byTask.Select(t => new CotRunPlan(t.Task, Path.Combine(output, t.Task), t.Pairs))];
        }

        var all = data.SelectMany(d => recipe == CotRecipe.Mtl ? AsWritten(d.Examples) : AnswerOnly(d.Examples, d.Path)).ToArray();
        Seeds.Create(seed, 19).Shuffle(all);
        return [new CotRunPlan(RecipeNames[(int)recipe], output, all)];
    }

    /// <summary>Writes pairs as <c>train sft</c>'s JSON lines (atomically).</summary>
    public static void WritePairs(string path, IEnumerable<CotPair> pairs)
    {
        ArgumentNullException.ThrowIfNull(pairs);
        AtomicFile.WriteAllText(path, string.Concat(pairs.Select(p => JsonSerializer.Serialize(new { prompt = p.Prompt, response = p.Response }, CotData.Compact) + "\n")));
    }

    /// <summary>
    /// Fine-tunes the model in <paramref name="modelDirectory"/> (with its tokenizer) on <paramref name="pairs"/>:
    /// writes them to <c>run/sft_data.jsonl</c> (and <paramref name="eval"/> to <c>run/sft_eval.jsonl</c>) and runs
    /// <see cref="SftTrainer"/> into <paramref name="runDirectory"/>.
    /// </summary>
    public static CotRunResult Fit(string name, string modelDirectory, IReadOnlyList<CotPair> pairs, IReadOnlyList<CotPair>? eval, string runDirectory,
        CotSftSettings settings, JsonObject? runConfig, TextWriter? progress, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(settings);
        if (pairs.Count == 0)
        {
            throw new AttuneInputException($"{name}: no examples to train on");
        }

        Directory.CreateDirectory(runDirectory);
        var dataPath = Path.Combine(runDirectory, PairsFile);
        WritePairs(dataPath, pairs);
        string? evalPath = null;
        if (eval is { Count: > 0 })
        {
            evalPath = Path.Combine(runDirectory, "sft_eval.jsonl");
            WritePairs(evalPath, eval);
        }

        var tokenizerPath = Path.Combine(modelDirectory, "tokenizer.json");
        var (model, tokenizer) = ModelFolder.Open(modelDirectory, null, null, settings.Trainer.Precision);
        using (model)
        {
            var options = new SftOptions { DataPath = dataPath, EvalPath = evalPath, BatchSize = settings.BatchSize, Lora = settings.Lora, Trainer = settings.Trainer };
            var sft = SftTrainer.Run(model, tokenizer, options, runDirectory, progress, runConfig, tokenizerPath, cancellationToken);
            return new CotRunResult(name, runDirectory, sft.Train.Output, sft);
        }
    }

    /// <summary>
    /// Runs a recipe: every planned run starts from <paramref name="modelDirectory"/>; <paramref name="evalData"/>
    /// (optional) is rewritten as each run's data is. Stops after a cancelled run.
    /// </summary>
    public static IReadOnlyList<CotRunResult> Run(CotRecipe recipe, string modelDirectory, IReadOnlyList<string> dataPaths, string? evalData, string output,
        CotSftSettings settings, TextWriter? progress = null, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(dataPaths);
        ArgumentNullException.ThrowIfNull(settings);
        var data = dataPaths.Select(p => (p, CotData.Read(p))).ToList();
        var evalExamples = evalData is null ? null : CotData.Read(evalData);
        var evalTasks = evalExamples is null || recipe != CotRecipe.Atomic ? null : Tasks(evalExamples, evalData!);
        var plans = Plan(recipe, data, output, settings.Trainer.Seed);
        var results = new List<CotRunResult>();
        foreach (var plan in plans)
        {
            cancellationToken.ThrowIfCancellationRequested();
            IReadOnlyList<CotPair>? eval = evalExamples is null ? null
                : recipe is CotRecipe.AnswerOnly or CotRecipe.Continued ? AnswerOnly(evalExamples, evalData!)
                : recipe == CotRecipe.Atomic ? AsWritten(evalExamples.Where((e, i) => evalTasks![i] == plan.Name))
                : AsWritten(evalExamples);
            progress?.WriteLine($"{plan.Name}: {plan.Pairs.Count} examples -> {plan.Output}");
            var config = new JsonObject
            {
                ["command"] = "cot train",
                ["recipe"] = RecipeNames[(int)recipe],
                ["run"] = plan.Name,
                ["model"] = Path.GetFullPath(modelDirectory),
                ["data"] = new JsonArray([.. dataPaths.Select(p => (JsonNode)Path.GetFullPath(p))]),
                ["examples"] = plan.Pairs.Count,
                ["batch_size"] = settings.BatchSize,
                ["epochs"] = settings.Trainer.Epochs,
                ["max_steps"] = settings.Trainer.MaxSteps,
                ["lr"] = settings.Trainer.LearningRate,
                ["lora_r"] = settings.Lora?.Rank,
                ["precision"] = settings.Trainer.Precision.Name(),
                ["seed"] = settings.Trainer.Seed,
            };
            var result = Fit(plan.Name, modelDirectory, plan.Pairs, eval, plan.Output, settings, config, progress, cancellationToken);
            results.Add(result);
            if (result.Sft.Train.Cancelled)
            {
                break;
            }
        }

        return results;
    }

    /// <summary>Opens a model folder for decoding, with a LoRA adapter attached when <paramref name="adapterDirectory"/> is given.</summary>
    public static (CausalLM Model, ITokenizer Tokenizer) OpenForDecoding(string modelDirectory, string? adapterDirectory, Precision precision = Precision.Fp32)
    {
        var (model, tokenizer) = ModelFolder.Open(modelDirectory, null, null, precision);
        if (adapterDirectory is not null)
        {
            if (!Directory.Exists(adapterDirectory))
            {
                model.Dispose();
                throw new AttuneInputException("adapter folder not found", adapterDirectory);
            }

            LoraAdapter.Load(model, adapterDirectory);
            model.eval();
        }

        return (model, tokenizer);
    }

    private static string Prompt(JsonObject example) =>
        (string)example["instruction"]! + (example["input"] is JsonValue v && (string?)v is { } input ? input : "");
}

using System.CommandLine;
using System.Globalization;
using System.Text.Json;
using Attune.Core.Errors;
using Attune.Core.IO;
using Attune.Reasoning;
using Attune.Torch.Merging;
using Attune.Torch.Models;
using Attune.Torch.Training;

namespace Attune.Cli.Commands;

/// <summary><c>attune cot train|merge|rft|eval</c>: the verbs that train, merge and run models.</summary>
public sealed partial class CotCommands
{
    /// <summary>The training options the model verbs share (<c>cot train</c>, <c>cot rft</c>).</summary>
    private sealed class TrainingOptions
    {
        public Option<int> Epochs { get; } = new("--epochs") { Description = "Passes over the data (1-1000).", DefaultValueFactory = _ => 1 };

        public Option<int?> MaxSteps { get; } = new("--max-steps") { Description = "Stop after this many optimizer steps (1-10000000)." };

        public Option<int> BatchSize { get; } = new("--batch-size") { Description = "Examples per optimizer step (1-4096).", DefaultValueFactory = _ => 8 };

        public Option<double> Lr { get; } = new("--lr") { Description = "Peak learning rate, (0, 1].", DefaultValueFactory = _ => 1e-4 };

        public Option<int> Warmup { get; } = new("--warmup") { Description = "Linear warm-up steps (0-1000000)." };

        public PrecisionCliOptions Precision { get; } = new();

        public IEnumerable<Option> All => [Epochs, MaxSteps, BatchSize, Lr, Warmup, Precision.Precision];

        public CotSftSettings Read(CommandContext ctx, Torch.Lora.LoraConfig? lora)
        {
            Bound(ctx.Get(Epochs), 1, 1000, "--epochs");
            Bound(ctx.Get(MaxSteps) ?? 1, 1, 10_000_000, "--max-steps");
            Bound(ctx.Get(BatchSize), 1, 4096, "--batch-size");
            Bound(ctx.Get(Warmup), 0, 1_000_000, "--warmup");
            if (ctx.Get(Lr) is not (> 0 and <= 1))
            {
                throw new AttuneInputException($"--lr must be in (0, 1] (got {ctx.Get(Lr).ToString(CultureInfo.InvariantCulture)})");
            }

            var (precision, _) = Precision.ReadForTraining(ctx, lora is not null);

            return new CotSftSettings
            {
                BatchSize = ctx.Get(BatchSize),
                Lora = lora,
                Trainer = new TrainerOptions
                {
                    Epochs = ctx.Get(Epochs),
                    MaxSteps = ctx.Get(MaxSteps),
                    LearningRate = ctx.Get(Lr),
                    WarmupSteps = ctx.Get(Warmup),
                    Seed = ctx.Seed,
                    Precision = precision,
                    LogEvery = 25,
                },
            };
        }
    }

    /// <summary>The decoding options the model verbs share (<c>cot eval</c>, <c>cot merge</c>, <c>cot rft</c>).</summary>
    private sealed class DecodingOptions
    {
        public Option<int> Batch { get; } = new("--batch") { Description = "Questions decoded together (1-1024).", DefaultValueFactory = _ => 16 };

        public Option<int> MaxNewTokens { get; } = new("--max-new-tokens") { Description = "New tokens per decoding stage at most (1-8192).", DefaultValueFactory = _ => 320 };

        public Option<int?> Threads { get; } = new("--threads") { Description = "CPU threads for torch (1-1024; default: torch's choice; a tiny model runs fastest on 1)." };

        public IEnumerable<Option> All => [Batch, MaxNewTokens, Threads];

        /// <summary>The decoding settings; sets torch's thread count when <c>--threads</c> is given.</summary>
        public CotDecodeOptions Read(CommandContext ctx, bool greedy = true, double temperature = 1.0)
        {
            Bound(ctx.Get(Batch), 1, 1024, "--batch");
            Bound(ctx.Get(MaxNewTokens), 1, 8192, "--max-new-tokens");
            SetThreads(ctx, Threads);
            return new CotDecodeOptions { BatchSize = ctx.Get(Batch), MaxNewTokens = ctx.Get(MaxNewTokens), Greedy = greedy, Temperature = temperature, Seed = ctx.Seed };
        }
    }

    private static void AddTrain(CliApp app, Command group)
    {
        var recipe = new Option<string>("--recipe") { Description = "atomic (one model per task in the data), mtl (one model on every file's examples), answer-only (instruction -> answer), continued (answer-only from an already trained --model).", Required = true };
        var model = new Option<string>("--model") { Description = "The checkpoint folder to start from (config.json, model.safetensors, tokenizer.json), e.g. the folder of hf:DIR.", Required = true };
        var data = new Option<string[]>("--data") { Description = "Alpaca JSON or JSON lines (as 'cot generate' writes); several files or comma-separated.", Required = true, AllowMultipleArgumentsPerToken = true };
        var eval = new Option<string?>("--eval") { Description = "Held-out examples, rewritten as the recipe rewrites the data; their loss is reported." };
        var output = new Option<string>("--out") { Description = "The run folder (atomic: one sub-folder per task), each with model/ or adapter/.", Required = true };
        var lora = new LoraCliOptions();
        var training = new TrainingOptions();
        var threads = new DecodingOptions().Threads;
        var command = new Command("train", "Train with a Composable CoT recipe through the SFT trainer (full or LoRA).") { recipe, model, data, eval, output, lora.Rank, lora.Alpha, lora.Dropout, lora.Targets, threads };
        foreach (var o in training.All)
        {
            command.Options.Add(o);
        }

        group.Subcommands.Add(command);
        app.SetAction(command, (ctx, ct) =>
        {
            var which = CotTraining.ParseRecipe(ctx.Get(recipe));
            Bound(ctx.Get(lora.Rank), 0, 4096, "--lora-r");
            var settings = training.Read(ctx, lora.Read(ctx));
            SetThreads(ctx, threads);
            var modelDir = CheckModelFolder(ctx.Get(model)!, "--model");
            var files = Files(ctx.Get(data), "--data");
            var evalFile = ctx.Get(eval) is { } e ? CheckInputFile(e, "--eval") : null;
            var outDir = CheckOutFolder(ctx.Get(output)!);
            var results = CotTraining.Run(which, modelDir, files, evalFile, outDir, settings, ctx.Err, ct);
            var cancelled = results.Any(r => r.Sft.Train.Cancelled);
            if (ctx.Json)
            {
                ctx.WriteJson(new
                {
                    recipe = CotTraining.RecipeNames[(int)which],
                    cancelled,
                    runs = results.Select(r => new
                    {
                        name = r.Name, output = Path.GetFullPath(r.Output), weights = r.Weights, examples = r.Sft.Examples, steps = r.Sft.Train.Steps,
                        final_loss = r.Sft.Train.FinalLoss, eval_loss = r.Sft.Train.EvalLoss, seconds = r.Sft.Train.Seconds,
                    }),
                    precision = settings.Trainer.Precision.Name(),
                    seed = ctx.Seed,
                });
            }
            else
            {
                foreach (var r in results)
                {
                    ctx.Out.WriteLine(string.Create(CultureInfo.InvariantCulture,
                        $"{r.Name}: {r.Sft.Train.Steps}/{r.Sft.Train.TotalSteps} steps on {r.Sft.Examples} examples, final loss {r.Sft.Train.FinalLoss:F4} -> {r.Weights ?? r.Sft.Train.Checkpoint}"));
                }
            }

            return Task.FromResult(cancelled ? CliApp.Cancelled : CliApp.Success);
        });
    }

    private static void AddMerge(CliApp app, Command group)
    {
        var baseDir = new Option<string>("--base") { Description = "The checkpoint the atomic models (or adapters) were trained from.", Required = true };
        var models = new Option<string[]>("--models") { Description = "Atomic model folders (their task vectors against --base are merged).", AllowMultipleArgumentsPerToken = true };
        var adapters = new Option<string[]>("--adapters") { Description = "Atomic LoRA adapter folders on --base (their exact deltas are merged).", AllowMultipleArgumentsPerToken = true };
        var method = new Option<string>("--method") { Description = "ta (task arithmetic) or ties.", DefaultValueFactory = _ => "ta" };
        var weights = new Option<string?>("--weights") { Description = "One weight per source, comma-separated (each in [-10, 10])." };
        var validation = new Option<string?>("--validation") { Description = "Questions (alpaca JSON or JSON lines) on which the grid search picks the weights by accuracy." };
        var grid = new Option<string>("--grid") { Description = "The values each weight takes in the search, comma-separated (1-20 values in [-10, 10]).", DefaultValueFactory = _ => "0.5,0.75,1" };
        var density = new Option<double>("--density") { Description = "TIES: fraction of each task vector kept, (0, 1].", DefaultValueFactory = _ => 0.5 };
        var format = new Option<string>("--format") { Description = "The format the validation questions are answered in.", DefaultValueFactory = _ => "composable" };
        var output = new Option<string>("--out") { Description = "The folder to write the merged model (and merge.json) to.", Required = true };
        var decoding = new DecodingOptions();
        var command = new Command("merge", "ComposableCoT-Merge: combine atomic models or adapters by task arithmetic or TIES, weights given or chosen on a validation split.")
        {
            baseDir, models, adapters, method, weights, validation, grid, density, format, output,
        };
        foreach (var o in decoding.All)
        {
            command.Options.Add(o);
        }

        group.Subcommands.Add(command);
        app.SetAction(command, (ctx, ct) =>
        {
            var how = ctx.Get(method)?.Trim().ToLowerInvariant() switch
            {
                "ta" or "task-arithmetic" => MergeMethod.TaskArithmetic,
                "ties" => MergeMethod.Ties,
                var other => throw new AttuneInputException($"--method: unknown merge method '{other}' (ta, ties)"),
            };
            var modelList = Files(ctx.Get(models), "--models", folders: true, required: false);
            var adapterList = Files(ctx.Get(adapters), "--adapters", folders: true, required: false);
            if ((modelList.Count == 0) == (adapterList.Count == 0))
            {
                throw new AttuneInputException("give either --models or --adapters (not both)");
            }

            var sources = modelList.Count > 0 ? modelList : adapterList;
            if (sources.Count > 8)
            {
                throw new AttuneInputException($"--models/--adapters: at most 8 sources (got {sources.Count})");
            }

            if (ctx.Get(density) is not (> 0 and <= 1))
            {
                throw new AttuneInputException("--density must be in (0, 1]");
            }

            var fixedWeights = ctx.Get(weights) is { } w ? Numbers(w, "--weights", 1, 8) : null;
            var gridValues = Numbers(ctx.Get(grid)!, "--grid", 1, 20);
            if (fixedWeights is not null && ctx.Get(validation) is not null)
            {
                throw new AttuneInputException("give --weights or --validation, not both");
            }

            var fmt = CotFormats.Parse(ctx.Get(format)!);
            var decode = decoding.Read(ctx);
            var validationFile = ctx.Get(validation) is { } v ? CheckInputFile(v, "--validation") : null;
            var questions = validationFile is null ? null : CotEvaluation.Questions(CotData.Read(validationFile), validationFile);
            var baseFolder = CheckModelFolder(ctx.Get(baseDir)!, "--base");
            var outDir = CheckOutFolder(ctx.Get(output)!);
            var options = new CotMergeOptions
            {
                Base = baseFolder, Sources = sources, Adapters = adapterList.Count > 0, Method = how, Density = ctx.Get(density), Weights = fixedWeights, Grid = gridValues,
                Validation = questions, Format = fmt, Decode = decode,
            };
            var result = CotMerging.Run(options, outDir, ctx.Err, ct);
            if (ctx.Json)
            {
                ctx.WriteJson(result);
            }
            else
            {
                ctx.Out.WriteLine($"merged {sources.Count} {(options.Adapters ? "adapters" : "models")} ({result.Method}, weights {string.Join(", ", result.Weights.Select(x => x.ToString(CultureInfo.InvariantCulture)))}) -> {result.Output}");
            }

            return Task.FromResult(CliApp.Success);
        });
    }

    private static void AddRft(CliApp app, Command group)
    {
        var model = new Option<string>("--model") { Description = "The model to bootstrap (e.g. a ComposableCoT-MTL or -Merge model folder).", Required = true };
        var data = new Option<string>("--data") { Description = "Compositional questions (alpaca JSON or JSON lines); answers from the oracle or answer_label.", Required = true };
        var samples = new Option<int>("--samples") { Description = "Completions sampled per question each round (1-64).", DefaultValueFactory = _ => 4 };
        var temperature = new Option<double>("--temperature") { Description = "Sampling temperature, (0, 5].", DefaultValueFactory = _ => 1.0 };
        var rounds = new Option<int>("--rounds") { Description = "Sample-filter-train rounds (1-20).", DefaultValueFactory = _ => 1 };
        var format = new Option<string>("--format") { Description = "The format the model answers in (composable: two-stage decoding).", DefaultValueFactory = _ => "composable" };
        var output = new Option<string>("--out") { Description = "The folder: round-k/samples.jsonl, round-k/model/, rft.json.", Required = true };
        var training = new TrainingOptions();
        var decoding = new DecodingOptions();
        var command = new Command("rft", "Rejection-sampling fine-tuning: sample N answers per question, keep the right ones, fine-tune on them; R rounds.") { model, data, samples, temperature, rounds, format, output };
        foreach (var o in training.All.Concat(decoding.All))
        {
            command.Options.Add(o);
        }

        group.Subcommands.Add(command);
        app.SetAction(command, (ctx, ct) =>
        {
            Bound(ctx.Get(samples), 1, 64, "--samples");
            Bound(ctx.Get(rounds), 1, 20, "--rounds");
            if (ctx.Get(temperature) is not (> 0 and <= 5))
            {
                throw new AttuneInputException("--temperature must be in (0, 5]");
            }

            var fmt = CotFormats.Parse(ctx.Get(format)!);
            var settings = training.Read(ctx, null);
            var decode = decoding.Read(ctx, greedy: false, ctx.Get(temperature));
            var modelDir = CheckModelFolder(ctx.Get(model)!, "--model");
            var dataFile = CheckInputFile(ctx.Get(data)!, "--data");
            var questions = CotEvaluation.Questions(CotData.Read(dataFile), dataFile);
            var outDir = CheckOutFolder(ctx.Get(output)!);
            var options = new RftOptions { Samples = ctx.Get(samples), Temperature = ctx.Get(temperature), Rounds = ctx.Get(rounds), Format = fmt, Decode = decode, Sft = settings };
            var result = CotRft.Run(modelDir, questions, options, outDir, ctx.Err, ct);
            if (ctx.Json)
            {
                ctx.WriteJson(result);
            }
            else
            {
                foreach (var r in result.Rounds)
                {
                    ctx.Out.WriteLine($"round {r.Round}: {r.Correct}/{r.Samples} samples correct, {r.QuestionsSolved}/{r.Questions} questions solved, {r.Kept} kept -> {r.Model ?? "(not trained)"}");
                }

                ctx.Out.WriteLine($"model: {result.Model}");
            }

            return Task.FromResult(result.Cancelled ? CliApp.Cancelled : CliApp.Success);
        });
    }

    private static void AddEval(CliApp app, Command group)
    {
        var model = new Option<string>("--model") { Description = "A model folder (config.json, model.safetensors, tokenizer.json).", Required = true };
        var adapter = new Option<string?>("--adapter") { Description = "A LoRA adapter folder to attach to --model." };
        var data = new Option<string>("--data") { Description = "Questions (alpaca JSON or JSON lines; a suffix-form proxy prefix is removed); answers from the oracle or answer_label.", Required = true };
        var format = new Option<string>("--format") { Description = "composable (two-stage decoding), standard or answer-only.", DefaultValueFactory = _ => "composable" };
        var temperature = new Option<double>("--temperature") { Description = "0: greedy (default); else sample at this temperature, (0, 5]." };
        var limit = new Option<int?>("--limit") { Description = "Evaluate the first N questions only (1-1000000)." };
        var output = new Option<string?>("--out") { Description = "Per-question outputs as JSON lines (task, k, output, predicted, answer, correct)." };
        var precision = PrecisionCliOptions.NewPrecisionOption();
        var decoding = new DecodingOptions();
        var command = new Command("eval", "Exact-match accuracy per task and per k (letter position), with 95% Wilson intervals.") { model, adapter, data, format, temperature, limit, output, precision };
        foreach (var o in decoding.All)
        {
            command.Options.Add(o);
        }

        group.Subcommands.Add(command);
        app.SetAction(command, (ctx, ct) =>
        {
            var fmt = CotFormats.Parse(ctx.Get(format)!);
            if (ctx.Get(temperature) is < 0 or > 5)
            {
                throw new AttuneInputException("--temperature must be in [0, 5]");
            }

            Bound(ctx.Get(limit) ?? 1, 1, 1_000_000, "--limit");
            var decode = decoding.Read(ctx, greedy: ctx.Get(temperature) == 0, ctx.Get(temperature) is > 0 and var t ? t : 1.0);
            var prec = Precisions.Parse(ctx.Get(precision));
            var dataFile = CheckInputFile(ctx.Get(data)!, "--data");
            var questions = CotEvaluation.Questions(CotData.Read(dataFile), dataFile);
            if (ctx.Get(limit) is int n)
            {
                questions = [.. questions.Take(n)];
            }

            var outFile = ctx.Get(output) is { } o ? CheckOutFile(o) : null;
            var modelDir = CheckModelFolder(ctx.Get(model)!, "--model");
            var clock = System.Diagnostics.Stopwatch.StartNew();
            var (lm, tok) = CotTraining.OpenForDecoding(modelDir, ctx.Get(adapter), prec);
            CotEvaluationReport report;
            using (lm)
            {
                report = CotEvaluation.Evaluate(new CotDecoder(lm, tok), questions, fmt, decode, ct);
            }

            var seconds = clock.Elapsed.TotalSeconds;
            if (outFile is not null)
            {
                AtomicFile.WriteAllText(outFile, string.Concat(report.Answers.Select(a => JsonSerializer.Serialize(a, JsonLines.Options) + "\n")));
            }

            if (ctx.Json)
            {
                ctx.WriteJson(new { overall = report.Overall, per_task = report.PerTask, per_k = report.PerK, format = fmt.ToString().ToLowerInvariant(), seconds, questions_per_second = questions.Count / Math.Max(1e-9, seconds) });
            }
            else
            {
                ctx.Out.WriteLine("task            k                     accuracy  95% interval      n");
                foreach (var row in report.PerTask.Concat(report.PerK).Append(report.Overall))
                {
                    ctx.Out.WriteLine(string.Create(CultureInfo.InvariantCulture, $"{row.Task,-15} {row.K ?? "-",-20} {row.Accuracy,8:F3}  [{row.Low:F3}, {row.High:F3}]  {row.Total,5}"));
                }

                ctx.Log(string.Create(CultureInfo.InvariantCulture, $"{questions.Count} questions in {seconds:F1} s ({questions.Count / Math.Max(1e-9, seconds):F2}/s)"));
            }

            return Task.FromResult(CliApp.Success);
        });
    }

    /// <summary>Sets torch's CPU threads from <c>--threads</c> (1-1024) when given.</summary>
    private static void SetThreads(CommandContext ctx, Option<int?> threads)
    {
        Bound(ctx.Get(threads) ?? 1, 1, 1024, "--threads");
        if (ctx.Get(threads) is int n)
        {
            TorchSharp.torch.set_num_threads(n);
        }
    }

    private static void Bound(int value, int low, int high, string option)
    {
        if (value < low || value > high)
        {
            throw new AttuneInputException($"{option} must be between {low} and {high} (got {value})");
        }
    }

    /// <summary>Comma-separated numbers, each in [-10, 10], <paramref name="min"/> to <paramref name="max"/> of them.</summary>
    private static double[] Numbers(string text, string option, int min, int max)
    {
        var parts = text.Split(',', StringSplitOptions.TrimEntries | StringSplitOptions.RemoveEmptyEntries);
        var values = parts.Select(p => double.TryParse(p, NumberStyles.Float, CultureInfo.InvariantCulture, out var x) && x is >= -10 and <= 10 ? x
            : throw new AttuneInputException($"{option}: '{p}' is not a number in [-10, 10]")).ToArray();
        if (values.Length < min || values.Length > max)
        {
            throw new AttuneInputException($"{option}: {min} to {max} comma-separated numbers (got {values.Length})");
        }

        return values;
    }

    /// <summary>The paths of a repeatable option (each value may hold several, comma-separated); each must exist.</summary>
    private static IReadOnlyList<string> Files(string[]? values, string option, bool folders = false, bool required = true)
    {
        var paths = (values ?? []).SelectMany(v => v.Split(',', StringSplitOptions.TrimEntries | StringSplitOptions.RemoveEmptyEntries)).ToList();
        if (paths.Count == 0 && required)
        {
            throw new AttuneInputException($"{option}: no path given");
        }

        foreach (var p in paths)
        {
            if (folders ? !Directory.Exists(p) : !File.Exists(p))
            {
                throw new AttuneInputException($"{option}: {(folders ? "folder" : "file")} not found", p);
            }
        }

        return paths;
    }

    private static string CheckInputFile(string path, string option) =>
        File.Exists(path) ? path : throw new AttuneInputException($"{option}: file not found", path);

    private static string CheckModelFolder(string path, string option)
    {
        if (!Directory.Exists(path))
        {
            throw new AttuneInputException($"{option}: model folder not found", path);
        }

        return File.Exists(Path.Combine(path, "config.json")) ? path : throw new AttuneInputException($"{option}: no config.json in the model folder", path);
    }

    /// <summary>An output file's path, checked before any work: not a folder, its folder existing.</summary>
    private static string CheckOutFile(string path)
    {
        if (Directory.Exists(path))
        {
            throw new AttuneInputException("--out is a folder; it must be a file", path);
        }

        var folder = Path.GetDirectoryName(Path.GetFullPath(path))!;
        return Directory.Exists(folder) ? path : throw new AttuneInputException("the folder of --out does not exist", folder);
    }

    /// <summary>An output folder's path, checked before any work: not a file, its parent existing.</summary>
    private static string CheckOutFolder(string path)
    {
        if (File.Exists(path))
        {
            throw new AttuneInputException("--out is a file; it must be a folder", path);
        }

        var parent = Path.GetDirectoryName(Path.GetFullPath(path).TrimEnd(Path.DirectorySeparatorChar))!;
        return Directory.Exists(parent) ? path : throw new AttuneInputException("the parent folder of --out does not exist", parent);
    }
}

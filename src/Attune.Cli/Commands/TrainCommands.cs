using System.CommandLine;
using System.Globalization;
using System.Text.Json.Nodes;
using Attune.Core.Errors;
using Attune.Torch.Models;
using Attune.Torch.Training;

namespace Attune.Cli.Commands;

/// <summary><c>attune train …</c>: fine-tune causal language models (supervised fine-tuning, full or LoRA).</summary>
public sealed class TrainCommands : ICommandModule
{
    public void AddCommands(CliApp app)
    {
        var group = app.AddGroup("train", "Train causal language models in TorchSharp (checkpointed, resumable).");
        AddSft(app, group);
    }

    private static void AddSft(CliApp app, Command group)
    {
        var model = new Option<string>("--model") { Description = "The checkpoint folder to start from (config.json + model.safetensors).", Required = true };
        var tokenizer = new Option<string?>("--tokenizer") { Description = "tokenizer.json (default: the one in the model folder)." };
        var data = new Option<string>("--data") { Description = "Training data: JSON lines {\"prompt\": …, \"response\": …}.", Required = true };
        var eval = new Option<string?>("--eval") { Description = "Held-out data in the same form; its mean loss per response token is reported." };
        var output = new Option<string>("--out") { Description = "The run folder: metrics.jsonl, checkpoints/, and model/ or adapter/ at the end.", Required = true }.OutputFolder();
        var loraOptions = new LoraCliOptions();
        var precisionOptions = new PrecisionCliOptions();
        var epochs = new Option<int>("--epochs") { Description = "Passes over the data.", DefaultValueFactory = _ => 1 }.Range(1, 1_000_000);
        var maxSteps = new Option<int?>("--max-steps") { Description = "Stop after this many optimizer steps." }.Range(1, int.MaxValue);
        var batchSize = new Option<int>("--batch-size") { Description = "Examples per micro-batch.", DefaultValueFactory = _ => 8 }.Range(1, 1_000_000);
        var gradAccum = new Option<int>("--grad-accum") { Description = "Micro-batches per optimizer step.", DefaultValueFactory = _ => 1 }.Range(1, 1_000_000);
        var lr = new Option<double>("--lr") { Description = "Peak learning rate.", DefaultValueFactory = _ => 1e-4 }.Above(0, 1000);
        var minLr = new Option<double>("--min-lr") { Description = "The floor the decay ends at." };
        var warmup = new Option<int>("--warmup") { Description = "Linear warm-up steps." };
        var schedule = new Option<string>("--schedule") { Description = "cosine, linear or constant.", DefaultValueFactory = _ => "cosine" };
        var weightDecay = new Option<double>("--weight-decay") { Description = "AdamW decoupled weight decay on matrices (PyTorch's default 0.01; none on norms and biases).", DefaultValueFactory = _ => 0.01 };
        var maxGradNorm = new Option<double>("--max-grad-norm") { Description = "Clip the global gradient norm (0: off).", DefaultValueFactory = _ => 1.0 };
        var saveEvery = new Option<int>("--save-every") { Description = "Checkpoint every N steps (0: at the end and on Ctrl-C only)." };
        var keep = new Option<int>("--keep-checkpoints") { Description = "Checkpoints kept (0: all).", DefaultValueFactory = _ => 2 };
        var evalEvery = new Option<int>("--eval-every") { Description = "Evaluate every N steps (0: at the end)." };
        var logEvery = new Option<int>("--log-every") { Description = "A progress line every N steps.", DefaultValueFactory = _ => 10 };
        var resume = new Option<bool>("--resume") { Description = "Continue from the newest checkpoint in --out." };
        var threads = ThreadsCliOption.Create();
        var device = new Option<string>("--device") { Description = "cpu, cuda or cuda:N.", DefaultValueFactory = _ => "cpu" };
        var command = new Command("sft", "Supervised fine-tuning on prompt/response pairs: loss on response tokens only; full or LoRA.")
        {
            model, tokenizer, data, eval, output, loraOptions.Rank, loraOptions.Alpha, loraOptions.Dropout, loraOptions.Targets, epochs, maxSteps, batchSize, gradAccum, lr, minLr,
            warmup, schedule, weightDecay, maxGradNorm, saveEvery, keep, evalEvery, logEvery, resume, threads, device, precisionOptions.Precision, precisionOptions.SaveDType,
        };
        group.Subcommands.Add(command);
        app.SetAction(command, (ctx, ct) =>
        {
            var modelDir = ctx.Get(model)!;
            var lora = loraOptions.Read(ctx);
            var (precision, saveDType) = precisionOptions.ReadForTraining(ctx, lora is not null);
            ThreadsCliOption.Apply(ctx, threads);

            var tokenizerPath = ctx.Get(tokenizer) ?? Path.Combine(modelDir, "tokenizer.json");
            var (lm, tok) = ModelFolder.Open(modelDir, ctx.Get(tokenizer), ModelFolder.ParseDevice(ctx.Get(device)), precision);
            using (lm)
            {
                var trainerOptions = new TrainerOptions
                {
                    Epochs = ctx.Get(epochs),
                    MaxSteps = ctx.Get(maxSteps),
                    GradAccum = ctx.Get(gradAccum),
                    LearningRate = ctx.Get(lr),
                    MinLearningRate = ctx.Get(minLr),
                    WarmupSteps = ctx.Get(warmup),
                    Schedule = LearningRateSchedule.ParseKind(ctx.Get(schedule)!),
                    AdamW = new AdamWOptions { WeightDecay = ctx.Get(weightDecay) },
                    MaxGradNorm = ctx.Get(maxGradNorm),
                    SaveEvery = ctx.Get(saveEvery),
                    KeepCheckpoints = ctx.Get(keep),
                    EvalEvery = ctx.Get(evalEvery),
                    LogEvery = ctx.Get(logEvery),
                    Seed = ctx.Seed,
                    Resume = ctx.Get(resume),
                    Precision = precision,
                    SaveDType = saveDType,
                };
                var options = new SftOptions
                {
                    DataPath = ctx.Get(data)!,
                    EvalPath = ctx.Get(eval),
                    BatchSize = ctx.Get(batchSize),
                    Lora = lora,
                    Trainer = trainerOptions,
                };
                var runConfig = new JsonObject
                {
                    ["command"] = "train sft",
                    ["model"] = Path.GetFullPath(modelDir),
                    ["tokenizer"] = Path.GetFullPath(tokenizerPath),
                    ["data"] = Path.GetFullPath(options.DataPath),
                    ["eval"] = options.EvalPath is null ? null : Path.GetFullPath(options.EvalPath),
                    ["batch_size"] = options.BatchSize,
                    ["epochs"] = trainerOptions.Epochs,
                    ["max_steps"] = trainerOptions.MaxSteps,
                    ["grad_accum"] = trainerOptions.GradAccum,
                    ["lr"] = trainerOptions.LearningRate,
                    ["min_lr"] = trainerOptions.MinLearningRate,
                    ["warmup"] = trainerOptions.WarmupSteps,
                    ["schedule"] = trainerOptions.Schedule.ToString().ToLowerInvariant(),
                    ["adamw"] = new JsonObject { ["beta1"] = 0.9, ["beta2"] = 0.999, ["eps"] = 1e-8, ["weight_decay"] = trainerOptions.AdamW.WeightDecay },
                    ["max_grad_norm"] = trainerOptions.MaxGradNorm,
                    ["save_every"] = trainerOptions.SaveEvery,
                    ["seed"] = trainerOptions.Seed,
                    ["lora"] = lora is null ? null : new JsonObject
                    {
                        ["r"] = lora.Rank, ["alpha"] = lora.Alpha, ["dropout"] = lora.Dropout,
                        ["targets"] = new JsonArray([.. lora.TargetModules.Select(t => (JsonNode)t)]),
                    },
                    ["precision"] = precision.Name(),
                    ["save_dtype"] = Precisions.SaveTypeName(saveDType ?? Torch.Safetensors.SafetensorsDType.F32),
                    ["threads"] = TorchSharp.torch.get_num_threads(),
                    ["attune"] = CliApp.Version,
                };
                var result = SftTrainer.Run(lm, tok, options, ctx.Get(output)!, ctx.Err, runConfig, File.Exists(tokenizerPath) ? tokenizerPath : null, ct);
                var t = result.Train;
                if (ctx.Json)
                {
                    ctx.WriteJson(new
                    {
                        steps = t.Steps,
                        total_steps = t.TotalSteps,
                        resumed_from = t.ResumedFrom,
                        cancelled = t.Cancelled,
                        examples = result.Examples,
                        eval_examples = result.EvalExamples,
                        final_loss = t.FinalLoss,
                        initial_eval_loss = result.InitialEvalLoss,
                        eval_loss = t.EvalLoss,
                        tokens = t.Tokens,
                        seconds = t.Seconds,
                        checkpoint = t.Checkpoint,
                        output = t.Output,
                        lora_modules = result.LoraModules,
                        precision = precision.Name(),
                        save_dtype = Precisions.SaveTypeName(saveDType ?? Torch.Safetensors.SafetensorsDType.F32),
                    });
                }
                else
                {
                    ctx.Out.WriteLine(string.Create(CultureInfo.InvariantCulture,
                        $"{t.Steps}/{t.TotalSteps} steps on {result.Examples} examples, final loss {t.FinalLoss:F4}{(t.EvalLoss is null ? "" : $", eval loss {result.InitialEvalLoss:F4} -> {t.EvalLoss:F4}")}"));
                    ctx.Out.WriteLine(t.Cancelled ? $"stopped; checkpoint {t.Checkpoint} (resume with --resume)" : $"weights: {t.Output}");
                }

                return Task.FromResult(t.Cancelled ? CliApp.Cancelled : CliApp.Success);
            }
        });
    }
}

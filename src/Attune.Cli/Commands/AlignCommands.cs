using System.CommandLine;
using System.Globalization;
using System.Text.Json.Nodes;
using Attune.Alignment;
using Attune.Alignment.Losses;
using Attune.Alignment.Probe;
using Attune.Alignment.Training;
using Attune.Core.Errors;
using Attune.Core.Reproductions;
using Attune.Torch.Models;
using Attune.Torch.Training;

namespace Attune.Cli.Commands;

/// <summary><c>attune align …</c>: margin-based preference optimisation and the gradient-entanglement probe.</summary>
public sealed class AlignCommands : ICommandModule
{
    public IEnumerable<IReproduction> Reproductions => [new GradientEntanglementReproduction()];

    public void AddCommands(CliApp app)
    {
        var group = app.AddGroup("align", "Preference optimisation (DPO, IPO, hinge, R-DPO, DPOP, SimPO, CPO, ORPO) and the gradient-entanglement probe.");
        AddProbe(app, group);
        AddTrain(app, group);
    }

    private static LossOptions LossOptionsFrom(CommandContext ctx, Option<double> beta, Option<double> smoothing, Option<double> alpha, Option<double> gamma, Option<double?> lambda, Option<double> nll) => new()
    {
        Beta = ctx.Get(beta),
        LabelSmoothing = ctx.Get(smoothing),
        Alpha = ctx.Get(alpha),
        Gamma = ctx.Get(gamma),
        Lambda = ctx.Get(lambda),
        NllWeight = ctx.Get(nll),
    };

    private static (Option<string> Loss, Option<double> Beta, Option<double> Smoothing, Option<double> Alpha, Option<double> Gamma, Option<double?> Lambda, Option<double> Nll) LossOptions() => (
        new Option<string>("--loss") { Description = $"The loss: {string.Join(", ", MarginLoss.Names)}.", DefaultValueFactory = _ => "dpo" },
        new Option<double>("--beta") { Description = "beta, the inverse temperature of the margin.", DefaultValueFactory = _ => 0.1 },
        new Option<double>("--label-smoothing") { Description = "dpo: assumed label-flip probability (robust/conservative DPO), 0 to 0.5." }.Range(0, 0.5),
        new Option<double>("--alpha") { Description = "rdpo: weight of the length difference.", DefaultValueFactory = _ => 0.01 },
        new Option<double>("--gamma") { Description = "simpo: target reward margin.", DefaultValueFactory = _ => 0.5 },
        new Option<double?>("--lambda") { Description = "dpop (default 50), cpo (1), orpo (0.1): weight of the penalty / NLL / odds-ratio term." },
        new Option<double>("--nll-weight") { Description = "Add this weight times the chosen NLL (mean per token) to any loss." });

    private static void AddProbe(CliApp app, Command group)
    {
        var model = new Option<string>("--model") { Description = "The policy checkpoint folder.", Required = true };
        var reference = new Option<string?>("--ref") { Description = "The reference checkpoint folder (needed by reference-based losses)." };
        var tokenizer = new Option<string?>("--tokenizer") { Description = "tokenizer.json (default: the one in the model folder)." };
        var prompt = new Option<string>("--prompt") { Required = true, Description = "The prompt x." };
        var chosen = new Option<string>("--chosen") { Required = true, Description = "The preferred response y_w." };
        var rejected = new Option<string>("--rejected") { Required = true, Description = "The dispreferred response y_l." };
        var parameters = new Option<string>("--params") { Description = "Parameters the gradients cover: all, embeddings, head, norm, layer:N, re:REGEX (comma-separated).", DefaultValueFactory = _ => "all" };
        var tokens = new Option<bool>("--token-matrix") { Description = "Also print the per-token gradient cosine matrix (chosen tokens x rejected tokens)." };
        var (loss, beta, smoothing, alpha, gamma, lambda, nll) = LossOptions();
        var command = new Command("probe", "Gradient entanglement of one pair: norms, inner product and cosine of the chosen and rejected log-prob gradients; predicted directions under the loss.")
        {
            model, reference, tokenizer, prompt, chosen, rejected, parameters, tokens, loss, beta, smoothing, alpha, gamma, lambda, nll,
        };
        group.Subcommands.Add(command);
        app.SetAction(command, (ctx, _) =>
        {
            var options = new ProbeOptions
            {
                Loss = MarginLoss.Check(ctx.Get(loss)!),
                LossOptions = LossOptionsFrom(ctx, beta, smoothing, alpha, gamma, lambda, nll),
                Parameters = ctx.Get(parameters)!,
                TokenMatrix = ctx.Get(tokens),
            };
            var r = ProbeRunner.Run(ctx.Get(model)!, ctx.Get(reference), ctx.Get(tokenizer), ctx.Get(prompt)!, ctx.Get(chosen)!, ctx.Get(rejected)!, options);
            double[][]? matrix = r.TokenCosine is null ? null
                : [.. Enumerable.Range(0, r.TokenCosine.GetLength(0)).Select(i => Enumerable.Range(0, r.TokenCosine.GetLength(1)).Select(j => r.TokenCosine[i, j]).ToArray())];
            if (ctx.Json)
            {
                ctx.WriteJson(new
                {
                    policy_chosen_logp = r.PolicyChosenLogp,
                    policy_rejected_logp = r.PolicyRejectedLogp,
                    ref_chosen_logp = r.RefChosenLogp,
                    ref_rejected_logp = r.RefRejectedLogp,
                    loss_sigmoid = r.LossSigmoid,
                    loss_ipo = r.LossIpo,
                    grad_chosen_norm = r.GradChosenNorm,
                    grad_rejected_norm = r.GradRejectedNorm,
                    grad_inner = r.GradInner,
                    grad_cosine = r.GradCosine,
                    grad_loss_norm = r.GradLossNorm,
                    @case = r.Case,
                    loss = r.Loss,
                    loss_value = r.LossValue,
                    beta = options.LossOptions.Beta,
                    chosen_length = r.ChosenLength,
                    rejected_length = r.RejectedLength,
                    loss_grad_chosen = r.LossGradChosen,
                    loss_grad_rejected = r.LossGradRejected,
                    ratio = r.Ratio,
                    chosen_rises = r.ChosenRises,
                    rejected_falls = r.RejectedFalls,
                    predicted_chosen_change_per_lr = r.PredictedChosenChange,
                    predicted_rejected_change_per_lr = r.PredictedRejectedChange,
                    @params = r.Parameters,
                    param_count = r.ParameterCount,
                    token_cosine = matrix,
                });
            }
            else
            {
                var o = ctx.Out;
                o.WriteLine(F($"log pi(y_w|x) = {r.PolicyChosenLogp:F4}   log pi(y_l|x) = {r.PolicyRejectedLogp:F4}   ({r.ChosenLength} / {r.RejectedLength} tokens)"));
                if (r.RefChosenLogp is double a && r.RefRejectedLogp is double b)
                {
                    o.WriteLine(F($"reference: {a:F4} / {b:F4}   dpo loss {r.LossSigmoid:F6}   ipo loss {r.LossIpo:F4}"));
                }

                o.WriteLine(F($"{r.Loss} loss {r.LossValue:F6}; over {r.ParameterCount:N0} parameters ({r.Parameters}):"));
                o.WriteLine(F($"  |g_w| = {r.GradChosenNorm:G6}   |g_l| = {r.GradRejectedNorm:G6}   <g_w,g_l> = {r.GradInner:G6}   cos = {r.GradCosine:F4}   |grad loss| = {r.GradLossNorm:G6}"));
                o.WriteLine(F($"  ratio h_w'/h_l' = {(r.Ratio is double q ? q.ToString("G4", CultureInfo.InvariantCulture) : "-")}: chosen {(r.ChosenRises ? "rises" : "FALLS")} (d log pi_w ~ {r.PredictedChosenChange:G4} x lr), rejected {(r.RejectedFalls ? "falls" : "RISES")} (d log pi_l ~ {r.PredictedRejectedChange:G4} x lr)"));
                o.WriteLine($"  case: {r.Case}");
                if (matrix is not null)
                {
                    o.WriteLine("  per-token gradient cosine (rows: chosen tokens, columns: rejected tokens):");
                    foreach (var row in matrix)
                    {
                        o.WriteLine("   " + string.Join(' ', row.Select(v => v.ToString("+0.00;-0.00", CultureInfo.InvariantCulture))));
                    }
                }
            }

            return Task.FromResult(CliApp.Success);
        });
    }

    private static string F(FormattableString s) => s.ToString(CultureInfo.InvariantCulture);

    private static object? Eval(PreferenceEval? e) => e is null ? null
        : new { loss = e.Loss, margin = e.Margin, accuracy = e.Accuracy, chosen_logp = e.ChosenLogp, rejected_logp = e.RejectedLogp };

    private static void AddTrain(CliApp app, Command group)
    {
        var model = new Option<string>("--model") { Description = "The policy's starting checkpoint folder.", Required = true };
        var reference = new Option<string?>("--ref") { Description = "The frozen reference checkpoint (default: --model)." };
        var tokenizer = new Option<string?>("--tokenizer") { Description = "tokenizer.json (default: the one in the model folder)." };
        var data = new Option<string>("--data") { Description = "Training pairs: JSON lines {\"prompt\", \"chosen\", \"rejected\"} (other fields kept).", Required = true };
        var eval = new Option<string?>("--eval") { Description = "Held-out pairs in the same form: loss, margin and accuracy before, every --eval-every steps and at the end." };
        var output = new Option<string>("--out") { Description = "The run folder: metrics.jsonl, metrics.png, logps.png, probe.jsonl, checkpoints/, model/ or adapter/.", Required = true }.OutputFolder();
        var (loss, beta, smoothing, alpha, gamma, lambda, nll) = LossOptions();
        var update = new Option<string>("--update") { Description = "adamw, sgd, or pair-normalized (Attune's mitigation: theta += lr (g_w/|g_w| - g_l/|g_l|)).", DefaultValueFactory = _ => "adamw" };
        var noCache = new Option<bool>("--no-ref-cache") { Description = "Run the reference every step instead of precomputing its log-probs once." };
        var cacheDir = new Option<string?>("--ref-cache") { Description = "Folder of the reference log-prob cache (default: OUT/reference-cache)." };
        var appendEos = new Option<bool>("--append-eos") { Description = "Append the tokenizer's EOS to both responses." };
        var loraOptions = new LoraCliOptions();
        var precisionOptions = new PrecisionCliOptions();
        var epochs = new Option<int>("--epochs") { DefaultValueFactory = _ => 1, Description = "Passes over the data." };
        var maxSteps = new Option<int?>("--max-steps") { Description = "Stop after this many steps." };
        var batchSize = new Option<int>("--batch-size") { DefaultValueFactory = _ => 8, Description = "Pairs per step." };
        var lr = new Option<double>("--lr") { DefaultValueFactory = _ => 5e-5, Description = "Peak learning rate." };
        var minLr = new Option<double>("--min-lr") { Description = "The floor the decay ends at." };
        var warmup = new Option<int>("--warmup") { Description = "Linear warm-up steps." };
        var schedule = new Option<string>("--schedule") { DefaultValueFactory = _ => "cosine", Description = "cosine, linear or constant." };
        var weightDecay = new Option<double>("--weight-decay") { DefaultValueFactory = _ => 0.0, Description = "AdamW weight decay on matrices." };
        var maxGradNorm = new Option<double>("--max-grad-norm") { DefaultValueFactory = _ => 1.0, Description = "Clip the global gradient norm (0: off)." };
        var saveEvery = new Option<int>("--save-every") { Description = "Checkpoint every N steps (0: at the end and on Ctrl-C)." };
        var keep = new Option<int>("--keep-checkpoints") { DefaultValueFactory = _ => 2, Description = "Checkpoints kept (0: all)." };
        var evalEvery = new Option<int>("--eval-every") { Description = "Evaluate every N steps (0: before and at the end)." };
        var logEvery = new Option<int>("--log-every") { DefaultValueFactory = _ => 10, Description = "A progress line every N steps." };
        var probeEvery = new Option<int>("--probe-every") { Description = "Probe a fixed training pair every N steps: predicted vs observed log-prob changes to probe.jsonl (0: off)." };
        var probeIndex = new Option<int>("--probe-index") { Description = "Which training pair (0-based) the probe follows." };
        var resume = new Option<bool>("--resume") { Description = "Continue from the newest checkpoint in --out." };
        var threads = ThreadsCliOption.Create();
        var device = new Option<string>("--device") { DefaultValueFactory = _ => "cpu", Description = "cpu, cuda or cuda:N." };
        var command = new Command("train", "Preference-optimise a causal LM with a margin loss; full or LoRA; cached reference; metrics, plots, checkpoints, resume.")
        {
            model, reference, tokenizer, data, eval, output, loss, beta, smoothing, alpha, gamma, lambda, nll, update, noCache, cacheDir, appendEos,
            loraOptions.Rank, loraOptions.Alpha, loraOptions.Dropout, loraOptions.Targets, epochs, maxSteps, batchSize, lr, minLr, warmup, schedule, weightDecay, maxGradNorm,
            saveEvery, keep, evalEvery, logEvery, probeEvery, probeIndex, resume, threads, device, precisionOptions.Precision, precisionOptions.SaveDType,
        };
        group.Subcommands.Add(command);
        app.SetAction(command, (ctx, ct) =>
        {
            var lossName = MarginLoss.Check(ctx.Get(loss)!);
            var rule = ctx.Get(update)!.ToLowerInvariant() switch
            {
                "adamw" => UpdateRule.AdamW,
                "sgd" => UpdateRule.Sgd,
                "pair-normalized" or "pair-normalised" => UpdateRule.PairNormalized,
                var other => throw new AttuneInputException($"unknown update rule '{other}' (adamw, sgd, pair-normalized)", null, null, "--update"),
            };
            var lora = loraOptions.Read(ctx);
            var (precision, saveDType) = precisionOptions.ReadForTraining(ctx, lora is not null);
            ThreadsCliOption.Apply(ctx, threads);

            var modelDir = ctx.Get(model)!;
            var deviceValue = ModelFolder.ParseDevice(ctx.Get(device));
            var (policy, tok) = ModelFolder.Open(modelDir, ctx.Get(tokenizer), deviceValue, precision);
            using (policy)
            {
                var refDir = ctx.Get(reference) ?? modelDir;
                using var referenceModel = MarginLoss.NeedsReference(lossName)
                    ? (Directory.Exists(refDir) ? CausalLM.Load(refDir, deviceValue, precision) : throw new AttuneInputException("reference model folder not found", refDir))
                    : null;
                var maxLength = policy.Config.MaxPositionEmbeddings;
                var dataPath = ctx.Get(data)!;
                var train = PreferenceData.Encode(PreferenceData.Read(dataPath), tok, dataPath, ctx.Get(appendEos), maxLength);
                var evalPath = ctx.Get(eval);
                var evalPairs = evalPath is null ? null : PreferenceData.Encode(PreferenceData.Read(evalPath), tok, evalPath, ctx.Get(appendEos), maxLength);
                var options = new PreferenceTrainerOptions
                {
                    Loss = lossName,
                    LossOptions = LossOptionsFrom(ctx, beta, smoothing, alpha, gamma, lambda, nll),
                    Update = rule,
                    BatchSize = ctx.Get(batchSize),
                    Epochs = ctx.Get(epochs),
                    MaxSteps = ctx.Get(maxSteps),
                    LearningRate = ctx.Get(lr),
                    MinLearningRate = ctx.Get(minLr),
                    WarmupSteps = ctx.Get(warmup),
                    Schedule = LearningRateSchedule.ParseKind(ctx.Get(schedule)!),
                    AdamW = new AdamWOptions { WeightDecay = ctx.Get(weightDecay) },
                    MaxGradNorm = ctx.Get(maxGradNorm),
                    Lora = lora,
                    CacheReference = !ctx.Get(noCache),
                    ReferenceCacheDirectory = ctx.Get(cacheDir),
                    SaveEvery = ctx.Get(saveEvery),
                    KeepCheckpoints = ctx.Get(keep),
                    EvalEvery = ctx.Get(evalEvery),
                    LogEvery = ctx.Get(logEvery),
                    ProbeEvery = ctx.Get(probeEvery),
                    ProbeIndex = ctx.Get(probeIndex),
                    Seed = ctx.Seed,
                    Resume = ctx.Get(resume),
                    Precision = precision,
                    SaveDType = saveDType,
                };
                var tokenizerPath = ctx.Get(tokenizer) ?? Path.Combine(modelDir, "tokenizer.json");
                var runConfig = new JsonObject
                {
                    ["command"] = "align train",
                    ["model"] = Path.GetFullPath(modelDir),
                    ["ref"] = referenceModel is null ? null : Path.GetFullPath(refDir),
                    ["tokenizer"] = Path.GetFullPath(tokenizerPath),
                    ["data"] = Path.GetFullPath(dataPath),
                    ["eval"] = evalPath is null ? null : Path.GetFullPath(evalPath),
                    ["loss"] = lossName,
                    ["beta"] = options.LossOptions.Beta,
                    ["label_smoothing"] = options.LossOptions.LabelSmoothing,
                    ["alpha"] = options.LossOptions.Alpha,
                    ["gamma"] = options.LossOptions.Gamma,
                    ["lambda"] = options.LossOptions.Lambda ?? MarginLoss.DefaultLambda(lossName),
                    ["nll_weight"] = options.LossOptions.NllWeight,
                    ["update"] = rule.ToString(),
                    ["ref_cache"] = options.CacheReference,
                    ["batch_size"] = options.BatchSize,
                    ["epochs"] = options.Epochs,
                    ["max_steps"] = options.MaxSteps,
                    ["lr"] = options.LearningRate,
                    ["schedule"] = options.Schedule.ToString().ToLowerInvariant(),
                    ["warmup"] = options.WarmupSteps,
                    ["weight_decay"] = options.AdamW.WeightDecay,
                    ["max_grad_norm"] = options.MaxGradNorm,
                    ["lora"] = lora is null ? null : new JsonObject { ["r"] = lora.Rank, ["alpha"] = lora.Alpha, ["dropout"] = lora.Dropout },
                    ["seed"] = options.Seed,
                    ["precision"] = precision.Name(),
                    ["save_dtype"] = Precisions.SaveTypeName(saveDType ?? Torch.Safetensors.SafetensorsDType.F32),
                    ["attune"] = CliApp.Version,
                };
                var padId = tok.PadTokenId ?? policy.Config.PadTokenId ?? 0;
                var trainer = new PreferenceTrainer(policy, referenceModel, train, evalPairs, options, ctx.Get(output)!, padId, ctx.Err)
                {
                    RunConfig = runConfig,
                    WriteExtras = File.Exists(tokenizerPath) ? dir => File.Copy(tokenizerPath, Path.Combine(dir, "tokenizer.json"), overwrite: true) : null,
                };
                var r = trainer.Run(ct);
                if (ctx.Json)
                {
                    ctx.WriteJson(new
                    {
                        steps = r.Steps,
                        total_steps = r.TotalSteps,
                        resumed_from = r.ResumedFrom,
                        cancelled = r.Cancelled,
                        loss = lossName,
                        pairs = train.Count,
                        eval_pairs = evalPairs?.Count ?? 0,
                        final_loss = r.Last?.Loss,
                        final_margin = r.Last?.Margin,
                        final_accuracy = r.Last?.Accuracy,
                        final_chosen_logp = r.Last?.ChosenLogp,
                        final_rejected_logp = r.Last?.RejectedLogp,
                        initial_eval = Eval(r.InitialEval),
                        eval = Eval(r.FinalEval),
                        reference_from_cache = r.ReferenceFromCache,
                        reference_seconds = r.ReferenceSeconds,
                        probes = r.Probes.Count,
                        probe_agreement = r.Probes.Count == 0 ? (double?)null : r.Probes.Count(p => p.Agrees) / (double)r.Probes.Count,
                        seconds = r.Seconds,
                        checkpoint = r.Checkpoint,
                        output = r.Output,
                        precision = precision.Name(),
                    });
                }
                else
                {
                    ctx.Out.WriteLine(F($"{r.Steps}/{r.TotalSteps} steps of {lossName} on {train.Count} pairs; last loss {r.Last?.Loss:F4}, margin {r.Last?.Margin:F4}, batch accuracy {r.Last?.Accuracy:F2}"));
                    if (r.FinalEval is { } e)
                    {
                        ctx.Out.WriteLine(F($"eval: accuracy {r.InitialEval?.Accuracy:F3} -> {e.Accuracy:F3}, loss {r.InitialEval?.Loss:F4} -> {e.Loss:F4}, chosen {r.InitialEval?.ChosenLogp:F3} -> {e.ChosenLogp:F3}, rejected {r.InitialEval?.RejectedLogp:F3} -> {e.RejectedLogp:F3}"));
                    }

                    ctx.Out.WriteLine(r.Cancelled ? $"stopped; checkpoint {r.Checkpoint} (resume with --resume)" : $"weights: {r.Output}");
                }

                return Task.FromResult(r.Cancelled ? CliApp.Cancelled : CliApp.Success);
            }
        });
    }
}

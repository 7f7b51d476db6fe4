using System.CommandLine;
using System.Globalization;
using System.Text.Json.Nodes;
using Attune.Alignment.Losses;
using Attune.Alignment.Training;
using Attune.Core.Errors;
using Attune.Personalization;
using Attune.Torch.Models;
using Attune.Torch.Serving;
using Attune.Torch.Training;
using static TorchSharp.torch;

namespace Attune.Cli.Commands;

/// <summary><c>attune personalize train|eval|generate|users</c>: personalised RLHF (user models, P-DPO).</summary>
public sealed class PersonalizeCommands : ICommandModule
{
    public IEnumerable<Attune.Core.Reproductions.IReproduction> Reproductions => [new PersonalizedRlhfReproduction()];

    public void AddCommands(CliApp app)
    {
        // hf:DIR of a personalised checkpoint answers as the request's user.
        TorchEndpoints.Register();
        PersonalizedEndpoints.Register();
        var group = app.AddGroup("personalize", "Personalised RLHF: user models as soft tokens, trained jointly with the policy by P-DPO.");
        AddTrain(app, group);
        AddEval(app, group);
        AddGenerate(app, group);
        AddUsers(app, group);
    }

    private static string F(FormattableString s) => s.ToString(CultureInfo.InvariantCulture);

    private static (Option<string> Format, Option<int> TopWorkers) DataOptions() => (
        new Option<string>("--format") { Description = "pairs: JSON lines {\"user\", \"prompt\", \"chosen\", \"rejected\"}; comparisons: summarize-from-feedback ({info.post, summaries[].text, choice, worker}).", DefaultValueFactory = _ => "pairs" },
        new Option<int>("--top-workers") { Description = "Only the N most active users are known; everyone else is unknown (0: all)." });

    private static PersonalData Read(string path, string format, int top) => format.ToLowerInvariant() switch
    {
        "pairs" => PersonalPreferenceData.ReadPairs(path, top),
        "comparisons" => PersonalPreferenceData.ReadComparisons(path, top),
        var other => throw new AttuneInputException($"unknown data format '{other}' (pairs, comparisons)", null, null, "--format"),
    };

    private static UserModelKind Kind(string value) => value.ToLowerInvariant() switch
    {
        "individual" => UserModelKind.Individual,
        "cluster" => UserModelKind.Cluster,
        "none" => UserModelKind.None,
        var other => throw new AttuneInputException($"unknown user model '{other}' (individual, cluster, none)", null, null, "--user-model"),
    };

    private static void AddTrain(CliApp app, Command group)
    {
        var model = new Option<string>("--model") { Description = "The starting checkpoint folder (an SFT model).", Required = true };
        var reference = new Option<string?>("--ref") { Description = "The frozen reference checkpoint (default: --model)." };
        var tokenizer = new Option<string?>("--tokenizer") { Description = "tokenizer.json (default: the one in the model folder)." };
        var data = new Option<string>("--data") { Description = "Training data (see --format).", Required = true };
        var (format, top) = DataOptions();
        var evalShare = new Option<double>("--eval-share") { Description = "Share of each user's pairs held out for evaluation.", DefaultValueFactory = _ => 0.1 };
        var output = new Option<string>("--out") { Description = "The run folder: metrics.jsonl, plots, checkpoints/, model/ (with user_model.*).", Required = true }.OutputFolder();
        var kind = new Option<string>("--user-model") { Description = "individual, cluster or none (vanilla DPO through the same code).", DefaultValueFactory = _ => "individual" };
        var userTokens = new Option<int>("--user-tokens") { Description = "T_u, soft tokens per user.", DefaultValueFactory = _ => 10 };
        var clusters = new Option<int>("--clusters") { Description = "K, prototypes of a cluster user model.", DefaultValueFactory = _ => 2 };
        var alpha = new Option<double>("--alpha") { Description = "Weight of the personalised terms (1 - alpha weighs the generic ones).", DefaultValueFactory = _ => 0.5 };
        var softAt = new Option<int>("--soft-tokens-at") { Description = "How many leading prompt tokens come before the user tokens (1: after BOS).", DefaultValueFactory = _ => 1 };
        var loss = new Option<string>("--loss") { Description = $"The per-pair loss: {string.Join(", ", MarginLoss.Names)}.", DefaultValueFactory = _ => "dpo" };
        var beta = new Option<double>("--beta") { Description = "beta, the inverse temperature of the margin.", DefaultValueFactory = _ => 0.1 };
        var loraOptions = new LoraCliOptions();
        var epochs = new Option<int>("--epochs") { DefaultValueFactory = _ => 1, Description = "Passes over the data." };
        var maxSteps = new Option<int?>("--max-steps") { Description = "Stop after this many steps." };
        var batchSize = new Option<int>("--batch-size") { DefaultValueFactory = _ => 8, Description = "Pairs per step." };
        var lr = new Option<double>("--lr") { DefaultValueFactory = _ => 5e-5, Description = "Peak learning rate." };
        var saveEvery = new Option<int>("--save-every") { Description = "Checkpoint every N steps (0: at the end and on Ctrl-C)." };
        var logEvery = new Option<int>("--log-every") { DefaultValueFactory = _ => 10, Description = "A progress line every N steps." };
        var resume = new Option<bool>("--resume") { Description = "Continue from the newest checkpoint in --out." };
        var threads = ThreadsCliOption.Create();
        var objective = new Option<string>("--objective") { Description = "pdpo: personalised DPO of a policy; prm: a personalised reward model (scalar head, Bradley-Terry).", DefaultValueFactory = _ => "pdpo" };
        var command = new Command("train", "P-DPO or P-RM: train a user model jointly with the policy or reward model (full or LoRA) on preference pairs with users; per-user held-out accuracy.")
        {
            model, reference, tokenizer, data, format, top, evalShare, output, objective, kind, userTokens, clusters, alpha, softAt, loss, beta,
            loraOptions.Rank, loraOptions.Alpha, loraOptions.Dropout, loraOptions.Targets, epochs, maxSteps, batchSize, lr, saveEvery, logEvery, resume, threads,
        };
        group.Subcommands.Add(command);
        app.SetAction(command, (ctx, ct) =>
        {
            var personal = new PersonalizedDpoOptions
            {
                Loss = MarginLoss.Check(ctx.Get(loss)!), Alpha = ctx.Get(alpha), SoftTokensAt = ctx.Get(softAt),
                LossOptions = new LossOptions { Beta = ctx.Get(beta) },
            }.Validate();
            if (personal.SoftTokensAt < 0)
            {
                throw new AttuneInputException($"--soft-tokens-at must be 0 or more (got {personal.SoftTokensAt})");
            }

            var userOptions = new UserModelOptions { Kind = Kind(ctx.Get(kind)!), Tokens = ctx.Get(userTokens), Clusters = ctx.Get(clusters) }.Validate();
            ThreadsCliOption.Apply(ctx, threads);
            var dataPath = ctx.Get(data)!;
            var read = Read(dataPath, ctx.Get(format)!, ctx.Get(top));
            var (trainExamples, evalExamples) = PersonalPreferenceData.Split(read.Examples, ctx.Get(evalShare), ctx.Seed);
            var modelDir = ctx.Get(model)!;
            var isReward = ctx.Get(objective)!.ToLowerInvariant() switch
            {
                "pdpo" => false,
                "prm" => true,
                var other => throw new AttuneInputException($"unknown objective '{other}' (pdpo, prm)", null, null, "--objective"),
            };
            var (policy, tok) = ModelFolder.Open(modelDir, ctx.Get(tokenizer));
            using (policy)
            {
                var refDir = ctx.Get(reference) ?? modelDir;
                using var referenceModel = isReward ? null : Directory.Exists(refDir) ? CausalLM.Load(refDir) : throw new AttuneInputException("reference model folder not found", refDir);
                var reward = isReward ? new PersonalizedRewardModel(policy, ctx.Seed) : null;   // wraps the policy, which the using above disposes
                var maxLength = policy.Config.MaxPositionEmbeddings - userOptions.Tokens;
                var train = PersonalizedEvaluation.Encode(trainExamples, tok, dataPath, maxLength: maxLength);
                var eval = PersonalizedEvaluation.Encode(evalExamples, tok, dataPath, maxLength: maxLength);
                if (train.Any(p => p.Tokens.Prompt.Length < personal.SoftTokensAt))
                {
                    throw new AttuneInputException($"a prompt is shorter than --soft-tokens-at {personal.SoftTokensAt}", dataPath);
                }

                using var users = UserModel.Create(userOptions, read.KnownUsers, policy.Embed(arange(policy.Config.VocabSize)).detach(), ctx.Seed);
                var options = new PreferenceTrainerOptions
                {
                    Loss = personal.Loss, LossOptions = personal.LossOptions, BatchSize = ctx.Get(batchSize), Epochs = ctx.Get(epochs), MaxSteps = ctx.Get(maxSteps),
                    LearningRate = ctx.Get(lr), Lora = loraOptions.Read(ctx), SaveEvery = ctx.Get(saveEvery), LogEvery = ctx.Get(logEvery), Seed = ctx.Seed, Resume = ctx.Get(resume),
                };
                var tokenizerPath = ctx.Get(tokenizer) ?? Path.Combine(modelDir, "tokenizer.json");
                var runConfig = new JsonObject
                {
                    ["command"] = "personalize train", ["model"] = Path.GetFullPath(modelDir), ["ref"] = Path.GetFullPath(refDir), ["data"] = Path.GetFullPath(dataPath),
                    ["format"] = ctx.Get(format), ["top_workers"] = ctx.Get(top), ["user_model"] = userOptions.Kind.ToString().ToLowerInvariant(), ["user_tokens"] = userOptions.Tokens,
                    ["clusters"] = userOptions.Clusters, ["alpha"] = personal.Alpha, ["loss"] = personal.Loss, ["beta"] = personal.LossOptions.Beta, ["seed"] = ctx.Seed,
                    ["users"] = read.KnownUsers.Count, ["attune"] = CliApp.Version,
                };
                var padId = tok.PadTokenId ?? policy.Config.PadTokenId ?? 0;
                Action<string>? copyTokenizer = File.Exists(tokenizerPath) ? dir => File.Copy(tokenizerPath, Path.Combine(dir, "tokenizer.json"), overwrite: true) : null;
                PreferenceTrainResult r;
                IReadOnlyList<UserAccuracy> perUser;
                if (reward is not null)
                {
                    runConfig["objective"] = "prm";
                    r = new PersonalizedRewardTrainer(reward, users, train, eval, options, personal.Alpha, personal.SoftTokensAt, ctx.Get(output)!, padId, ctx.Err, runConfig, copyTokenizer).Run(ct);
                    perUser = r.Cancelled || eval.Count == 0 ? [] : PersonalizedEvaluation.PerUser(reward, users, eval, personal.SoftTokensAt);
                }
                else
                {
                    r = new PersonalizedTrainer(policy, referenceModel, users, train, eval, options, personal, ctx.Get(output)!, padId, ctx.Err, runConfig, copyTokenizer).Run(ct);
                    perUser = r.Cancelled || eval.Count == 0 ? [] : PersonalizedEvaluation.PerUser(policy, referenceModel!, users, eval, personal);
                }

                if (ctx.Json)
                {
                    ctx.WriteJson(new
                    {
                        steps = r.Steps, total_steps = r.TotalSteps, cancelled = r.Cancelled, pairs = train.Count, eval_pairs = eval.Count, users = read.KnownUsers.Count,
                        final_loss = r.Last?.Loss, eval_accuracy = r.FinalEval?.Accuracy, per_user = perUser, seconds = r.Seconds, checkpoint = r.Checkpoint, output = r.Output,
                    });
                }
                else
                {
                    ctx.Out.WriteLine(F($"{r.Steps}/{r.TotalSteps} steps of {(isReward ? "P-RM (Bradley-Terry" : $"P-DPO ({personal.Loss}")}, alpha {personal.Alpha}) on {train.Count} pairs of {read.KnownUsers.Count} known users; last loss {r.Last?.Loss:F4}"));
                    foreach (var u in perUser)
                    {
                        ctx.Out.WriteLine(F($"  {u.User}: {u.Pairs} held-out pairs, accuracy {u.Accuracy:F3} (generic tokens {u.GenericAccuracy:F3})"));
                    }

                    ctx.Out.WriteLine(r.Cancelled ? $"stopped; checkpoint {r.Checkpoint} (resume with --resume)" : $"weights and user model: {r.Output}");
                }

                return Task.FromResult(r.Cancelled ? CliApp.Cancelled : CliApp.Success);
            }
        });
    }

    private static void AddEval(CliApp app, Command group)
    {
        var model = new Option<string>("--model") { Description = "A personalised checkpoint folder (weights + user_model.*).", Required = true };
        var reference = new Option<string?>("--ref") { Description = "The reference checkpoint the implicit rewards of a P-DPO policy are measured against (a P-RM folder needs none)." };
        var data = new Option<string>("--data") { Description = "Held-out pairs (see --format).", Required = true };
        var (format, top) = DataOptions();
        var beta = new Option<double>("--beta") { Description = "beta of the implicit reward (only its sign matters for accuracy).", DefaultValueFactory = _ => 0.1 };
        var vanilla = new Option<string?>("--vanilla") { Description = "A vanilla (non-personalised) policy trained on the same data: its accuracy on the same pairs, for comparison." };
        var generate = new Option<int>("--generate") { Description = "Also sample this many continuations per user and report the mean generated length (0: off)." };
        var maxTokens = new Option<int>("--max-tokens") { Description = "Tokens per generated continuation.", DefaultValueFactory = _ => 64 };
        var output = new Option<string?>("--out") { Description = "A folder for report.md, metrics.json and plots." }.OutputFolder();
        var command = new Command("eval", "Per-user preference accuracy of a personalised policy or reward model: each known user's tokens, the generic tokens, unknown users; optionally generated lengths and a vanilla model.")
        {
            model, reference, data, format, top, beta, vanilla, generate, maxTokens, output,
        };
        group.Subcommands.Add(command);
        app.SetAction(command, (ctx, ct) =>
        {
            if (ctx.Get(generate) is < 0 or > 10_000)
            {
                throw new AttuneInputException($"--generate must be between 0 and 10000 (got {ctx.Get(generate)})");
            }

            if (ctx.Get(maxTokens) is < 1 or > 100_000)
            {
                throw new AttuneInputException($"--max-tokens must be between 1 and 100000 (got {ctx.Get(maxTokens)})");
            }

            if (ctx.Get(output) is { } outDir && File.Exists(outDir))
            {
                throw new AttuneInputException("--out is a file; it must be a folder", outDir);
            }

            var dir = ctx.Get(model)!;
            var (policy, tok) = ModelFolder.Open(dir, null);
            using (policy)
            {
                using var users = UserModelFiles.Load(dir);
                var dataPath = ctx.Get(data)!;
                var read = Read(dataPath, ctx.Get(format)!, ctx.Get(top));
                var pairs = PersonalizedEvaluation.Encode(read.Examples, tok, dataPath);
                IReadOnlyList<UserAccuracy> perUser;
                if (File.Exists(Path.Combine(dir, PersonalizedRewardModel.HeadFile)))
                {
                    var reward = new PersonalizedRewardModel(policy, ctx.Seed);   // wraps the policy, which the using above disposes
                    reward.LoadHead(dir);
                    perUser = PersonalizedEvaluation.PerUser(reward, users, pairs, UserModelFiles.SoftTokensAt(dir));
                }
                else
                {
                    var refDir = ctx.Get(reference) ?? throw new AttuneInputException("a P-DPO policy is evaluated against its reference: give --ref", null, null, "--ref");
                    using var referenceModel = Directory.Exists(refDir) ? CausalLM.Load(refDir) : throw new AttuneInputException("reference model folder not found", refDir);
                    var options = new PersonalizedDpoOptions { SoftTokensAt = UserModelFiles.SoftTokensAt(dir), LossOptions = new LossOptions { Beta = ctx.Get(beta) } };
                    perUser = PersonalizedEvaluation.PerUser(policy, referenceModel, users, pairs, options);
                }

                // A vanilla policy on the same pairs: every pair read without user tokens.
                IReadOnlyDictionary<string, double>? vanillaAccuracy = null;
                if (ctx.Get(vanilla) is { } vanillaDir)
                {
                    var refDir = ctx.Get(reference) ?? throw new AttuneInputException("a vanilla policy is compared through its reference: give --ref", null, null, "--ref");
                    using var vanillaModel = Directory.Exists(vanillaDir) ? CausalLM.Load(vanillaDir) : throw new AttuneInputException("vanilla model folder not found", vanillaDir);
                    using var referenceModel = Directory.Exists(refDir) ? CausalLM.Load(refDir) : throw new AttuneInputException("reference model folder not found", refDir);
                    // The same per-user evaluation with no user tokens: a 'none' user model over the same user table.
                    using var none = UserModel.Create(new UserModelOptions { Kind = UserModelKind.None }, users.Users, vanillaModel.Embed(arange(1)).detach(), 0);
                    vanillaAccuracy = PersonalizedEvaluation.PerUser(vanillaModel, referenceModel, none, pairs, new PersonalizedDpoOptions { LossOptions = new LossOptions { Beta = ctx.Get(beta) } })
                        .ToDictionary(u => u.User, u => u.Accuracy, StringComparer.Ordinal);
                }

                IReadOnlyDictionary<string, double>? lengths = null;
                if (ctx.Get(generate) > 0)
                {
                    var options = new GenerationOptions { MaxNewTokens = ctx.Get(maxTokens), Seed = ctx.Seed, StopTokenIds = [.. new[] { tok.EosTokenId }.OfType<int>()] };
                    lengths = PersonalizedEvaluation.GeneratedLengths(policy, users, pairs, ctx.Get(generate), options, UserModelFiles.SoftTokensAt(dir), ct);
                }

                if (ctx.Get(output) is { } folder)
                {
                    WriteReport(folder, dir, dataPath, perUser, vanillaAccuracy, lengths);
                }

                if (ctx.Json)
                {
                    ctx.WriteJson(new { pairs = pairs.Count, per_user = perUser, vanilla_accuracy = vanillaAccuracy, mean_generated_tokens = lengths });
                }
                else
                {
                    foreach (var u in perUser)
                    {
                        var extra = (vanillaAccuracy?.TryGetValue(u.User, out var v) == true ? F($", vanilla {v:F3}") : "")
                            + (lengths?.TryGetValue(u.User, out var l) == true ? F($", mean generated tokens {l:F2}") : "");
                        ctx.Out.WriteLine(F($"{u.User}: {u.Pairs} pairs, accuracy {u.Accuracy:F3} (generic tokens {u.GenericAccuracy:F3}{extra})"));
                    }
                }

                return Task.FromResult(CliApp.Success);
            }
        });
    }

    private static void AddGenerate(CliApp app, Command group)
    {
        var model = new Option<string>("--model") { Description = "A personalised checkpoint folder (weights + user_model.*).", Required = true };
        var prompt = new Option<string>("--prompt") { Description = "The prompt (raw text, as in training).", Required = true };
        var user = new Option<string?>("--user") { Description = "The user to answer as (default: the generic user)." };
        var strict = new Option<bool>("--strict") { Description = "Refuse a user the model does not know instead of answering as the generic user." };
        var maxTokens = new Option<int>("--max-tokens") { Description = "Tokens to generate.", DefaultValueFactory = _ => 64 };
        var greedy = new Option<bool>("--greedy") { Description = "Greedy decoding instead of sampling." };
        var temperature = new Option<double>("--temperature") { Description = "Sampling temperature.", DefaultValueFactory = _ => 1.0 };
        var command = new Command("generate", "Generate a continuation as a given user (or the generic user).") { model, prompt, user, strict, maxTokens, greedy, temperature };
        group.Subcommands.Add(command);
        app.SetAction(command, (ctx, ct) =>
        {
            if (ctx.Get(maxTokens) is < 1 or > 100_000)
            {
                throw new AttuneInputException($"--max-tokens must be between 1 and 100000 (got {ctx.Get(maxTokens)})");
            }

            if (ctx.Get(temperature) is var t && (double.IsNaN(t) || t <= 0))
            {
                throw new AttuneInputException($"--temperature must be positive (got {t})");
            }

            var dir = ctx.Get(model)!;
            var (policy, tok) = ModelFolder.Open(dir, null);
            using (policy)
            {
                using var users = UserModelFiles.Load(dir);
                var who = ctx.Get(user);
                if (ctx.Get(strict) && who is not null && !users.Knows(who))
                {
                    throw new AttuneInputException($"user '{who}' is not in this model's user table ({users.Users.Count} users; see 'attune personalize users')", null, null, "--user");
                }

                var ids = tok.Encode(ctx.Get(prompt)!);
                using var soft = users.Tokens == 0 ? null : users.Embed([who]).detach();
                var at = Math.Min(UserModelFiles.SoftTokensAt(dir), ids.Length);
                var options = new GenerationOptions
                {
                    MaxNewTokens = ctx.Get(maxTokens), Greedy = ctx.Get(greedy), Temperature = ctx.Get(temperature), Seed = ctx.Seed,
                    StopTokenIds = [.. new[] { tok.EosTokenId }.OfType<int>()],
                };
                var generated = Generation.Generate(policy, [ids], options, soft is null ? null : new SoftPrefix(soft, at), null, ct)[0];
                var text = tok.Decode([.. generated.NewIds.Where(id => id != tok.EosTokenId)]);
                if (ctx.Json)
                {
                    ctx.WriteJson(new { user = who, known = users.Knows(who), text, tokens = generated.NewIds.Length, stop = generated.StopReason });
                }
                else
                {
                    ctx.Out.WriteLine(text);
                }

                return Task.FromResult(CliApp.Success);
            }
        });
    }

    private static void AddUsers(CliApp app, Command group)
    {
        var model = new Option<string>("--model") { Description = "A personalised checkpoint folder.", Required = true };
        var command = new Command("users", "Print a personalised model's user table (cluster weights included).") { model };
        group.Subcommands.Add(command);
        app.SetAction(command, (ctx, _) =>
        {
            using var users = UserModelFiles.Load(ctx.Get(model)!);
            var table = UserModelFiles.Describe(users);
            if (ctx.Json)
            {
                ctx.Out.WriteLine(table.ToJsonString(new System.Text.Json.JsonSerializerOptions { WriteIndented = true }));
            }
            else
            {
                ctx.Out.WriteLine(F($"{table["kind"]} user model, {users.Tokens} soft tokens, {users.Users.Count} users"));
                for (var i = 0; i < users.Users.Count; i++)
                {
                    var w = users.Weights(users.Users[i]);
                    ctx.Out.WriteLine(w is null ? $"  {users.Users[i]}" : $"  {users.Users[i]}  weights {string.Join(" ", w.Select(x => x.ToString("F3", CultureInfo.InvariantCulture)))}");
                }
            }

            return Task.FromResult(CliApp.Success);
        });
    }

    private static void WriteReport(string folder, string model, string data, IReadOnlyList<UserAccuracy> perUser, IReadOnlyDictionary<string, double>? vanilla,
        IReadOnlyDictionary<string, double>? lengths)
    {
        var report = new Attune.Core.Reports.Report(folder, "personalised model evaluation");
        report.Paragraph($"Model `{Path.GetFullPath(model)}`, pairs `{Path.GetFullPath(data)}`.");
        var header = new List<string> { "user", "pairs", "accuracy (own tokens)", "accuracy (generic tokens)" };
        if (vanilla is not null)
        {
            header.Add("vanilla accuracy");
        }

        if (lengths is not null)
        {
            header.Add("mean generated tokens");
        }

        report.Table(header, perUser.Select(u =>
        {
            var row = new List<string> { u.User, u.Pairs.ToString(CultureInfo.InvariantCulture), F($"{u.Accuracy:F3}"), F($"{u.GenericAccuracy:F3}") };
            if (vanilla is not null)
            {
                row.Add(vanilla.TryGetValue(u.User, out var v) ? F($"{v:F3}") : "");
            }

            if (lengths is not null)
            {
                row.Add(lengths.TryGetValue(u.User, out var l) ? F($"{l:F2}") : "");
            }

            return (IReadOnlyList<string>)row;
        }));
        report.BarPlot("accuracy", "Held-out accuracy by user", "user", "accuracy", [.. perUser.Select(u => u.User)], [.. perUser.Select(u => u.Accuracy)]);
        if (lengths is not null)
        {
            report.BarPlot("lengths", "Mean generated tokens by user", "user", "tokens", [.. lengths.Keys], [.. lengths.Values]);
        }

        report.Metric("per_user", perUser).Metric("vanilla_accuracy", vanilla).Metric("mean_generated_tokens", lengths);
        report.Save();
    }
}

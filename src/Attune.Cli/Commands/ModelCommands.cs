using System.CommandLine;
using System.Globalization;
using Attune.Core.Errors;
using Attune.Torch.Gguf;
using Attune.Torch.Merging;
using Attune.Torch.Models;
using Attune.Torch.Safetensors;
using Attune.Torch.Serving;
using Attune.Torch.Tokenizers;
using TorchSharp;
using static TorchSharp.torch;

namespace Attune.Cli.Commands;

/// <summary><c>attune model …</c>: tokenize, run, inspect, create and merge causal language models.</summary>
public sealed class ModelCommands : ICommandModule
{
    public void AddCommands(CliApp app)
    {
        // --llm hf:DIR runs a local checkpoint in process, for every command that takes --llm.
        TorchEndpoints.Register();
        var group = app.AddGroup("model", "Causal language models in TorchSharp (Llama, Qwen2, Qwen3; Hugging Face layout).");
        var modelDir = new Option<string>("--model") { Description = "A checkpoint folder (config.json + model.safetensors).", Required = true };
        var tokenizerFile = new Option<string?>("--tokenizer") { Description = "tokenizer.json (default: the one in the model folder)." };
        var device = new Option<string>("--device") { Description = "cpu, cuda or cuda:N.", DefaultValueFactory = _ => "cpu" };
        var precision = PrecisionCliOptions.NewPrecisionOption();

        AddTokenize(app, group);
        AddLogits(app, group, modelDir, tokenizerFile, device, precision);
        AddGenerate(app, group, modelDir, tokenizerFile, device, precision);
        AddLogprob(app, group, modelDir, tokenizerFile, device, precision);
        AddInfo(app, group, modelDir);
        AddInit(app, group);
        AddMerge(app, group);
        AddExportGguf(app, group, modelDir, tokenizerFile);
    }

    private static void AddTokenize(CliApp app, Command group)
    {
        var tokenizer = new Option<string>("--tokenizer") { Description = "tokenizer.json", Required = true };
        var text = new Option<string>("--text") { Description = "The text to encode.", Required = true };
        var special = new Option<bool>("--add-special-tokens") { Description = "Apply the tokenizer's template (BOS/EOS)." };
        var command = new Command("tokenize", "Encode text: ids and tokens.") { tokenizer, text, special };
        group.Subcommands.Add(command);
        app.SetAction(command, (ctx, _) =>
        {
            var tok = ModelFolder.LoadTokenizer(null, ctx.Get(tokenizer));
            var ids = tok.Encode(ctx.Get(text)!, ctx.Get(special));
            var tokens = tok.IdsToTokens(ids);
            if (ctx.Json)
            {
                ctx.WriteJson(new { ids, tokens });
            }
            else
            {
                ctx.Out.WriteLine(string.Join(' ', ids));
                ctx.Out.WriteLine(string.Join(' ', tokens));
            }

            return Task.FromResult(CliApp.Success);
        });
    }

    private static void AddLogits(CliApp app, Command group, Option<string> modelDir, Option<string?> tokenizerFile, Option<string> device, Option<string> precision)
    {
        var text = new Option<string>("--text") { Description = "The text to run.", Required = true };
        var command = new Command("logits", "Run the model on a text: logits shape, first and last rows, sums.") { modelDir, tokenizerFile, device, precision, text };
        group.Subcommands.Add(command);
        app.SetAction(command, (ctx, _) =>
        {
            var (model, tok) = ModelFolder.Open(ctx.Get(modelDir)!, ctx.Get(tokenizerFile), ModelFolder.ParseDevice(ctx.Get(device)), Precisions.Parse(ctx.Get(precision)));
            using (model)
            using (no_grad())
            using (var scope = NewDisposeScope())
            {
                var ids = tok.Encode(ctx.Get(text)!);
                if (ids.Length == 0)
                {
                    throw new AttuneInputException("--text encodes to no tokens");
                }

                var logits = model.Forward(tensor(ids.Select(i => (long)i).ToArray(), device: model.Device).unsqueeze(0))[0].cpu();
                var result = new
                {
                    ids,
                    shape = logits.shape,
                    first_row = logits[0].data<float>().ToArray(),
                    last_row = logits[-1].data<float>().ToArray(),
                    sum = logits.sum().item<float>(),
                    abs_sum = logits.abs().sum().item<float>(),
                };
                if (ctx.Json)
                {
                    ctx.WriteJson(result);
                }
                else
                {
                    ctx.Out.WriteLine($"ids: {string.Join(' ', ids)}");
                    ctx.Out.WriteLine($"shape: [{string.Join(", ", result.shape)}], sum {F(result.sum)}, abs sum {F(result.abs_sum)}");
                    ctx.Out.WriteLine($"last row (first 8): {string.Join(' ', result.last_row.Take(8).Select(x => F(x)))}");
                }
            }

            return Task.FromResult(CliApp.Success);
        });
    }

    private static void AddGenerate(CliApp app, Command group, Option<string> modelDir, Option<string?> tokenizerFile, Option<string> device, Option<string> precision)
    {
        var prompt = new Option<string>("--prompt") { Description = "The prompt.", Required = true };
        var maxNew = new Option<int>("--max-new-tokens") { Description = "How many tokens to add at most.", DefaultValueFactory = _ => 64 };
        var greedy = new Option<bool>("--greedy") { Description = "Always take the most likely token." };
        var temperature = new Option<double>("--temperature") { Description = "Sampling temperature (0: greedy).", DefaultValueFactory = _ => 1.0 };
        var topK = new Option<int>("--top-k") { Description = "Sample among the k most likely tokens (0: all)." };
        var topP = new Option<double>("--top-p") { Description = "Sample among the most likely tokens whose probability reaches p.", DefaultValueFactory = _ => 1.0 };
        var stop = new Option<string[]>("--stop") { Description = "Stop once the text contains this string (repeatable).", AllowMultipleArgumentsPerToken = false };
        var noCache = new Option<bool>("--no-cache") { Description = "Recompute the whole sequence at each step (for comparison)." };
        var command = new Command("generate", "Continue a prompt.") { modelDir, tokenizerFile, device, precision, prompt, maxNew, greedy, temperature, topK, topP, stop, noCache };
        group.Subcommands.Add(command);
        app.SetAction(command, (ctx, ct) =>
        {
            if (ctx.Get(maxNew) < 0 || ctx.Get(topK) < 0 || ctx.Get(temperature) < 0 || ctx.Get(topP) is <= 0 or > 1)
            {
                throw new AttuneInputException("--max-new-tokens, --top-k and --temperature must be >= 0 and --top-p in (0, 1]");
            }

            var (model, tok) = ModelFolder.Open(ctx.Get(modelDir)!, ctx.Get(tokenizerFile), ModelFolder.ParseDevice(ctx.Get(device)), Precisions.Parse(ctx.Get(precision)));
            using (model)
            {
                var promptIds = tok.Encode(ctx.Get(prompt)!);
                if (promptIds.Length == 0)
                {
                    throw new AttuneInputException("--prompt encodes to no tokens");
                }

                var eos = new[] { tok.EosTokenId }.Concat(model.Config.EosTokenIds.Select(i => (int?)i)).OfType<int>().Distinct().ToArray();
                var options = new GenerationOptions
                {
                    MaxNewTokens = ctx.Get(maxNew),
                    Greedy = ctx.Get(greedy),
                    Temperature = ctx.Get(temperature),
                    TopK = ctx.Get(topK),
                    TopP = ctx.Get(topP),
                    StopStrings = ctx.Get(stop) ?? [],
                    StopTokenIds = eos,
                    UseCache = !ctx.Get(noCache),
                    Seed = ctx.Seed,
                    PadTokenId = tok.PadTokenId ?? model.Config.PadTokenId ?? 0,
                };
                var result = Generation.Generate(model, [promptIds], options, ids => tok.Decode(ids), ct)[0];
                var text = tok.Decode(result.NewIds);
                if (ctx.Json)
                {
                    ctx.WriteJson(new { prompt_ids = promptIds, new_ids = result.NewIds, text, stop_reason = result.StopReason });
                }
                else
                {
                    ctx.Out.WriteLine(ctx.Get(prompt) + text);
                    ctx.Log($"{result.NewIds.Length} new tokens, stopped: {result.StopReason}");
                }
            }

            return Task.FromResult(CliApp.Success);
        });
    }

    private static void AddLogprob(CliApp app, Command group, Option<string> modelDir, Option<string?> tokenizerFile, Option<string> device, Option<string> precision)
    {
        var prompt = new Option<string>("--prompt") { Description = "The prompt (conditioned on).", Required = true };
        var response = new Option<string>("--response") { Description = "The response whose log-probability is summed.", Required = true };
        var command = new Command("logprob", "Log-probability of a response given a prompt (each encoded separately).") { modelDir, tokenizerFile, device, precision, prompt, response };
        group.Subcommands.Add(command);
        app.SetAction(command, (ctx, _) =>
        {
            var (model, tok) = ModelFolder.Open(ctx.Get(modelDir)!, ctx.Get(tokenizerFile), ModelFolder.ParseDevice(ctx.Get(device)), Precisions.Parse(ctx.Get(precision)));
            using (model)
            using (no_grad())
            {
                var p = tok.Encode(ctx.Get(prompt)!);
                var r = tok.Encode(ctx.Get(response)!);
                if (p.Length == 0 || r.Length == 0)
                {
                    throw new AttuneInputException("--prompt and --response must each encode to at least one token");
                }

                using var logps = LogProbs.Response(model, [new SequencePair(p, r)]);
                var logp = logps.Sum[0].item<float>();
                var tokenLogps = logps.Tokens[0].cpu().data<float>().ToArray()[..r.Length];
                if (ctx.Json)
                {
                    ctx.WriteJson(new { logp, token_logps = tokenLogps, prompt_ids = p, response_ids = r });
                }
                else
                {
                    ctx.Out.WriteLine($"log p(response | prompt) = {F(logp)} over {r.Length} tokens");
                    foreach (var (id, lp) in r.Zip(tokenLogps))
                    {
                        ctx.Out.WriteLine($"  {tok.IdToToken(id),-16} {F(lp)}");
                    }
                }
            }

            return Task.FromResult(CliApp.Success);
        });
    }

    private static void AddInfo(CliApp app, Command group, Option<string> modelDir)
    {
        var command = new Command("info", "Describe a checkpoint folder: architecture, sizes, parameters, files.") { modelDir };
        group.Subcommands.Add(command);
        app.SetAction(command, (ctx, _) =>
        {
            var dir = ctx.Get(modelDir)!;
            var config = ModelConfig.Load(dir);
            var files = Directory.Exists(dir) ? Directory.GetFiles(dir, "*.safetensors").Select(Path.GetFileName).Order(StringComparer.Ordinal).ToArray() : [];
            long parameters = 0;
            var dtypes = new SortedSet<string>(StringComparer.Ordinal);
            foreach (var file in files)
            {
                foreach (var t in SafetensorsHeader.Read(Path.Combine(dir, file!)).Tensors.Values)
                {
                    parameters += t.ElementCount;
                    dtypes.Add(t.DType.ToString());
                }
            }

            var info = new
            {
                model_type = config.ModelType,
                architecture = config.ArchitectureName,
                vocab_size = config.VocabSize,
                hidden_size = config.HiddenSize,
                intermediate_size = config.IntermediateSize,
                layers = config.NumLayers,
                heads = config.NumHeads,
                kv_heads = config.NumKeyValueHeads,
                head_dim = config.HeadDim,
                rope = config.Rope,
                tied_embeddings = config.TieWordEmbeddings,
                parameters,
                dtypes = dtypes.ToArray(),
                files,
                has_tokenizer = File.Exists(Path.Combine(dir, "tokenizer.json")),
            };
            if (ctx.Json)
            {
                ctx.WriteJson(info);
            }
            else
            {
                ctx.Out.WriteLine($"{info.architecture}: {parameters:N0} parameters ({string.Join(", ", info.dtypes)}) in {string.Join(", ", files)}");
                ctx.Out.WriteLine($"vocab {info.vocab_size}, hidden {info.hidden_size}, MLP {info.intermediate_size}, {info.layers} layers, {info.heads} heads ({info.kv_heads} KV, dim {info.head_dim}), rope {config.Rope.Type} theta {config.Rope.Theta}, tied {info.tied_embeddings}");
            }

            return Task.FromResult(CliApp.Success);
        });
    }

    private static void AddInit(CliApp app, Command group)
    {
        var arch = new Option<string>("--arch") { Description = "llama, qwen2 or qwen3.", DefaultValueFactory = _ => "llama" };
        var size = new Option<string>("--size") { Description = "tiny, small or bench (~19M parameters).", DefaultValueFactory = _ => "tiny" };
        var output = new Option<string>("--out") { Description = "The folder to write.", Required = true }.OutputFolder();
        var tokenizer = new Option<string?>("--tokenizer") { Description = "A tokenizer.json to copy in (default: a character tokenizer over printable ASCII)." };
        var vocab = new Option<int?>("--vocab") { Description = "Vocabulary size (default: the tokenizer's; at least that)." }.Range(1, 10_000_000);
        var force = new Option<bool>("--force") { Description = "Overwrite a checkpoint already in --out." };
        var command = new Command("init", "Create a model of a built-in size with fresh (seeded) weights.") { arch, size, output, tokenizer, vocab, force };
        group.Subcommands.Add(command);
        app.SetAction(command, (ctx, _) =>
        {
            var dir = ctx.Get(output)!;
            ITokenizer tok;
            string tokenizerTarget = Path.Combine(dir, "tokenizer.json");
            if (!ctx.Get(force) && (File.Exists(Path.Combine(dir, "config.json")) || File.Exists(Path.Combine(dir, "model.safetensors"))))
            {
                throw new AttuneInputException("holds a checkpoint already (config.json, model.safetensors); pass --force to overwrite it", dir, null, "--out");
            }

            Directory.CreateDirectory(dir);
            if (ctx.Get(tokenizer) is { } source)
            {
                tok = ModelFolder.LoadTokenizer(null, source);
                if (Path.GetFullPath(source) != Path.GetFullPath(tokenizerTarget))
                {
                    File.Copy(source, tokenizerTarget, overwrite: true);
                }
            }
            else
            {
                var chars = CharTokenizer.FromAlphabet(new string([.. Enumerable.Range(32, 95).Select(i => (char)i)]) + "\n");
                chars.Save(tokenizerTarget);
                tok = chars;
            }

            var vocabSize = ctx.Get(vocab) ?? tok.VocabSize;
            if (vocabSize < tok.VocabSize)
            {
                throw new AttuneInputException($"--vocab {vocabSize} is smaller than the tokenizer's {tok.VocabSize} tokens");
            }

            var config = BuiltInModels.Create(ctx.Get(arch)!, ctx.Get(size)!, vocabSize) with
            {
                BosTokenId = tok.BosTokenId,
                EosTokenIds = tok.EosTokenId is { } e ? [e] : [],
                PadTokenId = tok.PadTokenId,
            };
            using var model = ModelFolder.Initialize(config, ctx.Seed);
            model.Save(dir);
            if (ctx.Json)
            {
                ctx.WriteJson(new { out_dir = Path.GetFullPath(dir), model_type = config.ModelType, parameters = model.ParameterCount, vocab_size = vocabSize, seed = ctx.Seed });
            }
            else
            {
                ctx.Out.WriteLine($"{config.ArchitectureName} ({ctx.Get(size)}): {model.ParameterCount:N0} parameters, seed {ctx.Seed} -> {Path.GetFullPath(dir)}");
            }

            return Task.FromResult(CliApp.Success);
        });
    }

    private static void AddMerge(CliApp app, Command group)
    {
        var method = new Option<string>("--method") { Description = "linear, task-arithmetic or ties.", DefaultValueFactory = _ => "task-arithmetic" };
        var baseDir = new Option<string>("--base") { Description = "The base checkpoint (task vectors are taken against it).", Required = true };
        var models = new Option<string[]>("--models") { Description = "Fine-tuned checkpoints, each DIR or DIR:WEIGHT.", AllowMultipleArgumentsPerToken = true };
        var adapters = new Option<string[]>("--adapters") { Description = "PEFT LoRA adapters on the base, each DIR or DIR:WEIGHT (their exact deltas are merged).", AllowMultipleArgumentsPerToken = true };
        var density = new Option<double>("--density") { Description = "TIES: fraction of each task vector kept (above 0, at most 1).", DefaultValueFactory = _ => 0.5 }.Above(0, 1);
        var scale = new Option<double>("--scale") { Description = "Multiplies the merged task vector (TIES's lambda).", DefaultValueFactory = _ => 1.0 }.Range(-1e6, 1e6);
        var output = new Option<string>("--out") { Description = "The folder to write the merged checkpoint to.", Required = true }.OutputFolder();
        var command = new Command("merge", "Merge checkpoints or LoRA adapters: linear, task arithmetic or TIES.") { method, baseDir, models, adapters, density, scale, output };
        group.Subcommands.Add(command);
        app.SetAction(command, (ctx, _) =>
        {
            var how = ctx.Get(method) switch
            {
                "linear" => MergeMethod.Linear,
                "task-arithmetic" => MergeMethod.TaskArithmetic,
                "ties" => MergeMethod.Ties,
                var other => throw new AttuneInputException($"--method: unknown merge method '{other}' (linear, task-arithmetic, ties)"),
            };
            var sources = (ctx.Get(models) ?? []).Select(s => (Spec: ParseWeighted(s), Adapter: false))
                .Concat((ctx.Get(adapters) ?? []).Select(s => (Spec: ParseWeighted(s), Adapter: true))).ToList();
            if (sources.Count == 0)
            {
                throw new AttuneInputException("nothing to merge: give --models and/or --adapters");
            }

            using var baseModel = CausalLM.Load(ctx.Get(baseDir)!);
            var baseWeights = baseModel.StateDict().ToDictionary(kv => kv.Key, kv => kv.Value.detach().clone(), StringComparer.Ordinal);
            var taskVectors = new List<IReadOnlyDictionary<string, Tensor>>();
            foreach (var (spec, adapter) in sources)
            {
                ctx.Log($"task vector from {(adapter ? "adapter" : "model")} {spec.Path} (weight {spec.Weight.ToString(CultureInfo.InvariantCulture)})");
                taskVectors.Add(ModelMerging.TaskVectorOf(ctx.Get(baseDir)!, baseModel, baseWeights, spec.Path, adapter));
            }

            var merged = ModelMerging.Apply(baseWeights, ModelMerging.Combine(taskVectors, [.. sources.Select(s => s.Spec.Weight)], how, ctx.Get(density)), ctx.Get(scale));
            baseModel.LoadStateDict(merged, "merged weights");
            var outDir = ctx.Get(output)!;
            baseModel.Save(outDir);
            var tokenizerSource = Path.Combine(ctx.Get(baseDir)!, "tokenizer.json");
            if (File.Exists(tokenizerSource))
            {
                File.Copy(tokenizerSource, Path.Combine(outDir, "tokenizer.json"), overwrite: true);
            }

            if (ctx.Json)
            {
                ctx.WriteJson(new { out_dir = Path.GetFullPath(outDir), method = ctx.Get(method), sources = sources.Select(s => new { path = s.Spec.Path, weight = s.Spec.Weight, adapter = s.Adapter }) });
            }
            else
            {
                ctx.Out.WriteLine($"merged {sources.Count} task vectors ({ctx.Get(method)}) into {Path.GetFullPath(outDir)}");
            }

            return Task.FromResult(CliApp.Success);
        });
    }

    private static void AddExportGguf(CliApp app, Command group, Option<string> modelDir, Option<string?> tokenizerFile)
    {
        var output = new Option<string>("--out") { Description = "The .gguf file to write.", Required = true }.OutputFile();
        var dtype = new Option<string>("--dtype") { Description = "f32 or f16 (matrices; norms and biases stay f32).", DefaultValueFactory = _ => "f32" };
        var template = new Option<string?>("--template") { Description = "Chat template to embed: chatml or llama3 (default: chosen from the tokenizer)." };
        var command = new Command("export-gguf", "Write the model and its tokenizer as a GGUF file for llama.cpp / LLamaSharp (gguf:FILE).") { modelDir, tokenizerFile, output, dtype, template };
        group.Subcommands.Add(command);
        app.SetAction(command, (ctx, _) =>
        {
            var type = ctx.Get(dtype)?.ToLowerInvariant() switch
            {
                "f32" => GgmlType.F32,
                "f16" => GgmlType.F16,
                var other => throw new AttuneInputException($"--dtype: '{other}' is not f32 or f16"),
            };
            var (model, tok) = ModelFolder.Open(ctx.Get(modelDir)!, ctx.Get(tokenizerFile));
            using (model)
            {
                var chat = ChatTemplate.Select(tok, model.Config.ModelType, ctx.Get(template), ctx.Get(tokenizerFile));
                var summary = GgufExporter.Export(model, tok, ctx.Get(output)!, type, chat);
                if (ctx.Json)
                {
                    ctx.WriteJson(new
                    {
                        out_file = summary.Path,
                        architecture = summary.Architecture,
                        dtype = summary.DType,
                        tensors = summary.TensorCount,
                        bytes = summary.Bytes,
                        vocab_size = summary.VocabSize,
                        pre_tokenizer = summary.PreTokenizer,
                        chat_template = summary.ChatTemplate,
                    });
                }
                else
                {
                    ctx.Out.WriteLine($"{summary.Architecture} ({summary.DType}, {summary.TensorCount} tensors, {summary.Bytes:N0} bytes, pre-tokenizer {summary.PreTokenizer}, template {summary.ChatTemplate}) -> {summary.Path}");
                }
            }

            return Task.FromResult(CliApp.Success);
        });
    }

    private static (string Path, double Weight) ParseWeighted(string spec)
    {
        var colon = spec.LastIndexOf(':');
        if (colon > 0 && double.TryParse(spec[(colon + 1)..], NumberStyles.Float, CultureInfo.InvariantCulture, out var w))
        {
            return (spec[..colon], w);
        }

        return (spec, 1.0);
    }

    private static string F(double x) => x.ToString("G6", CultureInfo.InvariantCulture);
}

using System.Text.Json;
using Attune.Core.Errors;
using Attune.Core.IO;
using Attune.Core.Randomness;
using Attune.Torch.Models;
using Attune.Torch.Tokenizers;
using static TorchSharp.torch;

namespace Attune.Torch.Training;

/// <summary>One supervised example: a prompt, the response to learn, and any other fields of its line.</summary>
public sealed record SftExample(string Prompt, string Response, IReadOnlyDictionary<string, JsonElement> Extra, long Line);

/// <summary>An example encoded: prompt ids and response ids (each encoded separately, EOS appended to the response when asked).</summary>
public sealed record SftTokens(int[] Prompt, int[] Response)
{
    public int Length => Prompt.Length + Response.Length;
}

/// <summary>Reading SFT data: JSON lines <c>{"prompt": "…", "response": "…", …}</c>.</summary>
public static class SftData
{
    /// <summary>Reads every example; a malformed line is an <see cref="AttuneInputException"/> naming the file and line.</summary>
    public static IReadOnlyList<SftExample> Read(string path)
    {
        var result = new List<SftExample>();
        foreach (var (line, element) in JsonLines.ReadElements(path))
        {
            if (element.ValueKind != JsonValueKind.Object)
            {
                throw new AttuneInputException("each line must be a JSON object with \"prompt\" and \"response\"", path, line);
            }

            string Field(string name)
            {
                if (!element.TryGetProperty(name, out var value))
                {
                    throw new AttuneInputException("missing", path, line, name);
                }

                if (value.ValueKind != JsonValueKind.String)
                {
                    throw new AttuneInputException($"must be a string, not {value.ValueKind.ToString().ToLowerInvariant()}", path, line, name);
                }

                return value.GetString()!;
            }

            var prompt = Field("prompt");
            var response = Field("response");
            var extra = element.EnumerateObject().Where(p => p.Name is not ("prompt" or "response"))
                .ToDictionary(p => p.Name, p => p.Value.Clone(), StringComparer.Ordinal);
            result.Add(new SftExample(prompt, response, extra, line));
        }

        if (result.Count == 0)
        {
            throw new AttuneInputException("no examples", path);
        }

        return result;
    }

    /// <summary>Encodes examples; prompts and responses must each give at least one token.</summary>
    public static IReadOnlyList<SftTokens> Encode(IReadOnlyList<SftExample> examples, ITokenizer tokenizer, string path, bool appendEos = true, int maxLength = 0)
    {
        var eos = appendEos ? tokenizer.EosTokenId : null;
        var result = new List<SftTokens>(examples.Count);
        foreach (var e in examples)
        {
            var prompt = tokenizer.Encode(e.Prompt);
            var response = tokenizer.Encode(e.Response);
            if (eos is int id)
            {
                response = [.. response, id];
            }

            if (prompt.Length == 0 || response.Length == 0)
            {
                throw new AttuneInputException("encodes to no tokens", path, e.Line, prompt.Length == 0 ? "prompt" : "response");
            }

            if (maxLength > 0 && prompt.Length + response.Length > maxLength)
            {
                throw new AttuneInputException($"{prompt.Length + response.Length} tokens, more than the maximum of {maxLength}", path, e.Line);
            }

            result.Add(new SftTokens(prompt, response));
        }

        return result;
    }
}

/// <summary>
/// Supervised fine-tuning: the summed negative log-likelihood of the response tokens only (the
/// prompt is context, not target); the trainer divides by the response tokens of the whole step, so
/// the loss is the mean over response tokens. Batches are length-bucketed: each epoch the examples
/// are shuffled with (seed, epoch), sorted stably by length, cut into batches of similar length,
/// and the batch order is shuffled again.
/// </summary>
public sealed class SftObjective : ITrainingObjective<IReadOnlyList<SequencePair>>
{
    private readonly IReadOnlyList<SftTokens> _examples;
    private readonly int _batchSize;
    private readonly int _seed;
    private readonly int _padId;
    private int _cachedEpoch = -1;
    private IReadOnlyList<SequencePair>[] _cachedBatches = [];

    public SftObjective(IReadOnlyList<SftTokens> examples, int batchSize, int seed, int padId = 0)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(batchSize, 1);
        _examples = examples;
        _batchSize = batchSize;
        _seed = seed;
        _padId = padId;
    }

    public int MicroBatchesPerEpoch => (_examples.Count + _batchSize - 1) / _batchSize;

    /// <summary>The batches of epoch <paramref name="epoch"/> in order.</summary>
    public IReadOnlyList<SequencePair>[] Batches(int epoch)
    {
        if (epoch != _cachedEpoch)
        {
            var rng = Seeds.Create(_seed, epoch);
            var order = Enumerable.Range(0, _examples.Count).ToArray();
            rng.Shuffle(order);
            var sorted = order.OrderBy(i => _examples[i].Length).ToArray();   // stable: ties keep the shuffled order
            var batches = sorted.Chunk(_batchSize)
                .Select(c => (IReadOnlyList<SequencePair>)[.. c.Select(i => new SequencePair(_examples[i].Prompt, _examples[i].Response))])
                .ToArray();
            rng.Shuffle(batches);
            (_cachedEpoch, _cachedBatches) = (epoch, batches);
        }

        return _cachedBatches;
    }

    public IReadOnlyList<SequencePair> MicroBatch(int epoch, int index) => Batches(epoch)[index];

    public long LossTokens(IReadOnlyList<SequencePair> batch) => batch.Sum(p => (long)p.Response.Length);

    public long InputTokens(IReadOnlyList<SequencePair> batch) => batch.Sum(p => (long)(p.Prompt.Length + p.Response.Length));

    public Tensor LossSum(CausalLM model, IReadOnlyList<SequencePair> batch)
    {
        using var logps = LogProbs.Response(model, batch, _padId);
        return logps.Sum.sum().neg();
    }

    /// <summary>Mean negative log-likelihood per response token over <paramref name="examples"/> (no gradients), in batches.</summary>
    public static double EvaluationLoss(CausalLM model, IReadOnlyList<SftTokens> examples, int batchSize, int padId = 0)
    {
        using var noGrad = no_grad();
        double total = 0;
        long count = 0;
        foreach (var chunk in examples.OrderBy(e => e.Length).Chunk(batchSize))
        {
            using var scope = NewDisposeScope();
            using var logps = LogProbs.Response(model, [.. chunk.Select(e => new SequencePair(e.Prompt, e.Response))], padId);
            total -= logps.Sum.sum().item<float>();
            count += chunk.Sum(e => (long)e.Response.Length);
        }

        return total / Math.Max(1, count);
    }
}

/// <summary>Settings of an SFT run besides the trainer's.</summary>
public sealed record SftOptions
{
    public required string DataPath { get; init; }

    public string? EvalPath { get; init; }

    public int BatchSize { get; init; } = 8;

    /// <summary>Train a LoRA adapter with these settings instead of the full model.</summary>
    public Lora.LoraConfig? Lora { get; init; }

    /// <summary>Append the tokenizer's end-of-sequence token to each response, so the model learns to stop.</summary>
    public bool AppendEos { get; init; } = true;

    public TrainerOptions Trainer { get; init; } = new();
}

/// <summary>The outcome of an SFT run.</summary>
public sealed record SftResult(TrainResult Train, int Examples, int EvalExamples, double? InitialEvalLoss, IReadOnlyList<string> LoraModules);

/// <summary>Supervised fine-tuning of a causal LM on prompt/response pairs, full or LoRA.</summary>
public static class SftTrainer
{
    /// <summary>
    /// Trains <paramref name="model"/> (attaching and training only a LoRA adapter when
    /// <see cref="SftOptions.Lora"/> is set) and writes everything under <paramref name="output"/>.
    /// </summary>
    public static SftResult Run(CausalLM model, ITokenizer tokenizer, SftOptions options, string output, TextWriter? progress = null,
        System.Text.Json.Nodes.JsonObject? runConfig = null, string? tokenizerFile = null, CancellationToken cancellationToken = default)
    {
        var maxLength = model.Config.MaxPositionEmbeddings;
        var train = SftData.Encode(SftData.Read(options.DataPath), tokenizer, options.DataPath, options.AppendEos, maxLength);
        var eval = options.EvalPath is null ? null : SftData.Encode(SftData.Read(options.EvalPath), tokenizer, options.EvalPath, options.AppendEos, maxLength);
        var padId = tokenizer.PadTokenId ?? model.Config.PadTokenId ?? 0;
        if (options.Trainer.Precision == Models.Precision.Bf16Pure && options.Lora is null)
        {
            throw new AttuneInputException(Trainer.Bf16PureFullMessage);
        }

        model.SetPrecision(options.Trainer.Precision);   // before the adapters (they stay float32) and the first evaluation
        IReadOnlyList<string> adapted = [];
        if (options.Lora is not null)
        {
            adapted = Lora.LoraAdapter.Attach(model, options.Lora, options.Trainer.Seed);
            Lora.LoraAdapter.FreezeBase(model);
        }

        double? initialEval = null;
        if (eval is not null && !(options.Trainer.Resume && Checkpoints.Latest(Path.Combine(output, "checkpoints")) is not null))
        {
            model.eval();
            initialEval = SftObjective.EvaluationLoss(model, eval, options.BatchSize, padId);
            progress?.WriteLine(string.Create(System.Globalization.CultureInfo.InvariantCulture, $"eval loss before training {initialEval:F4}"));
        }

        var objective = new SftObjective(train, options.BatchSize, options.Trainer.Seed, padId);
        var trainer = new Trainer<IReadOnlyList<SequencePair>>(model, objective, options.Trainer, output, options.Lora, progress)
        {
            Evaluate = eval is null ? null : m => SftObjective.EvaluationLoss(m, eval, options.BatchSize, padId),
            RunConfig = runConfig,
            WriteExtras = tokenizerFile is null ? null : dir => File.Copy(tokenizerFile, Path.Combine(dir, "tokenizer.json"), overwrite: true),
        };
        var result = trainer.Run(cancellationToken);
        return new SftResult(result, train.Count, eval?.Count ?? 0, initialEval, adapted);
    }
}

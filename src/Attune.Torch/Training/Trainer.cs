using System.Diagnostics;
using System.Globalization;
using System.Text.Json;
using System.Text.Json.Nodes;
using Attune.Core.Errors;
using Attune.Core.IO;
using Attune.Core.Randomness;
using Attune.Torch.Lora;
using Attune.Torch.Models;
using TorchSharp;
using TorchSharp.Modules;
using static TorchSharp.torch;

namespace Attune.Torch.Training;

/// <summary>
/// What a trainer optimises: a deterministic sequence of micro-batches per epoch and a loss that is
/// a <b>sum</b> over loss tokens. The trainer divides by the loss tokens of the whole accumulated
/// batch, so k micro-batches give exactly the gradient of one batch k times larger.
/// </summary>
public interface ITrainingObjective<TBatch>
{
    int MicroBatchesPerEpoch { get; }

    /// <summary>Micro-batch <paramref name="index"/> of epoch <paramref name="epoch"/>; the same for the same seed, epoch and index.</summary>
    TBatch MicroBatch(int epoch, int index);

    /// <summary>How many tokens the loss of <paramref name="batch"/> sums over.</summary>
    long LossTokens(TBatch batch);

    /// <summary>How many tokens the model reads for <paramref name="batch"/> (for tokens/s).</summary>
    long InputTokens(TBatch batch);

    /// <summary>The summed loss (a differentiable scalar).</summary>
    Tensor LossSum(CausalLM model, TBatch batch);
}

/// <summary>Settings of a training run.</summary>
public sealed record TrainerOptions
{
    public int Epochs { get; init; } = 1;

    /// <summary>Stop after this many optimizer steps (null: all epochs).</summary>
    public int? MaxSteps { get; init; }

    /// <summary>Micro-batches accumulated per optimizer step.</summary>
    public int GradAccum { get; init; } = 1;

    /// <summary>Peak learning rate.</summary>
    public double LearningRate { get; init; } = 1e-4;

    public int WarmupSteps { get; init; }

    public ScheduleKind Schedule { get; init; } = ScheduleKind.Cosine;

    /// <summary>The floor the decay ends at.</summary>
    public double MinLearningRate { get; init; }

    /// <summary>Clip the global gradient norm to this (0: no clipping).</summary>
    public double MaxGradNorm { get; init; } = 1.0;

    public AdamWOptions AdamW { get; init; } = new();

    /// <summary>Write a checkpoint every this many steps (0: only at the end and when cancelled).</summary>
    public int SaveEvery { get; init; }

    /// <summary>Checkpoints kept (the newest); 0 keeps all.</summary>
    public int KeepCheckpoints { get; init; } = 2;

    /// <summary>Evaluate every this many steps (0: only at the end); needs an evaluator.</summary>
    public int EvalEvery { get; init; }

    /// <summary>A progress line every this many steps.</summary>
    public int LogEvery { get; init; } = 10;

    /// <summary>
    /// Return freed native memory to the system (glibc <c>malloc_trim</c>) every this many steps
    /// (and after evaluation); 1 trims after every step. Trimming costs ~50 ms on the 19M bench
    /// model and makes the next step fault its memory in again; between trims the resident size
    /// stays at the step's working set.
    /// </summary>
    public int TrimEvery { get; init; } = 25;

    public int Seed { get; init; } = Seeds.Default;

    /// <summary>Continue from the newest checkpoint in the output folder, if there is one.</summary>
    public bool Resume { get; init; }

    /// <summary>
    /// How the model computes (<see cref="Models.Precision"/>); the trainer sets it on the model before
    /// the first step. <see cref="Precision.Bf16Pure"/> trains LoRA adapters only. Recorded in every
    /// checkpoint: a run resumes only in the precision it was started in.
    /// </summary>
    public Precision Precision { get; init; } = Precision.Fp32;

    /// <summary>
    /// The type of the final weights (<c>model/</c> or <c>adapter/</c>); null: float32, the type of the
    /// trained (master) weights in every precision. Checkpoints under <c>checkpoints/</c> always hold the
    /// master weights, so that a resumed run continues bit for bit.
    /// </summary>
    public Safetensors.SafetensorsDType? SaveDType { get; init; }
}

/// <summary>One optimizer step's measurements, as written to <c>metrics.jsonl</c>.</summary>
public sealed record StepMetrics(long Step, int Epoch, double Loss, double LearningRate, double GradNorm, long Tokens, double TokensPerSecond, double ElapsedSeconds, double? EvalLoss);

/// <summary>The outcome of <see cref="Trainer{TBatch}.Run"/>.</summary>
public sealed record TrainResult(long Steps, long TotalSteps, bool Cancelled, double? FinalLoss, double? EvalLoss, string? Checkpoint, string? Output, long ResumedFrom, double Seconds, long Tokens);

/// <summary>
/// A small training loop. Each optimizer step: seed dropout from (seed, step); for each of its
/// micro-batches, loss-sum / (loss tokens of the whole step) and backward; clip the global
/// gradient norm; AdamW at the schedule's rate; zero the gradients. The step runs in a dispose
/// scope and is followed by <c>malloc_trim(0)</c>, so memory stays flat. Metrics go to
/// <c>metrics.jsonl</c> and to the hooks, progress lines to a writer; a cancelled run writes a
/// checkpoint and returns. Output folder: <c>metrics.jsonl</c>, <c>run_config.json</c>,
/// <c>checkpoints/step-…/</c> and, at the end, <c>model/</c> or <c>adapter/</c>.
/// </summary>
public sealed class Trainer<TBatch>
{
    private readonly CausalLM _model;
    private readonly ITrainingObjective<TBatch> _objective;
    private readonly TrainerOptions _options;
    private readonly string _output;
    private readonly LoraConfig? _lora;
    private readonly TextWriter _progress;

    public Trainer(CausalLM model, ITrainingObjective<TBatch> objective, TrainerOptions options, string outputDirectory, LoraConfig? lora = null, TextWriter? progress = null)
    {
        _model = model;
        _objective = objective;
        _options = options;
        _output = outputDirectory;
        _lora = lora;
        _progress = progress ?? TextWriter.Null;
        if (options.GradAccum < 1 || options.Epochs < 1 || options.LearningRate <= 0 || options.MaxGradNorm < 0 || options.WarmupSteps < 0 || options.SaveEvery < 0 || options.TrimEvery < 0)
        {
            throw new AttuneInputException("epochs, gradient accumulation and the learning rate must be positive; warm-up, clipping and save interval not negative");
        }

        if (objective.MicroBatchesPerEpoch < 1)
        {
            throw new AttuneInputException("no training data");
        }
    }

    /// <summary>Called after every step with its metrics.</summary>
    public IList<Action<StepMetrics>> Hooks { get; } = [];

    /// <summary>Mean evaluation loss of the model (run without gradients), or null for none.</summary>
    public Func<CausalLM, double>? Evaluate { get; init; }

    /// <summary>The run's settings as written to <c>run_config.json</c>.</summary>
    public JsonObject? RunConfig { get; init; }

    /// <summary>Writes files that belong beside the weights (e.g. the tokenizer) into a model or adapter folder.</summary>
    public Action<string>? WriteExtras { get; init; }

    public int StepsPerEpoch => (int)(((long)_objective.MicroBatchesPerEpoch + _options.GradAccum - 1) / _options.GradAccum);

    public long TotalSteps => Math.Min((long)StepsPerEpoch * _options.Epochs, _options.MaxSteps ?? long.MaxValue);

    public string CheckpointRoot => Path.Combine(_output, "checkpoints");

    public TrainResult Run(CancellationToken cancellationToken = default)
    {
        Directory.CreateDirectory(_output);
        Checkpoints.RemoveLeftovers(CheckpointRoot);
        Trainer.ApplyPrecision(_model, _options.Precision);   // before collecting parameters: a change of stored type replaces them
        var trainable = _model.UniqueNamedParameters().Where(p => p.Parameter.requires_grad).ToList();
        if (trainable.Count == 0)
        {
            throw new InvalidOperationException("the model has no trainable parameters");
        }

        using var optimizer = new AdamW(AdamW.DecayGroups(trainable, _options.AdamW.WeightDecay), _options.AdamW);
        var schedule = new LearningRateSchedule(_options.Schedule, _options.LearningRate, _options.WarmupSteps, (int)Math.Min(int.MaxValue, TotalSteps), _options.MinLearningRate);
        var metricsPath = Path.Combine(_output, "metrics.jsonl");

        long start = 0;
        TrainerState? state = null;
        var latest = _options.Resume ? Checkpoints.Latest(CheckpointRoot) : null;
        if (latest is not null)
        {
            state = Checkpoints.Restore(latest, _model, _lora is not null, optimizer);
            CheckCompatible(state, latest);
            start = state.Step;
            Checkpoints.TruncateStepLog(metricsPath, start);
            _progress.WriteLine($"resuming from {latest} (step {start} of {TotalSteps})");
        }
        else
        {
            if (_options.Resume)
            {
                _progress.WriteLine("no checkpoint to resume from: starting afresh");
            }

            File.Delete(metricsPath);
        }

        AtomicFile.WriteAllText(Path.Combine(_output, Checkpoints.RunConfigFile), (RunConfig ?? []).ToJsonString(Checkpoints.Json) + "\n");
        using var metrics = new StreamWriter(metricsPath, append: true);
        var clock = Stopwatch.StartNew();
        long tokens = state?.TokensSeen ?? 0, tokensThisRun = 0;
        double? lastLoss = state?.LastLoss, evalLoss = state?.LastEvalLoss;
        double lr = state?.LearningRate ?? 0;
        var step = start;
        string? checkpoint = latest;
        var savedStep = latest is null ? -1 : start;
        var cancelled = false;
        NativeMemory.ConfigureForTraining();
        _model.train();
        while (step < TotalSteps)
        {
            if (cancellationToken.IsCancellationRequested)
            {
                cancelled = true;
                break;
            }

            var stepClock = Stopwatch.StartNew();
            var (epoch, first, last) = Position(step);
            lr = schedule.At(step);
            double loss, gradNorm;
            long stepTokens;
            using (var scope = NewDisposeScope())
            {
                torch.manual_seed(Seeds.Derive(_options.Seed, step));   // dropout of this step
                var batches = Enumerable.Range(first, last - first).Select(i => _objective.MicroBatch(epoch, i)).ToList();
                stepTokens = batches.Sum(_objective.InputTokens);
                loss = Trainer.Backward(_model, _objective, batches);
                gradNorm = Gradients.ClipGlobalNorm(trainable.Select(p => p.Parameter), _options.MaxGradNorm);
                optimizer.Step(lr);
                optimizer.ZeroGrad();
            }

            step++;
            if (_options.TrimEvery > 0 && step % _options.TrimEvery == 0)
            {
                NativeMemory.Trim();
            }

            tokens += stepTokens;
            tokensThisRun += stepTokens;
            lastLoss = loss;
            var evalNow = Evaluate is not null && (step == TotalSteps || (_options.EvalEvery > 0 && step % _options.EvalEvery == 0));
            double? stepEval = null;
            if (evalNow)
            {
                stepEval = RunEvaluation();
                evalLoss = stepEval;
            }

            var m = new StepMetrics(step, epoch, loss, lr, gradNorm, stepTokens, stepTokens / Math.Max(1e-9, stepClock.Elapsed.TotalSeconds), clock.Elapsed.TotalSeconds, stepEval);
            metrics.WriteLine(JsonSerializer.Serialize(new
            {
                step = m.Step, epoch = m.Epoch, loss = m.Loss, lr = m.LearningRate, grad_norm = m.GradNorm, tokens = m.Tokens,
                tokens_per_s = m.TokensPerSecond, elapsed_s = m.ElapsedSeconds, eval_loss = m.EvalLoss,
            }));
            metrics.Flush();
            foreach (var hook in Hooks)
            {
                hook(m);
            }

            if (step == 1 || step == TotalSteps || (_options.LogEvery > 0 && step % _options.LogEvery == 0) || stepEval is not null)
            {
                _progress.WriteLine(string.Create(CultureInfo.InvariantCulture,
                    $"step {step}/{TotalSteps} epoch {epoch + 1} loss {loss:F4} lr {lr:0.###e+0} grad-norm {gradNorm:F3} {tokensThisRun / Math.Max(1e-9, clock.Elapsed.TotalSeconds):F0} tok/s{(stepEval is null ? "" : $" eval-loss {stepEval:F4}")}"));
            }

            if (_options.SaveEvery > 0 && step % _options.SaveEvery == 0 && step < TotalSteps)
            {
                checkpoint = SaveCheckpoint(optimizer, step, lr, lastLoss, evalLoss, tokens);
                savedStep = step;
            }
        }

        if (savedStep != step)
        {
            checkpoint = SaveCheckpoint(optimizer, step, lr, lastLoss, evalLoss, tokens);
        }

        string? output = null;
        if (cancelled)
        {
            _progress.WriteLine($"stopped at step {step}/{TotalSteps}; checkpoint {checkpoint}; resume with --resume");
        }
        else
        {
            output = Checkpoints.WriteFinal(_output, _model, _lora, WriteExtras, _options.SaveDType ?? Safetensors.SafetensorsDType.F32);
            _progress.WriteLine($"done: {step} steps, loss {lastLoss?.ToString("F4", CultureInfo.InvariantCulture) ?? "-"}; weights in {output}");
        }

        return new TrainResult(step, TotalSteps, cancelled, lastLoss, evalLoss, checkpoint, output, start, clock.Elapsed.TotalSeconds, tokens);
    }

    /// <summary>The epoch and the micro-batch range [first, last) of optimizer step <paramref name="step"/>.</summary>
    public (int Epoch, int First, int Last) Position(long step)
    {
        var epoch = (int)(step / StepsPerEpoch);
        var group = (int)(step % StepsPerEpoch);
        var first = (int)Math.Min(int.MaxValue, (long)group * _options.GradAccum);
        return (epoch, first, (int)Math.Min(_objective.MicroBatchesPerEpoch, (long)first + _options.GradAccum));
    }

    private double RunEvaluation()
    {
        _model.eval();
        try
        {
            using var noGrad = no_grad();
            using var scope = NewDisposeScope();
            return Evaluate!(_model);
        }
        finally
        {
            _model.train();
            NativeMemory.Trim();
        }
    }

    private string SaveCheckpoint(AdamW optimizer, long step, double lr, double? loss, double? evalLoss, long tokens)
    {
        var (epoch, first, _) = step < TotalSteps ? Position(step) : (_options.Epochs, 0, 0);
        var state = new TrainerState
        {
            Step = step, TotalSteps = TotalSteps, Epoch = epoch, NextMicroBatch = first, MicroBatchesPerEpoch = _objective.MicroBatchesPerEpoch,
            GradAccum = _options.GradAccum, Seed = _options.Seed, LearningRate = lr, LastLoss = loss, LastEvalLoss = evalLoss,
            TokensSeen = tokens, Lora = _lora is not null, Precision = _options.Precision.Name(),
        };
        var path = Checkpoints.Save(CheckpointRoot, _model, _lora, optimizer, state, RunConfig, WriteExtras, _options.KeepCheckpoints);
        _progress.WriteLine($"checkpoint {path}");
        return path;
    }

    private void CheckCompatible(TrainerState state, string checkpoint)
    {
        if (state.Seed != _options.Seed || state.GradAccum != _options.GradAccum || state.MicroBatchesPerEpoch != _objective.MicroBatchesPerEpoch)
        {
            throw new AttuneInputException(
                $"the checkpoint was made with seed {state.Seed}, gradient accumulation {state.GradAccum} and {state.MicroBatchesPerEpoch} micro-batches an epoch; " +
                $"this run has {_options.Seed}, {_options.GradAccum} and {_objective.MicroBatchesPerEpoch}: resuming would not continue the same run", checkpoint);
        }

        if (state.Step > TotalSteps)
        {
            throw new AttuneInputException($"the checkpoint is at step {state.Step}, past this run's {TotalSteps} steps", checkpoint);
        }

        Trainer.CheckResumePrecision(state, _options.Precision, checkpoint);
    }
}

/// <summary>The parts of a training step that do not depend on the trainer's state.</summary>
public static class Trainer
{
    /// <summary>Why <see cref="Precision.Bf16Pure"/> does not train full weights (one line, for people).</summary>
    public const string Bf16PureFullMessage =
        "--precision bf16-pure trains only LoRA adapters (add --lora-r) on a frozen bfloat16 base: AdamW steps smaller than bfloat16's spacing (2^-8 of a weight) " +
        "would be rounded away; for full fine-tuning use --precision bf16, which keeps float32 master weights";

    /// <summary>
    /// Sets <paramref name="precision"/> on a model about to be trained, refusing
    /// <see cref="Precision.Bf16Pure"/> when any trainable parameter is not a LoRA adapter's.
    /// </summary>
    public static void ApplyPrecision(CausalLM model, Precision precision)
    {
        ArgumentNullException.ThrowIfNull(model);
        if (precision == Precision.Bf16Pure && model.UniqueNamedParameters().Any(p => p.Parameter.requires_grad && !CausalLM.IsAdapterParameter(p.Name)))
        {
            throw new AttuneInputException(Bf16PureFullMessage);
        }

        model.SetPrecision(precision);
    }

    /// <summary>Refuses to resume a checkpoint made in another precision (a run continues bit for bit only in its own).</summary>
    public static void CheckResumePrecision(TrainerState state, Precision precision, string checkpoint)
    {
        ArgumentNullException.ThrowIfNull(state);
        if (!string.Equals(state.Precision, precision.Name(), StringComparison.Ordinal))
        {
            throw new AttuneInputException(
                $"the checkpoint was trained with --precision {state.Precision}, this run asks for {precision.Name()}: resume with --precision {state.Precision}, " +
                "or start a new run (--out elsewhere) from its weights", checkpoint);
        }
    }

    /// <summary>
    /// Accumulates the gradient of one optimizer step over <paramref name="batches"/>: each
    /// micro-batch's loss sum is divided by the loss tokens of all of them, so the gradients add up
    /// to those of one batch holding every example. Returns the step's mean loss per token.
    /// </summary>
    public static double Backward<TBatch>(CausalLM model, ITrainingObjective<TBatch> objective, IReadOnlyList<TBatch> batches)
    {
        var lossTokens = Math.Max(1, batches.Sum(objective.LossTokens));
        double lossSum = 0;
        foreach (var batch in batches)
        {
            using var micro = NewDisposeScope();
            var sum = objective.LossSum(model, batch);
            (sum / lossTokens).backward();
            lossSum += sum.item<float>();
        }

        return lossSum / lossTokens;
    }
}

using System.Diagnostics;
using System.Globalization;
using System.Text.Json;
using System.Text.Json.Nodes;
using Attune.Alignment.Losses;
using Attune.Alignment.Probe;
using Attune.Core.Errors;
using Attune.Core.IO;
using Attune.Core.Randomness;
using Attune.Core.Reports;
using Attune.Torch.Lora;
using Attune.Torch.Models;
using Attune.Torch.Training;
using TorchSharp;
using TorchSharp.Modules;
using AdamW = Attune.Torch.Training.AdamW;
using static TorchSharp.torch;

namespace Attune.Alignment.Training;

/// <summary>How the trainer turns a batch's gradients into an update.</summary>
public enum UpdateRule
{
    /// <summary>AdamW on the loss gradient (Attune.Torch's implementation; clipping first).</summary>
    AdamW,

    /// <summary>Plain gradient descent on the loss: θ −= η∇L (clipping first, when set).</summary>
    Sgd,

    /// <summary>
    /// Attune's own pairwise-normalised update (not the paper's formula): θ += η(g_w/‖g_w‖ − g_l/‖g_l‖), with g_w, g_l the
    /// gradients of the batch's summed chosen and rejected log-probs. To first order it raises log π(y_w) by
    /// η(‖g_w‖ − cos·‖g_w‖) ≥ 0 and lowers log π(y_l) by η(‖g_l‖ − cos·‖g_l‖) ≥ 0, whatever the entanglement: the
    /// chosen log-prob cannot fall at first order. It ignores the loss (only its direction of preference).
    /// </summary>
    PairNormalized,
}

/// <summary>Settings of a preference-optimisation run.</summary>
public sealed record PreferenceTrainerOptions
{
    public string Loss { get; init; } = MarginLoss.Dpo;

    public LossOptions LossOptions { get; init; } = new();

    public UpdateRule Update { get; init; } = UpdateRule.AdamW;

    /// <summary>Pairs per step (each pair is two sequences).</summary>
    public int BatchSize { get; init; } = 8;

    public int Epochs { get; init; } = 1;

    public int? MaxSteps { get; init; }

    public double LearningRate { get; init; } = 5e-5;

    public int WarmupSteps { get; init; }

    public ScheduleKind Schedule { get; init; } = ScheduleKind.Cosine;

    public double MinLearningRate { get; init; }

    /// <summary>Clip the global gradient norm (AdamW, SGD; 0: off).</summary>
    public double MaxGradNorm { get; init; } = 1.0;

    public AdamWOptions AdamW { get; init; } = new();

    /// <summary>Train a LoRA adapter instead of the full model.</summary>
    public LoraConfig? Lora { get; init; }

    /// <summary>Precompute the reference's log-probs once and keep them on disk (else run the reference every step).</summary>
    public bool CacheReference { get; init; } = true;

    /// <summary>Where the reference cache lives (default: OUT/reference-cache).</summary>
    public string? ReferenceCacheDirectory { get; init; }

    public int SaveEvery { get; init; }

    public int KeepCheckpoints { get; init; } = 2;

    /// <summary>Evaluate every this many steps (0: before training and at the end only).</summary>
    public int EvalEvery { get; init; }

    public int LogEvery { get; init; } = 10;

    /// <summary>Return freed native memory every this many steps (see Attune.Torch's <c>TrainerOptions.TrimEvery</c>).</summary>
    public int TrimEvery { get; init; } = 25;

    /// <summary>Probe a fixed pair every this many steps (0: never): predicted vs observed log-prob changes to <c>probe.jsonl</c>.</summary>
    public int ProbeEvery { get; init; }

    /// <summary>The training pair probed.</summary>
    public int ProbeIndex { get; init; }

    /// <summary>The parameters the probe's gradients cover (see <see cref="ProbeOptions.Parameters"/>); default: what is trained.</summary>
    public string ProbeParameters { get; init; } = "trainable";

    /// <summary>Write <c>metrics.png</c> and <c>logps.png</c> at the end.</summary>
    public bool Plot { get; init; } = true;

    public int Seed { get; init; } = Seeds.Default;

    public bool Resume { get; init; }

    /// <summary>
    /// How the policy and the reference compute (Attune.Torch's <see cref="Torch.Models.Precision"/>; set on both
    /// before the reference log-probs, so that at step 0 the policy's and the reference's are computed alike).
    /// <see cref="Precision.Bf16Pure"/> trains LoRA adapters only. Recorded in checkpoints; resuming in another precision is refused.
    /// </summary>
    public Precision Precision { get; init; } = Precision.Fp32;

    /// <summary>The type of the final weights (null: float32, the trained weights' type); checkpoints keep float32.</summary>
    public Torch.Safetensors.SafetensorsDType? SaveDType { get; init; }
}

/// <summary>
/// What a step optimises when it is not the plain margin loss of the policy (personalised DPO plugs in
/// here): the loss of the batch <paramref name="batch"/> (indices into the training pairs, or into the
/// evaluation pairs when <paramref name="eval"/>), given the reference's log-probs of those pairs [n]
/// (null for reference-free losses).
/// </summary>
public delegate PreferenceObjectiveOutput PreferenceObjective(int[] batch, bool eval, Tensor? referenceChosen, Tensor? referenceRejected);

/// <summary>A batch's loss (a scalar, differentiable) and the per-pair outputs and log-probs the metrics read.</summary>
public sealed record PreferenceObjectiveOutput(Tensor Loss, LossOutput Pairs, PreferenceLogProbs X);

/// <summary>One step's measurements, as written to <c>metrics.jsonl</c> (means over the batch).</summary>
public sealed record PreferenceStep(
    long Step, int Epoch, double Loss, double Margin, double ChosenLogp, double RejectedLogp, double ChosenReward, double RejectedReward,
    double Accuracy, double LearningRate, double GradNorm, double Seconds, PreferenceEval? Eval);

/// <summary>Loss, margin, accuracy and mean log-probs on the evaluation pairs.</summary>
public sealed record PreferenceEval(double Loss, double Margin, double Accuracy, double ChosenLogp, double RejectedLogp);

/// <summary>One probe during training: the prediction before step <c>Step</c> and what the step did.</summary>
public sealed record ProbeRecord(long Step, double Cosine, double Inner, double ChosenNorm, double RejectedNorm, string PredictedCase,
    double PredictedChosenChange, double PredictedRejectedChange, double ObservedChosenChange, double ObservedRejectedChange)
{
    /// <summary>Whether the predicted signs of both changes were the observed ones.</summary>
    public bool Agrees => Math.Sign(PredictedChosenChange) == Math.Sign(ObservedChosenChange) && Math.Sign(PredictedRejectedChange) == Math.Sign(ObservedRejectedChange);
}

/// <summary>The outcome of a preference run.</summary>
public sealed record PreferenceTrainResult(
    long Steps, long TotalSteps, bool Cancelled, long ResumedFrom, PreferenceStep? Last, PreferenceEval? InitialEval, PreferenceEval? FinalEval,
    IReadOnlyList<PreferenceStep> History, IReadOnlyList<ProbeRecord> Probes, string? Checkpoint, string? Output, bool ReferenceFromCache, double ReferenceSeconds, double Seconds);

/// <summary>
/// Preference optimisation with any <see cref="MarginLoss"/>: a loop you can read. Each step: seed (seed, step);
/// the step's batch of pairs (length-bucketed: shuffled with (seed, epoch), sorted stably by length, cut, batch
/// order shuffled); one forward over its 2N sequences; the reference's log-probs from the cache (or a no-grad
/// forward); the loss; the update (<see cref="UpdateRule"/>); metrics to <c>metrics.jsonl</c>. The step runs in a
/// dispose scope followed by <c>malloc_trim</c>. Checkpoints (atomic) and resume as Attune.Torch's trainer.
/// </summary>
public sealed class PreferenceTrainer
{
    private readonly CausalLM _policy;
    private readonly CausalLM? _reference;
    private readonly IReadOnlyList<PreferenceTokens> _train;
    private readonly IReadOnlyList<PreferenceTokens>? _eval;
    private readonly PreferenceTrainerOptions _o;
    private readonly string _output;
    private readonly TextWriter _progress;
    private readonly int _padId;
    private readonly string _loss;
    private double[]? _refChosen, _refRejected, _evalRefChosen, _evalRefRejected;
    private int _cachedEpoch = -1;
    private int[][] _cachedBatches = [];

    /// <param name="reference">The frozen reference (needed by reference-based losses; may be null when their log-probs are cached and the cache is warm — it is still needed to compute the key, so pass it).</param>
    public PreferenceTrainer(CausalLM policy, CausalLM? reference, IReadOnlyList<PreferenceTokens> train, IReadOnlyList<PreferenceTokens>? eval,
        PreferenceTrainerOptions options, string output, int padId = 0, TextWriter? progress = null)
    {
        _policy = policy ?? throw new ArgumentNullException(nameof(policy));
        _train = train ?? throw new ArgumentNullException(nameof(train));
        _o = options ?? throw new ArgumentNullException(nameof(options));
        _reference = reference;
        _eval = eval is { Count: > 0 } ? eval : null;
        _output = output;
        _padId = padId;
        _progress = progress ?? TextWriter.Null;
        _loss = MarginLoss.Check(options.Loss);
        if (train.Count == 0)
        {
            throw new AttuneInputException("no training pairs");
        }

        if (options.BatchSize < 1 || options.Epochs < 1 || options.LearningRate <= 0 || options.MaxSteps is < 1 || options.ProbeEvery < 0 || options.SaveEvery < 0)
        {
            throw new AttuneInputException("batch size, epochs, learning rate and max steps must be positive; probe and save intervals not negative");
        }

        if (options.ProbeEvery > 0 && (options.ProbeIndex < 0 || options.ProbeIndex >= train.Count))
        {
            throw new AttuneInputException($"probe index {options.ProbeIndex} is outside the {train.Count} training pairs", null, null, "--probe-index");
        }

    }

    /// <summary>Called after every step.</summary>
    public IList<Action<PreferenceStep>> Hooks { get; } = [];

    public JsonObject? RunConfig { get; init; }

    /// <summary>Writes extra files into each checkpoint and the final folder (e.g. a user model).</summary>
    public Action<string>? WriteExtras { get; init; }

    /// <summary>Reads what <see cref="WriteExtras"/> wrote back from a checkpoint when resuming.</summary>
    public Action<string>? RestoreExtras { get; init; }

    /// <summary>The batch loss, when it is not the margin loss of the policy alone (see <see cref="PreferenceObjective"/>).</summary>
    public PreferenceObjective? Objective { get; init; }

    /// <summary>Whether <see cref="Objective"/> reads the reference's log-probs (a reward model's does not).</summary>
    public bool ObjectiveNeedsReference { get; init; } = true;

    private bool NeedsReference => Objective is null ? MarginLoss.NeedsReference(_loss) : ObjectiveNeedsReference && MarginLoss.NeedsReference(_loss);

    /// <summary>Parameters trained beside the policy's (e.g. a user model), by unique names.</summary>
    public IReadOnlyList<(string Name, Parameter Parameter)> ExtraParameters { get; init; } = [];

    public int StepsPerEpoch => (_train.Count + _o.BatchSize - 1) / _o.BatchSize;

    public long TotalSteps => Math.Min((long)StepsPerEpoch * _o.Epochs, _o.MaxSteps ?? long.MaxValue);

    /// <summary>The batches (indices into the training pairs) of an epoch, length-bucketed.</summary>
    public int[][] Batches(int epoch)
    {
        if (epoch != _cachedEpoch)
        {
            var rng = Seeds.Create(_o.Seed, epoch);
            var order = Enumerable.Range(0, _train.Count).ToArray();
            rng.Shuffle(order);
            var batches = order.OrderBy(i => _train[i].Length).Chunk(_o.BatchSize).ToArray();   // stable sort: ties keep the shuffle
            rng.Shuffle(batches);
            (_cachedEpoch, _cachedBatches) = (epoch, batches);
        }

        return _cachedBatches;
    }

    public PreferenceTrainResult Run(CancellationToken cancellationToken = default)
    {
        if (NeedsReference && _reference is null)
        {
            throw new AttuneInputException(Objective is null ? $"the {_loss} loss needs a reference model" : "this objective needs a reference model");
        }

        var clock = Stopwatch.StartNew();
        Directory.CreateDirectory(_output);
        var checkpointRoot = Path.Combine(_output, "checkpoints");
        Checkpoints.RemoveLeftovers(checkpointRoot);
        if (_o.Precision == Precision.Bf16Pure && _o.Lora is null)
        {
            throw new AttuneInputException(Trainer.Bf16PureFullMessage);
        }

        _policy.SetPrecision(_o.Precision);   // before the adapters: they stay float32 in every precision
        _reference?.SetPrecision(_o.Precision);
        if (_o.Lora is not null && !_policy.named_parameters().Any(p => CausalLM.IsAdapterParameter(p.name)))
        {
            LoraAdapter.Attach(_policy, _o.Lora, _o.Seed);
            LoraAdapter.FreezeBase(_policy);
        }

        Trainer.ApplyPrecision(_policy, _o.Precision);   // refuses bf16-pure with trainable base weights

        // Each tensor once: TorchSharp lists a tied output head under both names, and updating both would step it twice.
        var trainable = _policy.UniqueNamedParameters().Where(p => p.Parameter.requires_grad).Concat(ExtraParameters).ToList();
        if (trainable.Count == 0)
        {
            throw new InvalidOperationException("the policy has no trainable parameters");
        }

        // The reference: precomputed once (cached on disk) or run every step.
        var referenceFromCache = false;
        double referenceSeconds = 0;
        if (NeedsReference && _o.CacheReference)
        {
            var dir = _o.ReferenceCacheDirectory ?? Path.Combine(_output, "reference-cache");
            var train = ReferenceCache.Load(_reference!, _train, _o.BatchSize, _padId, dir);
            (_refChosen, _refRejected, referenceFromCache, referenceSeconds) = (train.Chosen, train.Rejected, train.FromCache, train.Seconds);
            _progress.WriteLine(string.Create(CultureInfo.InvariantCulture,
                $"reference log-probs of {_train.Count} pairs {(train.FromCache ? "read from the cache" : "computed and cached")} in {train.Seconds:F2} s (key {train.Key[..16]})"));
            if (_eval is not null)
            {
                var eval = ReferenceCache.Load(_reference!, _eval, _o.BatchSize, _padId, dir);
                (_evalRefChosen, _evalRefRejected) = (eval.Chosen, eval.Rejected);
            }
        }

        using var optimizer = new AdamW(AdamW.DecayGroups(trainable, _o.AdamW.WeightDecay), _o.AdamW);
        var schedule = new LearningRateSchedule(_o.Schedule, _o.LearningRate, _o.WarmupSteps, (int)Math.Min(int.MaxValue, TotalSteps), _o.MinLearningRate);
        var metricsPath = Path.Combine(_output, "metrics.jsonl");
        var probePath = Path.Combine(_output, "probe.jsonl");
        long start = 0;
        var latest = _o.Resume ? Checkpoints.Latest(checkpointRoot) : null;
        var history = new List<PreferenceStep>();
        var probes = new List<ProbeRecord>();
        if (latest is not null)
        {
            var state = Checkpoints.Restore(latest, _policy, _o.Lora is not null, optimizer);
            Trainer.CheckResumePrecision(state, _o.Precision, latest);
            if (state.Seed != _o.Seed || state.MicroBatchesPerEpoch != StepsPerEpoch || state.Step > TotalSteps)
            {
                throw new AttuneInputException($"the checkpoint was made with seed {state.Seed} and {state.MicroBatchesPerEpoch} batches an epoch (step {state.Step}); " +
                    $"this run has seed {_o.Seed}, {StepsPerEpoch} batches an epoch and {TotalSteps} steps: resuming would not continue the same run", latest);
            }

            RestoreExtras?.Invoke(latest);
            start = state.Step;
            Checkpoints.TruncateStepLog(metricsPath, start);
            Checkpoints.TruncateStepLog(probePath, start);
            _progress.WriteLine($"resuming from {latest} (step {start} of {TotalSteps})");
        }
        else
        {
            File.Delete(metricsPath);
            File.Delete(probePath);
        }

        AtomicFile.WriteAllText(Path.Combine(_output, Checkpoints.RunConfigFile), (RunConfig ?? []).ToJsonString(new JsonSerializerOptions { WriteIndented = true }) + "\n");
        PreferenceEval? initialEval = null, finalEval = null;
        if (_eval is not null && start == 0)
        {
            initialEval = Evaluate();
            _progress.WriteLine(string.Create(CultureInfo.InvariantCulture, $"eval before training: loss {initialEval.Loss:F4} accuracy {initialEval.Accuracy:F3} margin {initialEval.Margin:F4}"));
        }

        using var metrics = new StreamWriter(metricsPath, append: true);
        var step = start;
        string? checkpoint = latest;
        var savedStep = latest is null ? -1 : start;
        var cancelled = false;
        PreferenceStep? last = null;
        double lr = 0;
        NativeMemory.ConfigureForTraining();
        _policy.train();
        while (step < TotalSteps)
        {
            if (cancellationToken.IsCancellationRequested)
            {
                cancelled = true;
                break;
            }

            var stepClock = Stopwatch.StartNew();
            var epoch = (int)(step / StepsPerEpoch);
            var batch = Batches(epoch)[(int)(step % StepsPerEpoch)];
            lr = schedule.At(step);
            var probe = _o.ProbeEvery > 0 && step % _o.ProbeEvery == 0 ? ProbeBefore() : null;
            double loss, margin, cw, cl, rw, rl, accuracy, gradNorm;
            using (var scope = NewDisposeScope())
            {
                torch.manual_seed(Seeds.Derive(_o.Seed, step));
                var (x, output, lossTensor) = Objectives(batch, eval: false, _refChosen, _refRejected, _train);
                using var __ = output;
                gradNorm = Update(lossTensor, x, trainable, optimizer, lr);
                loss = lossTensor.item<float>();
                margin = output.Margin.mean().item<float>();
                accuracy = output.Margin.gt(0).to_type(ScalarType.Float32).mean().item<float>();
                cw = x.PolicyChosen.mean().item<float>();
                cl = x.PolicyRejected.mean().item<float>();
                rw = output.ChosenReward.mean().item<float>();
                rl = output.RejectedReward.mean().item<float>();
            }

            step++;
            if (_o.TrimEvery > 0 && step % _o.TrimEvery == 0)
            {
                NativeMemory.Trim();
            }

            if (probe is not null)
            {
                var record = ProbeAfter(step, probe.Value.Result, probe.Value.Before, lr);
                probes.Add(record);
                File.AppendAllText(probePath, JsonSerializer.Serialize(new
                {
                    step = record.Step, cosine = record.Cosine, inner = record.Inner, chosen_norm = record.ChosenNorm, rejected_norm = record.RejectedNorm,
                    predicted_case = record.PredictedCase, predicted_chosen_change = record.PredictedChosenChange, predicted_rejected_change = record.PredictedRejectedChange,
                    observed_chosen_change = record.ObservedChosenChange, observed_rejected_change = record.ObservedRejectedChange, agrees = record.Agrees,
                }) + "\n");
            }

            PreferenceEval? eval = null;
            if (_eval is not null && (step == TotalSteps || (_o.EvalEvery > 0 && step % _o.EvalEvery == 0)))
            {
                eval = Evaluate();
                finalEval = eval;
            }

            last = new PreferenceStep(step, epoch, loss, margin, cw, cl, rw, rl, accuracy, lr, gradNorm, stepClock.Elapsed.TotalSeconds, eval);
            history.Add(last);
            metrics.WriteLine(JsonSerializer.Serialize(new
            {
                step, epoch, loss, margin, chosen_logp = cw, rejected_logp = cl, chosen_reward = rw, rejected_reward = rl, reward_margin = rw - rl,
                accuracy, lr, grad_norm = gradNorm, pairs = batch.Length, seconds = last.Seconds, elapsed_s = clock.Elapsed.TotalSeconds,
                eval_loss = eval?.Loss, eval_accuracy = eval?.Accuracy, eval_margin = eval?.Margin, eval_chosen_logp = eval?.ChosenLogp, eval_rejected_logp = eval?.RejectedLogp,
            }));
            metrics.Flush();
            foreach (var hook in Hooks)
            {
                hook(last);
            }

            if (step == 1 || step == TotalSteps || (_o.LogEvery > 0 && step % _o.LogEvery == 0) || eval is not null)
            {
                _progress.WriteLine(string.Create(CultureInfo.InvariantCulture,
                    $"step {step}/{TotalSteps} loss {loss:F4} margin {margin:F4} chosen {cw:F3} rejected {cl:F3} acc {accuracy:F2} lr {lr:0.###e+0}{(eval is null ? "" : $" eval-acc {eval.Accuracy:F3} eval-loss {eval.Loss:F4}")}"));
            }

            if (_o.SaveEvery > 0 && step % _o.SaveEvery == 0 && step < TotalSteps)
            {
                checkpoint = Save(checkpointRoot, optimizer, step, lr, loss, epoch);
                savedStep = step;
            }
        }

        if (savedStep != step)
        {
            checkpoint = Save(checkpointRoot, optimizer, step, lr, last?.Loss, (int)Math.Min(_o.Epochs, step / StepsPerEpoch));
        }

        string? final = null;
        if (!cancelled)
        {
            final = Checkpoints.WriteFinal(_output, _policy, _o.Lora, WriteExtras, _o.SaveDType ?? Torch.Safetensors.SafetensorsDType.F32);
            if (_o.Plot)
            {
                PlotMetrics(metricsPath);
            }
        }

        _progress.WriteLine(cancelled ? $"stopped at step {step}/{TotalSteps}; checkpoint {checkpoint}; resume with --resume" : $"done: {step} steps; weights in {final}");
        return new PreferenceTrainResult(step, TotalSteps, cancelled, start, last, initialEval, finalEval, history, probes, checkpoint, final, referenceFromCache, referenceSeconds, clock.Elapsed.TotalSeconds);
    }

    /// <summary>The batch's log-probs, per-pair outputs and loss: the margin loss of the policy, or <see cref="Objective"/>.</summary>
    private (PreferenceLogProbs X, LossOutput Output, Tensor Loss) Objectives(int[] batch, bool eval, double[]? refChosen, double[]? refRejected, IReadOnlyList<PreferenceTokens> data)
    {
        if (Objective is null)
        {
            var (x, _) = Forward(batch, refChosen, refRejected, data);
            var output = MarginLoss.Compute(_loss, x, _o.LossOptions);
            return (x, output, output.Loss.mean());
        }

        Tensor? rw = null, rl = null;
        if (NeedsReference)
        {
            if (refChosen is not null && refRejected is not null)
            {
                rw = tensor(batch.Select(i => (float)refChosen[i]).ToArray(), device: _policy.Device);
                rl = tensor(batch.Select(i => (float)refRejected[i]).ToArray(), device: _policy.Device);
            }
            else
            {
                using var noGrad = no_grad();
                using var chosen = LogProbs.Response(_reference!, [.. batch.Select(i => new SequencePair(data[i].Prompt, data[i].Chosen))], _padId);
                using var rejected = LogProbs.Response(_reference!, [.. batch.Select(i => new SequencePair(data[i].Prompt, data[i].Rejected))], _padId);
                (rw, rl) = (chosen.Sum.detach(), rejected.Sum.detach());
            }
        }

        var result = Objective(batch, eval, rw, rl);
        return (result.X, result.Pairs, result.Loss);
    }

    /// <summary>Policy log-probs of the batch (one forward over chosen and rejected sequences) and the reference's (cached or computed).</summary>
    private (PreferenceLogProbs X, ResponseLogProbs Policy) Forward(int[] batch, double[]? refChosen, double[]? refRejected, IReadOnlyList<PreferenceTokens> data)
    {
        var sequences = batch.Select(i => new SequencePair(data[i].Prompt, data[i].Chosen)).Concat(batch.Select(i => new SequencePair(data[i].Prompt, data[i].Rejected))).ToList();
        var policy = LogProbs.Response(_policy, sequences, _padId);
        var n = batch.Length;
        var pw = policy.Sum[..n];
        var pl = policy.Sum[n..];
        Tensor? rw = null, rl = null;
        if (NeedsReference)
        {
            if (refChosen is not null && refRejected is not null)
            {
                rw = tensor(batch.Select(i => (float)refChosen[i]).ToArray(), device: pw.device);
                rl = tensor(batch.Select(i => (float)refRejected[i]).ToArray(), device: pw.device);
            }
            else
            {
                using var noGrad = no_grad();
                var reference = LogProbs.Response(_reference!, sequences, _padId);
                rw = reference.Sum[..n];
                rl = reference.Sum[n..];
            }
        }

        var lw = tensor(batch.Select(i => (float)data[i].Chosen.Length).ToArray(), device: pw.device);
        var ll = tensor(batch.Select(i => (float)data[i].Rejected.Length).ToArray(), device: pw.device);
        return (new PreferenceLogProbs(pw, pl, rw, rl, lw, ll), policy);
    }

    /// <summary>Applies the step's update; returns the gradient norm (of the loss, or of g_w − g_l direction for the pair-normalised rule).</summary>
    private double Update(Tensor loss, PreferenceLogProbs x, List<(string Name, Parameter Parameter)> trainable, AdamW optimizer, double lr)
    {
        var parameters = trainable.Select(p => p.Parameter).ToList();
        switch (_o.Update)
        {
            case UpdateRule.AdamW:
            {
                loss.backward();
                var norm = Gradients.ClipGlobalNorm(parameters, _o.MaxGradNorm);
                optimizer.Step(lr);
                optimizer.ZeroGrad();
                return norm;
            }

            case UpdateRule.Sgd:
            {
                loss.backward();
                var norm = Gradients.ClipGlobalNorm(parameters, _o.MaxGradNorm);
                using (no_grad())
                {
                    foreach (var p in parameters.Where(p => p.grad is not null))
                    {
                        p.sub_(p.grad! * lr);
                    }
                }

                optimizer.ZeroGrad();
                return norm;
            }

            default:
            {
                var inputs = parameters.Cast<Tensor>().ToList();
                var gw = torch.autograd.grad([x.PolicyChosen.sum()], inputs, retain_graph: true, allow_unused: true);
                var gl = torch.autograd.grad([x.PolicyRejected.sum()], inputs, allow_unused: true);
                double Norm(IList<Tensor> g) => Math.Sqrt(g.Where(t => t is not null && !t.IsInvalid).Sum(t => t.square().sum().item<float>()));
                double nw = Math.Max(Norm(gw), 1e-12), nl = Math.Max(Norm(gl), 1e-12);
                double inner = 0;
                for (var i = 0; i < parameters.Count; i++)
                {
                    if (gw[i] is { IsInvalid: false } a && gl[i] is { IsInvalid: false } b)
                    {
                        inner += a.mul(b).sum().item<float>();
                    }
                }

                using (no_grad())
                {
                    for (var i = 0; i < parameters.Count; i++)
                    {
                        if (gw[i] is { IsInvalid: false } a)
                        {
                            parameters[i].add_(a * (lr / nw));
                        }

                        if (gl[i] is { IsInvalid: false } b)
                        {
                            parameters[i].sub_(b * (lr / nl));
                        }
                    }
                }

                return Math.Sqrt(Math.Max(0, 2 - (2 * inner / (nw * nl))));   // ‖g_w/‖g_w‖ − g_l/‖g_l‖‖
            }
        }
    }

    /// <summary>Loss, margin, accuracy and mean log-probs on the evaluation pairs (no gradients).</summary>
    public PreferenceEval Evaluate()
    {
        var data = _eval ?? throw new InvalidOperationException("no evaluation data");
        var wasTraining = _policy.training;
        _policy.eval();
        try
        {
            using var noGrad = no_grad();
            double loss = 0, margin = 0, correct = 0, cw = 0, cl = 0;
            foreach (var chunk in Enumerable.Range(0, data.Count).OrderBy(i => data[i].Length).Chunk(_o.BatchSize))
            {
                using var scope = NewDisposeScope();
                var (x, output, _) = Objectives(chunk, eval: true, _evalRefChosen, _evalRefRejected, data);
                using var __ = output;
                loss += output.Loss.sum().item<float>();
                margin += output.Margin.sum().item<float>();
                correct += output.Margin.gt(0).sum().item<long>();
                cw += x.PolicyChosen.sum().item<float>();
                cl += x.PolicyRejected.sum().item<float>();
            }

            var n = (double)data.Count;
            return new PreferenceEval(loss / n, margin / n, correct / n, cw / n, cl / n);
        }
        finally
        {
            _policy.train(wasTraining);
            NativeMemory.Trim();
        }
    }

    private (ProbeResult Result, (double Chosen, double Rejected) Before)? ProbeBefore()
    {
        var pair = _train[_o.ProbeIndex];
        double? rw = _refChosen?[_o.ProbeIndex], rl = _refRejected?[_o.ProbeIndex];
        if (NeedsReference && rw is null)
        {
            (rw, rl) = EntanglementProbe.ReferenceLogProbs(_reference!, pair, _padId);
        }

        var result = EntanglementProbe.Run(_policy, pair, rw, rl, new ProbeOptions { Loss = _loss, LossOptions = _o.LossOptions, Parameters = _o.ProbeParameters }, _padId);
        NativeMemory.Trim();
        return (result, (result.PolicyChosenLogp, result.PolicyRejectedLogp));
    }

    private ProbeRecord ProbeAfter(long step, ProbeResult probe, (double Chosen, double Rejected) before, double lr)
    {
        var after = EntanglementProbe.ReferenceLogProbs(_policy, _train[_o.ProbeIndex], _padId);   // the policy's log-probs now (no gradients)
        return new ProbeRecord(step, probe.GradCosine, probe.GradInner, probe.GradChosenNorm, probe.GradRejectedNorm, probe.Case,
            lr * probe.PredictedChosenChange, lr * probe.PredictedRejectedChange, after.Chosen - before.Chosen, after.Rejected - before.Rejected);
    }

    private string Save(string root, AdamW optimizer, long step, double lr, double? loss, int epoch)
    {
        var state = new TrainerState
        {
            Step = step, TotalSteps = TotalSteps, Epoch = epoch, NextMicroBatch = (int)(step % StepsPerEpoch), MicroBatchesPerEpoch = StepsPerEpoch,
            GradAccum = 1, Seed = _o.Seed, LearningRate = lr, LastLoss = loss, Lora = _o.Lora is not null, Precision = _o.Precision.Name(),
        };
        var path = Checkpoints.Save(root, _policy, _o.Lora, optimizer, state, RunConfig, WriteExtras, _o.KeepCheckpoints);
        _progress.WriteLine($"checkpoint {path}");
        return path;
    }

    /// <summary>metrics.png (loss, margin, accuracy) and logps.png (chosen and rejected log-probs) from metrics.jsonl.</summary>
    private void PlotMetrics(string metricsPath)
    {
        var rows = File.ReadLines(metricsPath).Select(l => JsonDocument.Parse(l).RootElement).ToList();
        if (rows.Count == 0)
        {
            return;
        }

        List<double> Col(string name) => [.. rows.Select(r => r.GetProperty(name).GetDouble())];
        var steps = Col("step");
        try
        {
            AtomicFile.Write(Path.Combine(_output, "metrics.png"), s => s.Write(Plotting.Line($"{_loss}: loss, margin and accuracy", "step", "value",
                [new Series("loss", steps, Col("loss")), new Series("margin", steps, Col("margin")), new Series("accuracy", steps, Col("accuracy"))])));
            AtomicFile.Write(Path.Combine(_output, "logps.png"), s => s.Write(Plotting.Line($"{_loss}: mean sequence log-probs of the batch", "step", "log pi(y|x)",
                [new Series("chosen", steps, Col("chosen_logp")), new Series("rejected", steps, Col("rejected_logp"))])));
        }
        catch (Exception e) when (e is not OutOfMemoryException)
        {
            _progress.WriteLine($"plots not written: {e.Message}");
        }
    }
}

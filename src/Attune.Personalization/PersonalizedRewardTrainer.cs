using System.Text.Json.Nodes;
using Attune.Alignment.Losses;
using Attune.Alignment.Training;
using Attune.Core.Errors;
using static TorchSharp.torch;

namespace Attune.Personalization;

/// <summary>
/// P-RM training: Attune.Alignment's <see cref="PreferenceTrainer"/> over the reward model's body, with
/// the batch loss replaced by the mixed Bradley–Terry loss of <see cref="PersonalizedRewardModel"/>,
/// no reference model, and the user model and scalar head trained beside the body. Each checkpoint
/// and the final folder get the body's weights, <c>reward_head.safetensors</c> and the user model.
/// In <c>metrics.jsonl</c>, <c>chosen_logp</c>/<c>rejected_logp</c> hold the mean rewards of the
/// chosen and rejected responses, <c>margin</c> their difference and <c>accuracy</c> the share of
/// pairs ranked right, each pair read as its user.
/// </summary>
public sealed class PersonalizedRewardTrainer
{
    private readonly PreferenceTrainer _trainer;

    public PersonalizedRewardTrainer(PersonalizedRewardModel model, UserModel users, IReadOnlyList<PersonalPair> train, IReadOnlyList<PersonalPair>? eval,
        PreferenceTrainerOptions options, double alpha, int softTokensAt, string output, int padId = 0, TextWriter? progress = null, JsonObject? runConfig = null,
        Action<string>? writeExtras = null)
    {
        ArgumentNullException.ThrowIfNull(model);
        ArgumentNullException.ThrowIfNull(users);
        ArgumentNullException.ThrowIfNull(train);
        ArgumentNullException.ThrowIfNull(options);
        if (double.IsNaN(alpha) || alpha is < 0 or > 1)
        {
            throw new AttuneInputException($"--alpha must be between 0 and 1 (got {alpha})");
        }

        if (options.Update == UpdateRule.PairNormalized)
        {
            throw new AttuneInputException("the pair-normalised update is not defined for reward models; use adamw or sgd", null, null, "--update");
        }

        var evalPairs = eval ?? [];
        _trainer = new PreferenceTrainer(model.Body, null, [.. train.Select(p => p.Tokens)], evalPairs.Count == 0 ? null : [.. evalPairs.Select(p => p.Tokens)],
            options with { CacheReference = false, ProbeEvery = 0 }, output, padId, progress)
        {
            RunConfig = runConfig,
            ObjectiveNeedsReference = false,
            ExtraParameters = [.. users.named_parameters().Select(p => ("user_model." + p.name, p.parameter)), .. model.HeadParameters],
            Objective = (batch, isEval, _, _) =>
            {
                var data = isEval ? evalPairs : train;
                var o = model.Loss(users, [.. batch.Select(i => data[i])], alpha, softTokensAt);
                var lengthsW = tensor(batch.Select(i => (float)data[i].Tokens.Chosen.Length).ToArray(), device: model.Body.Device);
                var lengthsL = tensor(batch.Select(i => (float)data[i].Tokens.Rejected.Length).ToArray(), device: model.Body.Device);
                var pairs = new LossOutput(o.PairLosses, o.Chosen - o.Rejected, o.Chosen.alias(), o.Rejected.alias());
                return new PreferenceObjectiveOutput(o.Loss, pairs, new PreferenceLogProbs(o.Chosen, o.Rejected, null, null, lengthsW, lengthsL));
            },
            WriteExtras = dir =>
            {
                model.SaveHead(dir);
                UserModelFiles.Save(dir, users, softTokensAt);
                writeExtras?.Invoke(dir);
            },
            RestoreExtras = checkpoint =>
            {
                var folder = new[] { "model", "adapter" }.Select(f => Path.Combine(checkpoint, f)).FirstOrDefault(UserModelFiles.Exists)
                    ?? throw new AttuneInputException("the checkpoint holds no user model", checkpoint);
                model.LoadHead(folder);
                using var saved = UserModelFiles.Load(folder, users.Device);
                using var _ = no_grad();
                var target = users.Tensors();
                foreach (var (name, t) in saved.Tensors())
                {
                    target[name].copy_(t);
                }
            },
        };
    }

    public PreferenceTrainer Trainer => _trainer;

    public PreferenceTrainResult Run(CancellationToken cancellationToken = default) => _trainer.Run(cancellationToken);
}

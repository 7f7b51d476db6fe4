using System.Text.Json.Nodes;
using Attune.Alignment.Training;
using Attune.Core.Errors;
using Attune.Torch.Models;
using static TorchSharp.torch;

namespace Attune.Personalization;

/// <summary>
/// P-DPO training: Attune.Alignment's <see cref="PreferenceTrainer"/> (its loop, AdamW, LoRA, cached
/// reference, checkpoints, resume, metrics and plots) with the batch loss replaced by
/// <see cref="PersonalizedDpo"/> and the user model trained beside the policy. The user model is
/// written next to the weights of every checkpoint and of the final model
/// (<see cref="UserModelFiles"/>), and read back on resume.
/// </summary>
public sealed class PersonalizedTrainer
{
    private readonly PreferenceTrainer _trainer;

    public PersonalizedTrainer(CausalLM policy, CausalLM? reference, UserModel users, IReadOnlyList<PersonalPair> train, IReadOnlyList<PersonalPair>? eval,
        PreferenceTrainerOptions options, PersonalizedDpoOptions personal, string output, int padId = 0, TextWriter? progress = null, JsonObject? runConfig = null,
        Action<string>? writeExtras = null)
    {
        ArgumentNullException.ThrowIfNull(policy);
        ArgumentNullException.ThrowIfNull(users);
        ArgumentNullException.ThrowIfNull(train);
        ArgumentNullException.ThrowIfNull(options);
        ArgumentNullException.ThrowIfNull(personal);
        personal = personal with { Loss = options.Loss, LossOptions = options.LossOptions };
        personal.Validate();
        if (options.Update == UpdateRule.PairNormalized)
        {
            throw new AttuneInputException("the pair-normalised update is not defined for personalised DPO; use adamw or sgd", null, null, "--update");
        }

        Users = users;
        var evalPairs = eval ?? [];
        _trainer = new PreferenceTrainer(policy, reference, [.. train.Select(p => p.Tokens)], evalPairs.Count == 0 ? null : [.. evalPairs.Select(p => p.Tokens)],
            options, output, padId, progress)
        {
            RunConfig = runConfig,
            ExtraParameters = [.. users.named_parameters().Select(p => ("user_model." + p.name, p.parameter))],
            Objective = (batch, isEval, rw, rl) =>
            {
                var data = isEval ? evalPairs : train;
                var output = PersonalizedDpo.Compute(policy, users, [.. batch.Select(i => data[i])], rw, rl, personal);
                return new PreferenceObjectiveOutput(output.Loss, output.Readings, output.ReadingLogProbs);
            },
            WriteExtras = dir =>
            {
                UserModelFiles.Save(dir, users, personal.SoftTokensAt);
                writeExtras?.Invoke(dir);
            },
            RestoreExtras = checkpoint => Restore(checkpoint, users),
        };
    }

    public UserModel Users { get; }

    /// <summary>The underlying trainer (steps, hooks, evaluation).</summary>
    public PreferenceTrainer Trainer => _trainer;

    public PreferenceTrainResult Run(CancellationToken cancellationToken = default) => _trainer.Run(cancellationToken);

    /// <summary>Copies the user model saved in a checkpoint (its model or adapter folder) onto <paramref name="users"/>.</summary>
    private static void Restore(string checkpoint, UserModel users)
    {
        var folder = new[] { "model", "adapter" }.Select(f => Path.Combine(checkpoint, f)).FirstOrDefault(UserModelFiles.Exists)
            ?? throw new AttuneInputException("the checkpoint holds no user model", checkpoint);
        using var saved = UserModelFiles.Load(folder, users.Device);
        if (!saved.Users.SequenceEqual(users.Users) || saved.Options != users.Options)
        {
            throw new AttuneInputException("the checkpoint's user model has other users or settings than this run's", folder);
        }

        using var _ = no_grad();
        var target = users.Tensors();
        foreach (var (name, tensor) in saved.Tensors())
        {
            target[name].copy_(tensor);
        }
    }
}

using Attune.Alignment.Losses;
using Attune.Alignment.Training;
using Attune.Core.Errors;
using Attune.Torch.Models;
using static TorchSharp.torch;

namespace Attune.Personalization;

/// <summary>A preference pair with the user who gave it (null or empty: no user known).</summary>
public sealed record PersonalPair(PreferenceTokens Tokens, string? User);

/// <summary>The settings of personalised DPO.</summary>
public sealed record PersonalizedDpoOptions
{
    /// <summary>The per-pair loss, any of Attune.Alignment's zoo (default <c>dpo</c>).</summary>
    public string Loss { get; init; } = MarginLoss.Dpo;

    /// <summary>The per-pair loss's settings (β = 0.1 by default).</summary>
    public LossOptions LossOptions { get; init; } = new();

    /// <summary>α: the weight of the personalised terms; 1 − α weighs the generic ones (paper and default: 0.5).</summary>
    public double Alpha { get; init; } = 0.5;

    /// <summary>How many leading prompt tokens come before the soft tokens: 1 after a BOS, else 0.</summary>
    public int SoftTokensAt { get; init; } = 1;

    public PersonalizedDpoOptions Validate()
    {
        if (double.IsNaN(Alpha) || Alpha is < 0 or > 1)
        {
            throw new AttuneInputException($"--alpha must be between 0 and 1 (got {Alpha})");
        }

        MarginLoss.Check(Loss);
        return this;
    }
}

/// <summary>One batch's P-DPO loss and its parts (per-pair tensors are [N] or [N_known]).</summary>
/// <param name="Loss">α · mean(personalised) + (1 − α) · mean(generic); the generic mean alone when no pair has a known user.</param>
/// <param name="Personal">The per-pair outputs with each known user's soft tokens (pairs of known users only; null when there are none or the model has no user tokens).</param>
/// <param name="Generic">The per-pair outputs with the generic user, for every pair.</param>
/// <param name="KnownRows">The batch positions of <paramref name="Personal"/>'s rows.</param>
/// <param name="Readings">Per pair, its user's reading: the personalised outputs for known users, the generic ones for the others [N].</param>
/// <param name="ReadingLogProbs">The policy's log-probs of those readings, with the reference's (for metrics).</param>
public sealed record PersonalizedDpoOutput(Tensor Loss, LossOutput? Personal, LossOutput Generic, IReadOnlyList<int> KnownRows, LossOutput Readings, PreferenceLogProbs ReadingLogProbs) : IDisposable
{
    public void Dispose()
    {
        Loss.Dispose();
        Personal?.Dispose();
        Generic.Dispose();
        Readings.Dispose();
    }
}

/// <summary>
/// Personalised DPO (P-DPO, Li et al. 2024, Section 4.2): the policy reads each pair conditioned on
/// its user's soft tokens; every known user's pair is also read with the generic user, so that the
/// generic representation learns the population; the frozen reference never gets user tokens.
/// L = α · mean over the personalised terms + (1 − α) · mean over the generic terms, with any margin
/// loss of <see cref="MarginLoss"/> as the per-pair term. Pairs whose user is unknown to the user
/// model (for example workers outside <c>--top-workers</c>) contribute a generic term only.
/// </summary>
public static class PersonalizedDpo
{
    /// <summary>The reference's response log-probs (chosen, rejected), without user tokens and without gradients.</summary>
    public static (Tensor Chosen, Tensor Rejected) ReferenceLogProbs(CausalLM reference, IReadOnlyList<PersonalPair> batch)
    {
        ArgumentNullException.ThrowIfNull(reference);
        ArgumentNullException.ThrowIfNull(batch);
        using var scope = NewDisposeScope();
        using var _ = no_grad();
        using var chosen = LogProbs.Response(reference, [.. batch.Select(p => new SequencePair(p.Tokens.Prompt, p.Tokens.Chosen))]);
        using var rejected = LogProbs.Response(reference, [.. batch.Select(p => new SequencePair(p.Tokens.Prompt, p.Tokens.Rejected))]);
        return (chosen.Sum.detach().MoveToOuterDisposeScope(), rejected.Sum.detach().MoveToOuterDisposeScope());
    }

    /// <summary>
    /// The P-DPO loss of <paramref name="batch"/> (differentiable in the policy and the user model).
    /// <paramref name="referenceChosen"/>/<paramref name="referenceRejected"/> are [N] (null for reference-free losses).
    /// </summary>
    public static PersonalizedDpoOutput Compute(CausalLM policy, UserModel users, IReadOnlyList<PersonalPair> batch,
        Tensor? referenceChosen, Tensor? referenceRejected, PersonalizedDpoOptions options)
    {
        ArgumentNullException.ThrowIfNull(policy);
        ArgumentNullException.ThrowIfNull(users);
        ArgumentNullException.ThrowIfNull(batch);
        ArgumentNullException.ThrowIfNull(options);
        options.Validate();
        ArgumentOutOfRangeException.ThrowIfZero(batch.Count);
        using var scope = NewDisposeScope();
        var n = batch.Count;
        var known = users.Tokens == 0 ? [] : Enumerable.Range(0, n).Where(i => users.Knows(batch[i].User)).ToList();
        var k = known.Count;

        // One forward over [chosen | rejected] of the generic reading and, for known users, the personalised one.
        var rows = new List<(PreferenceTokens Tokens, string? User)>(2 * (n + k));
        rows.AddRange(batch.Select(p => (p.Tokens, (string?)null)));
        rows.AddRange(known.Select(i => (batch[i].Tokens, batch[i].User)));
        var m = rows.Count;
        var soft = users.Embed([.. rows.Select(r => r.User), .. rows.Select(r => r.User)]);                       // [2M, T, E]
        using var logps = LogProbs.Response(policy,
            [.. rows.Select(r => new SequencePair(r.Tokens.Prompt, r.Tokens.Chosen)), .. rows.Select(r => new SequencePair(r.Tokens.Prompt, r.Tokens.Rejected))],
            soft, users.Tokens == 0 ? 0 : options.SoftTokensAt);
        var lengths = logps.Lengths.to_type(ScalarType.Float64);
        var policyChosen = logps.Sum[..m];
        var policyRejected = logps.Sum[m..];

        LossOutput Terms(int from, int to, Tensor? index)
        {
            Tensor? Ref(Tensor? r) => r is null ? null : index is null ? r : r.index_select(0, index);
            var x = new PreferenceLogProbs(policyChosen[from..to], policyRejected[from..to], Ref(referenceChosen), Ref(referenceRejected),
                lengths[from..to], lengths[(m + from)..(m + to)]);
            return MarginLoss.Compute(options.Loss, x, options.LossOptions);
        }

        var generic = Terms(0, n, null);
        LossOutput? personal = null;
        Tensor loss;
        if (k == 0)
        {
            loss = generic.Loss.mean();
        }
        else
        {
            personal = Terms(n, m, tensor(known.Select(i => (long)i).ToArray(), device: policy.Device));
            loss = (options.Alpha * personal.Loss.mean()) + ((1 - options.Alpha) * generic.Loss.mean());
        }

        // Each pair's own reading: row n + j for the j-th known pair, else its generic row i.
        var pick = Enumerable.Range(0, n).Select(i => (long)i).ToArray();
        for (var j = 0; j < k; j++)
        {
            pick[known[j]] = n + j;
        }

        var index = tensor(pick, device: policy.Device);
        Tensor Pick(Tensor g, Tensor? p) => (p is null ? g : cat([g, p], 0)).index_select(0, index).MoveToOuterDisposeScope();
        var readings = new LossOutput(Pick(generic.Loss, personal?.Loss), Pick(generic.Margin, personal?.Margin),
            Pick(generic.ChosenReward, personal?.ChosenReward), Pick(generic.RejectedReward, personal?.RejectedReward));
        var readingLogProbs = new PreferenceLogProbs(policyChosen.index_select(0, index).MoveToOuterDisposeScope(), policyRejected.index_select(0, index).MoveToOuterDisposeScope(),
            referenceChosen, referenceRejected, lengths[..n].MoveToOuterDisposeScope(), lengths[m..(m + n)].MoveToOuterDisposeScope());
        var result = new PersonalizedDpoOutput(loss.MoveToOuterDisposeScope(), personal, generic, known, readings, readingLogProbs);
        foreach (var t in new[] { generic.Loss, generic.Margin, generic.ChosenReward, generic.RejectedReward })
        {
            t.MoveToOuterDisposeScope();
        }

        if (personal is not null)
        {
            foreach (var t in new[] { personal.Loss, personal.Margin, personal.ChosenReward, personal.RejectedReward })
            {
                t.MoveToOuterDisposeScope();
            }
        }

        return result;
    }
}

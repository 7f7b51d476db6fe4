using System.Text.Json.Serialization;
using Attune.Alignment.Training;
using Attune.Torch.Models;
using static TorchSharp.torch;

namespace Attune.Personalization;

/// <summary>Held-out preference accuracy of one user (or of the unknown users together).</summary>
/// <param name="User">The user id; "(unknown)" for pairs whose user the model does not know.</param>
/// <param name="Pairs">How many held-out pairs.</param>
/// <param name="Accuracy">Share of pairs whose implicit reward margin is positive, read with the user's own tokens (unknown users: the generic ones).</param>
/// <param name="GenericAccuracy">The same pairs read with the generic tokens.</param>
public sealed record UserAccuracy(
    [property: JsonPropertyName("user")] string User,
    [property: JsonPropertyName("pairs")] int Pairs,
    [property: JsonPropertyName("accuracy")] double Accuracy,
    [property: JsonPropertyName("generic_accuracy")] double GenericAccuracy);

/// <summary>Per-user evaluation of a personalised policy (implicit DPO rewards against the reference).</summary>
public static class PersonalizedEvaluation
{
    /// <summary>The unknown users' row label.</summary>
    public const string Unknown = "(unknown)";

    /// <summary>Per-user held-out accuracy, known users by id then the unknown users together; no gradients.</summary>
    public static IReadOnlyList<UserAccuracy> PerUser(CausalLM policy, CausalLM reference, UserModel users, IReadOnlyList<PersonalPair> pairs,
        PersonalizedDpoOptions options, int batchSize = 16)
    {
        ArgumentNullException.ThrowIfNull(pairs);
        var own = new bool[pairs.Count];
        var generic = new bool[pairs.Count];
        using (no_grad())
        {
            for (var start = 0; start < pairs.Count; start += batchSize)
            {
                using var scope = NewDisposeScope();
                var batch = pairs.Skip(start).Take(batchSize).ToList();
                var (rc, rr) = PersonalizedDpo.ReferenceLogProbs(reference, batch);
                using var o = PersonalizedDpo.Compute(policy, users, batch, rc, rr, options);
                var a = o.Readings.Margin.gt(0).data<bool>().ToArray();
                var g = o.Generic.Margin.gt(0).data<bool>().ToArray();
                for (var i = 0; i < batch.Count; i++)
                {
                    own[start + i] = a[i];
                    generic[start + i] = g[i];
                }
            }
        }

        return Group(users, pairs, own, generic);
    }

    /// <summary>Per-user held-out ranking accuracy of a personalised reward model (r(y_w) &gt; r(y_l)); no gradients.</summary>
    public static IReadOnlyList<UserAccuracy> PerUser(PersonalizedRewardModel model, UserModel users, IReadOnlyList<PersonalPair> pairs, int softTokensAt, int batchSize = 16)
    {
        ArgumentNullException.ThrowIfNull(model);
        ArgumentNullException.ThrowIfNull(pairs);
        var own = new bool[pairs.Count];
        var generic = new bool[pairs.Count];
        using (no_grad())
        {
            for (var start = 0; start < pairs.Count; start += batchSize)
            {
                using var scope = NewDisposeScope();
                var batch = pairs.Skip(start).Take(batchSize).ToList();
                using var o = model.Loss(users, batch, 0.5, softTokensAt);
                var a = (o.Chosen - o.Rejected).gt(0).data<bool>().ToArray();
                var g = o.GenericMargins.gt(0).data<bool>().ToArray();
                for (var i = 0; i < batch.Count; i++)
                {
                    own[start + i] = a[i];
                    generic[start + i] = g[i];
                }
            }
        }

        return Group(users, pairs, own, generic);
    }

    private static IReadOnlyList<UserAccuracy> Group(UserModel users, IReadOnlyList<PersonalPair> pairs, bool[] own, bool[] generic) =>
        [.. Enumerable.Range(0, pairs.Count)
            .GroupBy(i => users.Knows(pairs[i].User) ? pairs[i].User! : Unknown, StringComparer.Ordinal)
            .OrderBy(g => g.Key == Unknown ? 1 : 0).ThenBy(g => g.Key, StringComparer.Ordinal)
            .Select(g => new UserAccuracy(g.Key, g.Count(), g.Average(i => own[i] ? 1.0 : 0.0), g.Average(i => generic[i] ? 1.0 : 0.0)))];

    /// <summary>
    /// Mean generated length (tokens before an end token) per user: up to <paramref name="perUser"/> of each
    /// known user's prompts, and the unknown users' prompts with the generic tokens; sampled with
    /// <paramref name="options"/> (its seed makes it repeatable).
    /// </summary>
    public static IReadOnlyDictionary<string, double> GeneratedLengths(CausalLM policy, UserModel users, IReadOnlyList<PersonalPair> pairs, int perUser,
        GenerationOptions options, int softTokensAt, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(policy);
        ArgumentNullException.ThrowIfNull(users);
        ArgumentNullException.ThrowIfNull(options);
        var result = new SortedDictionary<string, double>(StringComparer.Ordinal);
        foreach (var group in pairs.GroupBy(p => users.Knows(p.User) ? p.User! : Unknown, StringComparer.Ordinal))
        {
            var prompts = group.Take(perUser).Select(p => p.Tokens.Prompt).ToList();
            var who = group.Key == Unknown ? null : group.Key;
            using var soft = users.Tokens == 0 ? null : users.Embed([.. prompts.Select(_ => who)]).detach();
            var generated = Generation.Generate(policy, prompts, options, soft is null ? null : new SoftPrefix(soft, softTokensAt), null, cancellationToken);
            result[group.Key] = generated.Average(g => g.NewIds.TakeWhile(id => !options.StopTokenIds.Contains(id)).Count());
        }

        return result;
    }

    /// <summary>Encodes personal examples (prompts, chosen, rejected) with their users.</summary>
    public static IReadOnlyList<PersonalPair> Encode(IReadOnlyList<PersonalExample> examples, Attune.Torch.Tokenizers.ITokenizer tokenizer, string path, bool appendEos = false, int maxLength = 0)
    {
        ArgumentNullException.ThrowIfNull(examples);
        var tokens = PreferenceData.Encode([.. examples.Select(e => e.Pair)], tokenizer, path, appendEos, maxLength);
        return [.. tokens.Select((t, i) => new PersonalPair(t, examples[i].User))];
    }
}

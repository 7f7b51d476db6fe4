using Attune.Core.Errors;
using Attune.Torch.Models;
using TorchSharp;
using TorchSharp.Modules;
using static TorchSharp.torch;

namespace Attune.Personalization;

/// <summary>One batch's P-RM loss and its parts.</summary>
/// <param name="Loss">α · mean(personalised Bradley–Terry terms) + (1 − α) · mean(generic terms); the generic mean alone when no pair has a known user.</param>
/// <param name="PersonalMargins">r(y_w) − r(y_l) read with each known user's tokens [N_known] (null when there are none).</param>
/// <param name="GenericMargins">r(y_w) − r(y_l) read with the generic user [N].</param>
/// <param name="KnownRows">The batch positions of the personalised rows.</param>
/// <param name="Chosen">r(y_w) of each pair read as its user (generic for unknown users) [N].</param>
/// <param name="Rejected">r(y_l) of each pair read as its user [N].</param>
/// <param name="PairLosses">The Bradley–Terry term −log σ(r(y_w) − r(y_l)) of each pair's own reading [N].</param>
public sealed record PersonalizedRewardOutput(Tensor Loss, Tensor? PersonalMargins, Tensor GenericMargins, IReadOnlyList<int> KnownRows,
    Tensor Chosen, Tensor Rejected, Tensor PairLosses) : IDisposable
{
    public void Dispose()
    {
        Loss.Dispose();
        PersonalMargins?.Dispose();
        GenericMargins.Dispose();
        Chosen.Dispose();
        Rejected.Dispose();
        PairLosses.Dispose();
    }
}

/// <summary>
/// A personalised reward model (P-RM, Li et al. 2024, Section 4.2): a causal LM's body with a scalar
/// head on the last token of <c>bos, u_1..u_T, prompt, response</c>, trained with the Bradley–Terry
/// loss −log σ(r(y_w) − r(y_l)) mixed over personalised and generic readings as P-DPO is.
/// </summary>
public sealed class PersonalizedRewardModel : nn.Module
{
    private readonly CausalLM body;
    private readonly Linear score;

    public PersonalizedRewardModel(CausalLM body, int seed) : base("reward_model")
    {
        ArgumentNullException.ThrowIfNull(body);
        this.body = body;
        using (no_grad())
        {
            score = nn.Linear(body.Config.HiddenSize, 1, hasBias: false);
            var generator = new torch.Generator((ulong)seed);
            score.weight!.normal_(0, 1.0 / Math.Sqrt(body.Config.HiddenSize), generator: generator);
            score.to(body.Device);
        }

        RegisterComponents();
    }

    public CausalLM Body => body;

    /// <summary>The scalar head's parameters, by name (trained beside the body; saved as <c>reward_head.safetensors</c>).</summary>
    public IReadOnlyList<(string Name, Parameter Parameter)> HeadParameters => [("reward_head.weight", score.weight!)];

    /// <summary>The file beside the body's weights that holds the scalar head.</summary>
    public const string HeadFile = "reward_head.safetensors";

    /// <summary>Writes the scalar head into <paramref name="directory"/>.</summary>
    public void SaveHead(string directory)
    {
        var temp = Path.Combine(directory, $".{HeadFile}.{Guid.NewGuid():N}.tmp");
        Attune.Torch.Safetensors.Safetensors.Save(temp, new Dictionary<string, Tensor> { ["weight"] = score.weight!.detach() });
        File.Move(temp, Path.Combine(directory, HeadFile), overwrite: true);
    }

    /// <summary>Reads the scalar head written by <see cref="SaveHead"/>.</summary>
    public void LoadHead(string directory)
    {
        var path = Path.Combine(directory, HeadFile);
        if (!File.Exists(path))
        {
            throw new AttuneInputException($"no reward head here (no {HeadFile})", directory);
        }

        var tensors = Attune.Torch.Safetensors.Safetensors.Load(path, ScalarType.Float32, body.Device);
        try
        {
            using var _ = no_grad();
            var w = tensors.TryGetValue("weight", out var t) && t.shape.SequenceEqual(score.weight!.shape) ? t
                : throw new AttuneInputException($"the reward head must be one [1, {body.Config.HiddenSize}] tensor 'weight'", path);
            score.weight!.copy_(w);
        }
        finally
        {
            foreach (var t in tensors.Values)
            {
                t.Dispose();
            }
        }
    }

    /// <summary>The reward of each sequence [N] for token sequences (prompt + response, each non-empty) with soft tokens [N, P, E] after the first <paramref name="softTokensAt"/> tokens.</summary>
    public Tensor Rewards(IReadOnlyList<int[]> sequences, Tensor softTokens, int softTokensAt, int padId = 0)
    {
        ArgumentNullException.ThrowIfNull(sequences);
        ArgumentNullException.ThrowIfNull(softTokens);
        using var scope = NewDisposeScope();
        var n = sequences.Count;
        var longest = sequences.Max(s => s.Length);
        var soft = (int)softTokens.shape[1];
        if (sequences.Any(s => s.Length <= softTokensAt) || softTokens.shape[0] != n)
        {
            throw new ArgumentException("every sequence must be longer than the soft tokens' position, and soft tokens must be [N, P, E]");
        }

        var ids = new long[n * longest];
        Array.Fill(ids, padId);
        var last = new long[n];
        for (var i = 0; i < n; i++)
        {
            for (var j = 0; j < sequences[i].Length; j++)
            {
                ids[(i * longest) + j] = sequences[i][j];
            }

            last[i] = soft + sequences[i].Length - 1;
        }

        var device = body.Device;
        var embedded = body.Embed(tensor(ids, [n, longest], device: device));
        var input = soft == 0 ? embedded
            : cat([embedded[.., ..softTokensAt], softTokens.to_type(embedded.dtype), embedded[.., softTokensAt..]], 1);
        var hidden = body.HiddenFromEmbeddings(input);                                               // [N, L + P, E]
        var index = tensor(last, device: device).view(n, 1, 1).expand(n, 1, hidden.shape[2]);
        var final = hidden.gather(1, index).squeeze(1);                                              // [N, E]
        return score.forward(final).squeeze(-1).MoveToOuterDisposeScope();
    }

    /// <summary>The P-RM loss of <paramref name="batch"/> (differentiable in the body, the head and the user model).</summary>
    public PersonalizedRewardOutput Loss(UserModel users, IReadOnlyList<PersonalPair> batch, double alpha, int softTokensAt)
    {
        ArgumentNullException.ThrowIfNull(users);
        ArgumentNullException.ThrowIfNull(batch);
        if (double.IsNaN(alpha) || alpha is < 0 or > 1)
        {
            throw new AttuneInputException($"--alpha must be between 0 and 1 (got {alpha})");
        }

        ArgumentOutOfRangeException.ThrowIfZero(batch.Count);
        using var scope = NewDisposeScope();
        var n = batch.Count;
        var known = users.Tokens == 0 ? [] : Enumerable.Range(0, n).Where(i => users.Knows(batch[i].User)).ToList();
        var rows = batch.Select(p => (p.Tokens, User: (string?)null)).Concat(known.Select(i => (batch[i].Tokens, User: batch[i].User))).ToList();
        var m = rows.Count;
        var soft = users.Embed([.. rows.Select(r => r.User), .. rows.Select(r => r.User)]);
        var at = users.Tokens == 0 ? 0 : softTokensAt;
        var rewards = Rewards([.. rows.Select(r => (int[])[.. r.Tokens.Prompt, .. r.Tokens.Chosen]), .. rows.Select(r => (int[])[.. r.Tokens.Prompt, .. r.Tokens.Rejected])], soft, at);
        var margins = rewards[..m] - rewards[m..];
        var generic = margins[..n];
        Tensor? personal = known.Count == 0 ? null : margins[n..];
        var genericLoss = -nn.functional.logsigmoid(generic).mean();
        var loss = personal is null ? genericLoss : (alpha * -nn.functional.logsigmoid(personal).mean()) + ((1 - alpha) * genericLoss);

        // Each pair's own reading: row n + j for the j-th known pair, else its generic row.
        var pick = Enumerable.Range(0, n).Select(i => (long)i).ToArray();
        for (var j = 0; j < known.Count; j++)
        {
            pick[known[j]] = n + j;
        }

        var index = tensor(pick, device: body.Device);
        var chosen = rewards[..m].index_select(0, index);
        var rejected = rewards[m..].index_select(0, index);
        var pairLosses = -nn.functional.logsigmoid(chosen - rejected);
        return new PersonalizedRewardOutput(loss.MoveToOuterDisposeScope(), personal?.MoveToOuterDisposeScope(), generic.MoveToOuterDisposeScope(), known,
            chosen.MoveToOuterDisposeScope(), rejected.MoveToOuterDisposeScope(), pairLosses.MoveToOuterDisposeScope());
    }
}

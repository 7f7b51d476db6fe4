using TorchSharp;
using static TorchSharp.torch;

namespace Attune.Torch.Models;

/// <summary>A prompt and a response, each encoded separately; the model sees prompt + response.</summary>
public sealed record SequencePair(int[] Prompt, int[] Response);

/// <summary>Response log-probabilities of a batch: the sums [N], per-token values [N, R] and the mask [N, R] of real tokens.</summary>
public sealed record ResponseLogProbs(Tensor Sum, Tensor Tokens, Tensor Mask) : IDisposable
{
    /// <summary>Response lengths [N].</summary>
    public Tensor Lengths => Mask.sum(1);

    public void Dispose()
    {
        Sum.Dispose();
        Tokens.Dispose();
        Mask.Dispose();
    }
}

/// <summary>
/// Sequence log-probabilities. The response log-prob of a pair is the sum over response tokens of
/// log p(token | all earlier tokens), with ids = ids(prompt) + ids(response). Batches are padded
/// on the right, so causal attention alone keeps padding out of every real token's view.
/// </summary>
public static class LogProbs
{
    /// <summary>Response log-probs of every pair, differentiable when gradients are on.</summary>
    public static ResponseLogProbs Response(CausalLM model, IReadOnlyList<SequencePair> pairs, int padId = 0) =>
        Response(model, pairs, softTokens: null, softTokensAt: 0, padId);

    /// <summary>
    /// Response log-probs with soft tokens spliced into every sequence: row i reads
    /// <c>prompt[..at], softTokens[i], prompt[at..], response</c> (<paramref name="softTokensAt"/> = 1
    /// places them after a leading BOS). <paramref name="softTokens"/> is [N, P, E] (P may be 0) or null.
    /// </summary>
    public static ResponseLogProbs Response(CausalLM model, IReadOnlyList<SequencePair> pairs, Tensor? softTokens, int softTokensAt, int padId = 0)
    {
        ArgumentOutOfRangeException.ThrowIfZero(pairs.Count);
        using var scope = NewDisposeScope();
        var n = pairs.Count;
        var lengths = pairs.Select(p => p.Prompt.Length + p.Response.Length).ToArray();
        var longest = lengths.Max();
        var maxResponse = Math.Max(1, pairs.Max(p => p.Response.Length));
        if (pairs.Any(p => p.Prompt.Length == 0))
        {
            throw new ArgumentException("every prompt needs at least one token: the first response token is predicted from it");
        }

        var soft = softTokens is null ? 0 : (int)softTokens.shape[1];
        if (softTokens is not null && (softTokens.dim() != 3 || softTokens.shape[0] != n || softTokensAt < 0 || pairs.Any(p => p.Prompt.Length < softTokensAt)))
        {
            throw new ArgumentException($"soft tokens must be [{n}, P, E] and go at most after the prompt's first {softTokensAt} token(s) of every prompt");
        }

        var ids = new long[n * longest];
        var targets = new long[n * maxResponse];       // the response tokens
        var rows = new long[n * maxResponse];          // where in the sequence each is predicted
        var mask = new float[n * maxResponse];
        Array.Fill(ids, padId);
        for (var i = 0; i < n; i++)
        {
            var (prompt, response) = (pairs[i].Prompt, pairs[i].Response);
            for (var j = 0; j < prompt.Length; j++)
            {
                ids[(i * longest) + j] = prompt[j];
            }

            for (var j = 0; j < response.Length; j++)
            {
                ids[(i * longest) + prompt.Length + j] = response[j];
                targets[(i * maxResponse) + j] = response[j];
                rows[(i * maxResponse) + j] = soft + prompt.Length + j - 1;
                mask[(i * maxResponse) + j] = 1;
            }
        }

        var device = model.Device;
        var input = tensor(ids, [n, longest], device: device);
        Tensor hidden;
        if (soft == 0)
        {
            hidden = model.Hidden(input);                                                    // [N, L, E]
        }
        else
        {
            // [prompt[..at] | soft tokens | the rest]: the soft tokens take positions at..at+P-1.
            var embedded = model.Embed(input);                                               // [N, L, E]
            var spliced = cat([embedded[.., ..softTokensAt], softTokens!.to_type(embedded.dtype), embedded[.., softTokensAt..]], 1);
            hidden = model.HiddenFromEmbeddings(spliced);                                    // [N, L + P, E]
        }

        var positions = tensor(rows, [n, maxResponse], device: device);
        // Only the rows that predict a response token go through the output head: the prompt's
        // logits are never needed, and the head is the largest GEMM of a small model.
        var picked = hidden.gather(1, positions.unsqueeze(-1).expand(n, maxResponse, hidden.shape[2]));  // [N, R, E]
        var flat = TargetLogProbs(model, picked.reshape(-1, hidden.shape[2]), tensor(targets, device: device));
        var token = flat.reshape(n, maxResponse);                                            // [N, R]
        var m = tensor(mask, [n, maxResponse], device: device);
        token = token * m;
        var result = new ResponseLogProbs(token.sum(1).MoveToOuterDisposeScope(), token.MoveToOuterDisposeScope(), m.MoveToOuterDisposeScope());
        return result;
    }

    /// <summary>Logits of one chunk stay under this size (bytes): see <see cref="TargetLogProbs"/>.</summary>
    public const long ChunkLogitBytes = 24L << 20;

    /// <summary>
    /// log p(target | hidden) [M] for final hidden states [M, E] and target ids [M]: the output head,
    /// then the target's logit minus the log-sum-exp, in row chunks whose logits stay under
    /// <paramref name="chunkLogitBytes"/> (the [M, V] logits of a whole batch are one allocation
    /// above glibc's mmap threshold, mapped and page-faulted afresh on every step; see
    /// docs/torch.md). The log-softmax runs in float32 in every precision (<see cref="CausalLM.Head"/>
    /// returns float32 logits), so the values summed into sequence log-probs are float32. Differentiable.
    /// </summary>
    public static Tensor TargetLogProbs(CausalLM model, Tensor hidden, Tensor targets, long chunkLogitBytes = ChunkLogitBytes)
    {
        ArgumentNullException.ThrowIfNull(model);
        ArgumentNullException.ThrowIfNull(hidden);
        using var scope = NewDisposeScope();
        var rows = hidden.shape[0];
        var perChunk = Math.Max(1, chunkLogitBytes / (model.Config.VocabSize * sizeof(float)));   // the logits are float32 in every precision
        var chunks = Math.Max(1, (rows + perChunk - 1) / perChunk);
        var size = Math.Max(1, (rows + chunks - 1) / chunks);                                // even chunks
        var parts = new List<Tensor>();
        for (long start = 0; start < rows; start += size)
        {
            var length = Math.Min(size, rows - start);
            var logp = model.Head(hidden.narrow(0, start, length)).log_softmax(-1);              // [m, V]
            parts.Add(logp.gather(1, targets.narrow(0, start, length).unsqueeze(-1)).squeeze(-1));
        }

        return (parts.Count == 1 ? parts[0] : cat(parts, dim: 0)).MoveToOuterDisposeScope();
    }

    /// <summary>Per-token log-probs [B, T-1] of each token given the earlier ones (no padding).</summary>
    public static Tensor Tokens(CausalLM model, Tensor ids)
    {
        using var scope = NewDisposeScope();
        var logits = model.Forward(ids);
        var logp = logits[.., ..^1].log_softmax(-1);
        return logp.gather(2, ids[.., 1..].unsqueeze(-1)).squeeze(-1).MoveToOuterDisposeScope();
    }
}

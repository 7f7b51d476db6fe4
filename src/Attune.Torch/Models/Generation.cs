using TorchSharp;
using static TorchSharp.torch;

namespace Attune.Torch.Models;

/// <summary>How to pick tokens. Temperature 0 (or <see cref="Greedy"/>) takes the most likely token.</summary>
public sealed record GenerationOptions
{
    public int MaxNewTokens { get; init; } = 64;

    public bool Greedy { get; init; }

    public double Temperature { get; init; } = 1.0;

    /// <summary>Keep only the k most likely tokens (0: all).</summary>
    public int TopK { get; init; }

    /// <summary>Keep the smallest set of most likely tokens whose probability reaches p (1: all).</summary>
    public double TopP { get; init; } = 1.0;

    /// <summary>Token ids that end a sequence (kept in its output).</summary>
    public IReadOnlyList<int> StopTokenIds { get; init; } = [];

    /// <summary>Strings that end a sequence once its decoded text contains one (needs a decoder).</summary>
    public IReadOnlyList<string> StopStrings { get; init; } = [];

    /// <summary>Reuse keys and values of earlier tokens (off: recompute the whole sequence each step).</summary>
    public bool UseCache { get; init; } = true;

    public int Seed { get; init; } = Core.Randomness.Seeds.Default;

    public int PadTokenId { get; init; }

    internal bool IsGreedy => Greedy || Temperature <= 0;
}

/// <summary>One generated continuation: its new ids, and why it stopped.</summary>
public sealed record Generated(int[] NewIds, string StopReason);

/// <summary>Autoregressive generation for a batch of prompts (left-padded), with a KV cache.</summary>
/// <summary>Soft tokens [N, P, E] to splice into each prompt after its first <paramref name="At"/> tokens (a personalised model's user tokens).</summary>
public sealed record SoftPrefix(Tensor Tokens, int At);

public static class Generation
{
    public static IReadOnlyList<Generated> Generate(CausalLM model, IReadOnlyList<int[]> prompts, GenerationOptions options, Func<int[], string>? decode = null, CancellationToken cancellationToken = default) =>
        Generate(model, prompts, options, null, decode, cancellationToken);

    /// <summary>
    /// Generates a continuation of every prompt; with <paramref name="prefix"/>, each prompt reads
    /// <c>prompt[..At], soft tokens, prompt[At..]</c> (the KV cache carries them after the first step).
    /// </summary>
    public static IReadOnlyList<Generated> Generate(CausalLM model, IReadOnlyList<int[]> prompts, GenerationOptions options, SoftPrefix? prefix,
        Func<int[], string>? decode = null, CancellationToken cancellationToken = default)
    {
        ArgumentOutOfRangeException.ThrowIfZero(prompts.Count);
        if (prompts.Any(p => p.Length == 0))
        {
            throw new ArgumentException("every prompt needs at least one token");
        }

        if (options.StopStrings.Count > 0 && decode is null)
        {
            throw new ArgumentException("stop strings need a decoder");
        }

        using var noGrad = no_grad();
        var device = model.Device;
        var n = prompts.Count;
        var longest = prompts.Max(p => p.Length);
        var ids = new long[n * longest];
        var mask = new long[n * longest];
        Array.Fill(ids, options.PadTokenId);
        for (var i = 0; i < n; i++)
        {
            var offset = longest - prompts[i].Length;   // left padding: every prompt ends at the same column
            for (var j = 0; j < prompts[i].Length; j++)
            {
                ids[(i * longest) + offset + j] = prompts[i][j];
                mask[(i * longest) + offset + j] = 1;
            }
        }

        var padded = prompts.Any(p => p.Length != longest);
        var sequence = tensor(ids, [n, longest], device: device);
        var attention = tensor(mask, [n, longest], device: device);
        Tensor? prefill = null;
        if (prefix is { Tokens.shape: [_, > 0, _] })
        {
            if (!options.UseCache || prefix.Tokens.shape[0] != n || prompts.Any(p => p.Length < prefix.At))
            {
                throw new ArgumentException("soft tokens need the KV cache, one row per prompt, and prompts at least as long as their position");
            }

            // Left-padded rows of [pad…, prompt[..at], soft tokens, prompt[at..]]: embed, splice per row, stack.
            var soft = prefix.Tokens.shape[1];
            using var embedded = model.Embed(sequence);                                           // [N, L, E]
            var rows = new List<Tensor>(n);
            var spliced = new long[n * (longest + soft)];
            for (var i = 0; i < n; i++)
            {
                var cut = longest - prompts[i].Length + prefix.At;
                rows.Add(cat([embedded[i, ..cut], prefix.Tokens[i].to_type(embedded.dtype), embedded[i, cut..]], 0));
                for (var j = 0; j < longest + soft; j++)
                {
                    spliced[(i * (longest + soft)) + j] = j < longest - prompts[i].Length ? 0 : 1;
                }
            }

            prefill = stack(rows, 0);                                                            // [N, L + P, E]
            foreach (var row in rows)
            {
                row.Dispose();
            }

            attention.Dispose();
            attention = tensor(spliced, [n, longest + soft], device: device);
            padded = true;
        }

        var generator = new Generator((ulong)options.Seed, device);
        var outputs = Enumerable.Range(0, n).Select(_ => new List<int>()).ToArray();
        var reasons = new string?[n];
        using var cache = options.UseCache ? new KvCache(model.Config.NumLayers) : null;
        Tensor? step = null;
        try
        {
            for (var t = 0; t < options.MaxNewTokens && reasons.Any(r => r is null); t++)
            {
                cancellationToken.ThrowIfCancellationRequested();
                using var scope = NewDisposeScope();
                var input = cache is null || step is null ? sequence : step;
                var logits = (prefill is not null && step is null
                    ? model.Head(model.HiddenFromEmbeddings(prefill, attention, cache: cache))
                    : model.Forward(input, padded ? attention : null, cache: cache))[.., -1];        // [B, V]
                var next = Pick(logits, options, generator);                                          // [B]
                var chosen = next.data<long>().ToArray();
                for (var i = 0; i < n; i++)
                {
                    if (reasons[i] is not null)
                    {
                        continue;
                    }

                    outputs[i].Add((int)chosen[i]);
                    if (options.StopTokenIds.Contains((int)chosen[i]))
                    {
                        reasons[i] = "stop_token";
                    }
                    else if (options.StopStrings.Count > 0 && options.StopStrings.Any(decode!([.. outputs[i]]).Contains))
                    {
                        reasons[i] = "stop_string";
                    }
                }

                var column = next.unsqueeze(1);
                var newSequence = cat([sequence, column], 1).DetachFromDisposeScope();
                var newAttention = cat([attention, ones_like(column)], 1).DetachFromDisposeScope();
                sequence.Dispose();
                attention.Dispose();
                sequence = newSequence;
                attention = newAttention;
                step?.Dispose();
                step = column.DetachFromDisposeScope();
            }
        }
        finally
        {
            prefill?.Dispose();
            sequence.Dispose();
            attention.Dispose();
            step?.Dispose();
            generator.Dispose();
        }

        return [.. outputs.Select((o, i) => new Generated([.. o], reasons[i] ?? "max_tokens"))];
    }

    /// <summary>The next token of each row of logits [B, V].</summary>
    internal static Tensor Pick(Tensor logits, GenerationOptions options, Generator generator)
    {
        using var scope = NewDisposeScope();
        if (options.IsGreedy)
        {
            return logits.argmax(-1).MoveToOuterDisposeScope();
        }

        var scores = logits.to_type(ScalarType.Float32) / options.Temperature;
        if (options.TopK > 0 && options.TopK < scores.shape[^1])
        {
            var kth = scores.topk(options.TopK, dim: -1).values.narrow(-1, options.TopK - 1, 1);   // [B, 1]
            scores = scores.masked_fill(scores.lt(kth), double.NegativeInfinity);
        }

        if (options.TopP < 1.0)
        {
            var (sorted, order) = scores.sort(-1, descending: true);
            var cumulative = sorted.softmax(-1).cumsum(-1);
            // Drop a token when the tokens before it already reach p; the most likely always stays.
            var drop = (cumulative - sorted.softmax(-1)).ge(options.TopP);
            var dropped = zeros_like(drop).scatter(-1, order, drop);
            scores = scores.masked_fill(dropped, double.NegativeInfinity);
        }

        return multinomial(scores.softmax(-1), 1, replacement: false, generator: generator).squeeze(-1).MoveToOuterDisposeScope();
    }
}

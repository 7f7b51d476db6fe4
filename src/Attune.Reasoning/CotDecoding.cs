using Attune.Core.Randomness;
using Attune.Torch.Models;
using Attune.Torch.Tokenizers;

namespace Attune.Reasoning;

/// <summary>How <see cref="CotDecoder"/> picks tokens and batches prompts.</summary>
public sealed record CotDecodeOptions
{
    /// <summary>New tokens per stage at most (a composable answer has two stages).</summary>
    public int MaxNewTokens { get; init; } = 320;

    /// <summary>Take the most likely token (else sample at <see cref="Temperature"/>).</summary>
    public bool Greedy { get; init; } = true;

    public double Temperature { get; init; } = 1.0;

    public int TopK { get; init; }

    public double TopP { get; init; } = 1.0;

    /// <summary>Prompts decoded together (left-padded, one KV cache per batch).</summary>
    public int BatchSize { get; init; } = 16;

    /// <summary>Seed of the sampling; batch b samples with <c>Seeds.Derive(Seed, b)</c>.</summary>
    public int Seed { get; init; } = Seeds.Default;

    public bool UseCache { get; init; } = true;
}

/// <summary>
/// One decoded answer. <see cref="Output"/> is what the model wrote after the instruction: for the
/// composable format <c>&lt;prefix&gt;{first stage} &lt;suffix&gt;{second stage}</c>, else the one stage's text.
/// </summary>
public sealed record CotCompletion(string Instruction, string Output, string FirstStage, string? SecondStage, string StopReason);

/// <summary>
/// Decoding in a CoT format. Composable decoding is the paper's two stages: generate after
/// <c>instruction&lt;prefix&gt;</c> until <c>&lt;/prefix&gt;</c> (or end of sequence), then append
/// <c> &lt;suffix&gt;</c> to that text and generate again until <c>&lt;/suffix&gt;</c>; the standard and
/// answer-only formats generate once after the instruction. Prompts are decoded in batches through
/// <see cref="Generation"/> (left padding, KV cache), greedy or sampled.
/// </summary>
public sealed class CotDecoder
{
    private readonly CausalLM _model;
    private readonly ITokenizer _tokenizer;
    private readonly int[] _stopIds;
    private readonly int _padId;

    public CotDecoder(CausalLM model, ITokenizer tokenizer)
    {
        ArgumentNullException.ThrowIfNull(model);
        ArgumentNullException.ThrowIfNull(tokenizer);
        _model = model;
        _tokenizer = tokenizer;
        _stopIds = [.. new[] { tokenizer.EosTokenId }.Concat(model.Config.EosTokenIds.Select(i => (int?)i)).OfType<int>().Distinct()];
        _padId = tokenizer.PadTokenId ?? model.Config.PadTokenId ?? 0;
    }

    /// <summary>The first stage's prompt: <c>instruction&lt;prefix&gt;</c> for the composable format, else the instruction.</summary>
    public static string FirstPrompt(string instruction, CotFormat format) =>
        format == CotFormat.Composable ? instruction + CotFormats.PrefixOpen : instruction;

    /// <summary>The second stage's prompt: the first stage's prompt and text (cut after <c>&lt;/prefix&gt;</c>) and <c> &lt;suffix&gt;</c>.</summary>
    public static string SecondPrompt(string firstPrompt, string firstStage) => firstPrompt + firstStage + " " + CotFormats.SuffixOpen;

    /// <summary>The composable output: <c>&lt;prefix&gt;{first} &lt;suffix&gt;{second}</c>.</summary>
    public static string ComposableOutput(string firstStage, string secondStage) => CotFormats.PrefixOpen + firstStage + " " + CotFormats.SuffixOpen + secondStage;

    /// <summary>Decodes every instruction in <paramref name="format"/>; the results are in the instructions' order.</summary>
    public IReadOnlyList<CotCompletion> Decode(IReadOnlyList<string> instructions, CotFormat format, CotDecodeOptions options, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(instructions);
        ArgumentNullException.ThrowIfNull(options);
        var first = instructions.Select(i => FirstPrompt(i, format)).ToList();
        if (format != CotFormat.Composable)
        {
            var once = Stage(first, [], options, 0, cancellationToken);
            return [.. instructions.Select((ins, i) => new CotCompletion(ins, once[i].Text, once[i].Text, null, once[i].Reason))];
        }

        var stage1 = Stage(first, [CotFormats.PrefixClose], options, 0, cancellationToken);
        var second = first.Select((p, i) => SecondPrompt(p, stage1[i].Text)).ToList();
        var stage2 = Stage(second, [CotFormats.SuffixClose], options, 1, cancellationToken);
        return [.. instructions.Select((ins, i) => new CotCompletion(ins, ComposableOutput(stage1[i].Text, stage2[i].Text), stage1[i].Text, stage2[i].Text,
            stage1[i].Reason + "," + stage2[i].Reason))];
    }

    /// <summary>One generation over all prompts, in batches of similar length; each text is cut after its first stop string.</summary>
    private List<(string Text, string Reason)> Stage(IReadOnlyList<string> prompts, IReadOnlyList<string> stops, CotDecodeOptions options, int stage, CancellationToken ct)
    {
        var encoded = prompts.Select(p => _tokenizer.Encode(p)).ToList();
        if (encoded.FindIndex(e => e.Length == 0) is var empty and >= 0)
        {
            throw new ArgumentException($"prompt {empty + 1} encodes to no tokens");
        }

        var order = Enumerable.Range(0, prompts.Count).OrderBy(i => encoded[i].Length).ToArray();   // stable: similar lengths share a batch
        var result = new (string Text, string Reason)[prompts.Count];
        var batches = order.Chunk(Math.Max(1, options.BatchSize)).ToList();
        for (var b = 0; b < batches.Count; b++)
        {
            ct.ThrowIfCancellationRequested();
            var batch = batches[b];
            var generation = new GenerationOptions
            {
                MaxNewTokens = options.MaxNewTokens,
                Greedy = options.Greedy,
                Temperature = options.Temperature,
                TopK = options.TopK,
                TopP = options.TopP,
                StopTokenIds = _stopIds,
                StopStrings = stops,
                UseCache = options.UseCache,
                Seed = Seeds.Derive(Seeds.Derive(options.Seed, stage), b),
                PadTokenId = _padId,
            };
            var generated = Generation.Generate(_model, [.. batch.Select(i => encoded[i])], generation, ids => _tokenizer.Decode(ids, skipSpecialTokens: true), ct);
            for (var j = 0; j < batch.Length; j++)
            {
                var ids = generated[j].NewIds.Where(id => !_stopIds.Contains(id)).ToArray();
                result[batch[j]] = (CutAfterStop(_tokenizer.Decode(ids, skipSpecialTokens: true), stops), generated[j].StopReason);
            }
        }

        return [.. result];
    }

    /// <summary>The text up to and including the first stop string (all of it when none occurs).</summary>
    internal static string CutAfterStop(string text, IReadOnlyList<string> stops)
    {
        var end = text.Length;
        foreach (var stop in stops)
        {
            var at = text.IndexOf(stop, StringComparison.Ordinal);
            if (at >= 0)
            {
                end = Math.Min(end, at + stop.Length);
            }
        }

        return text[..end];
    }
}

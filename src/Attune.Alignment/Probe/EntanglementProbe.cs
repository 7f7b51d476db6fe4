using System.Text.RegularExpressions;
using Attune.Alignment.Losses;
using Attune.Alignment.Training;
using Attune.Core.Errors;
using Attune.Torch.Models;
using TorchSharp;
using TorchSharp.Modules;
using static TorchSharp.torch;

namespace Attune.Alignment.Probe;

/// <summary>What the probe measures and over which parameters.</summary>
public sealed record ProbeOptions
{
    /// <summary>The loss whose update direction is predicted (a <see cref="MarginLoss"/> name).</summary>
    public string Loss { get; init; } = MarginLoss.Dpo;

    public LossOptions LossOptions { get; init; } = new();

    /// <summary>
    /// The parameters the gradients are taken over, comma-separated: <c>all</c>, <c>embeddings</c>,
    /// <c>trainable</c> (those with gradients on), <c>head</c> (the output head; the embedding matrix when tied), <c>layer:N</c>, <c>norm</c>
    /// (the final norm), or a regular expression over Hugging Face parameter names (<c>re:…</c>).
    /// </summary>
    public string Parameters { get; init; } = "all";

    /// <summary>Also compute the per-token gradient cosine matrix between chosen and rejected response tokens (one backward pass per token).</summary>
    public bool TokenMatrix { get; init; }

    /// <summary>At most this many tokens of each response enter the token matrix (the first ones).</summary>
    public int MaxMatrixTokens { get; init; } = 64;
}

/// <summary>
/// The gradient-entanglement probe of one pair (Yuan et al., ICLR 2025, sec. 3): g_w = ∇θ log π(y_w|x),
/// g_l = ∇θ log π(y_l|x); their norms, inner product and cosine; and, for the selected loss L with
/// c_w = ∂L/∂log π(y_w) and c_l = ∂L/∂log π(y_l), the first-order change of each log-prob under a
/// gradient-descent step of size η on L: Δlog π(y_w) ≈ −η(c_w‖g_w‖² + c_l⟨g_w,g_l⟩),
/// Δlog π(y_l) ≈ −η(c_w⟨g_w,g_l⟩ + c_l‖g_l‖²). With r = −c_w/c_l (for a margin loss m(h_w(log π_w) − h_l(log π_l))
/// r = h_w′/h_l′: 1 for DPO, |y_l|/|y_w| for SimPO), the chosen log-prob rises iff ⟨g_w,g_l⟩ &lt; r‖g_w‖² and the
/// rejected one falls iff ⟨g_w,g_l⟩ &lt; ‖g_l‖²/r (when c_w &lt; 0 &lt; c_l, as for every loss here while it still pushes).
/// </summary>
/// <param name="PredictedChosenChange">Δlog π(y_w) per unit step size (first order).</param>
/// <param name="PredictedRejectedChange">Δlog π(y_l) per unit step size (first order).</param>
/// <param name="Ratio">r = −c_w/c_l = h_w′/h_l′, null when c_l = 0.</param>
/// <param name="Case">The predicted directions: <c>chosen_up_rejected_down</c>, <c>both_down</c>, <c>both_up</c>, <c>chosen_down_rejected_up</c> or <c>no_gradient</c>.</param>
public sealed record ProbeResult(
    double PolicyChosenLogp, double PolicyRejectedLogp, double? RefChosenLogp, double? RefRejectedLogp, int ChosenLength, int RejectedLength,
    string Loss, double LossValue, double? LossSigmoid, double? LossIpo,
    double GradChosenNorm, double GradRejectedNorm, double GradInner, double GradCosine, double GradLossNorm,
    double LossGradChosen, double LossGradRejected, double? Ratio, double PredictedChosenChange, double PredictedRejectedChange,
    bool ChosenRises, bool RejectedFalls, string Case, string Parameters, long ParameterCount, double[,]? TokenCosine);

/// <summary>Runs the probe; see <see cref="ProbeResult"/>.</summary>
public static class EntanglementProbe
{
    /// <summary>Probes one pair of the policy, with the reference's log-probs given (null for reference-free losses).</summary>
    public static ProbeResult Run(CausalLM policy, PreferenceTokens pair, double? refChosen, double? refRejected, ProbeOptions options, int padId = 0)
    {
        ArgumentNullException.ThrowIfNull(policy);
        ArgumentNullException.ThrowIfNull(pair);
        ArgumentNullException.ThrowIfNull(options);
        var loss = MarginLoss.Check(options.Loss);
        if (MarginLoss.NeedsReference(loss) && (refChosen is null || refRejected is null))
        {
            throw new AttuneInputException($"the {loss} loss needs a reference model (--ref)");
        }

        var parameters = SelectParameters(policy, options.Parameters);
        var wasTraining = policy.training;
        var hadGrad = parameters.Select(p => p.requires_grad).ToArray();
        policy.eval();
        try
        {
            foreach (var p in parameters)
            {
                p.requires_grad_(true);
            }

            using var scope = NewDisposeScope();
            using var enableGrad = enable_grad();
            var logps = LogProbs.Response(policy, [new SequencePair(pair.Prompt, pair.Chosen), new SequencePair(pair.Prompt, pair.Rejected)], padId);
            double pw = logps.Sum[0].item<float>(), pl = logps.Sum[1].item<float>();
            var gw = Flat(torch.autograd.grad([logps.Sum[0]], Inputs(parameters), retain_graph: true, allow_unused: true), parameters);
            var gl = Flat(torch.autograd.grad([logps.Sum[1]], Inputs(parameters), retain_graph: options.TokenMatrix, allow_unused: true), parameters);
            var nw2 = gw.dot(gw).item<double>();
            var nl2 = gl.dot(gl).item<double>();
            var inner = gw.dot(gl).item<double>();
            double[,]? matrix = options.TokenMatrix ? TokenCosines(logps, parameters, pair, options.MaxMatrixTokens) : null;

            var lo = options.LossOptions;
            var (cw, cl) = MarginLoss.Derivatives(loss, pw, pl, refChosen, refRejected, pair.Chosen.Length, pair.Rejected.Length, lo);
            var value = LossValue(loss, pw, pl, refChosen, refRejected, pair, lo);
            double? sigmoid = null, ipo = null;
            if (refChosen is double a && refRejected is double b)
            {
                sigmoid = LossValue(MarginLoss.Dpo, pw, pl, a, b, pair, lo with { LabelSmoothing = 0, NllWeight = 0 });
                ipo = LossValue(MarginLoss.Ipo, pw, pl, a, b, pair, lo with { NllWeight = 0 });
            }

            var gradLoss = Math.Sqrt(Math.Max(0, (cw * cw * nw2) + (2 * cw * cl * inner) + (cl * cl * nl2)));
            var dw = -((cw * nw2) + (cl * inner));
            var dl = -((cw * inner) + (cl * nl2));
            var kase = cw == 0 && cl == 0 ? "no_gradient"
                : (dw > 0, dl < 0) switch
                {
                    (true, true) => "chosen_up_rejected_down",
                    (false, true) => "both_down",
                    (true, false) => "both_up",
                    _ => "chosen_down_rejected_up",
                };
            var count = parameters.Sum(p => p.numel());
            return new ProbeResult(pw, pl, refChosen, refRejected, pair.Chosen.Length, pair.Rejected.Length, loss, value, sigmoid, ipo,
                Math.Sqrt(nw2), Math.Sqrt(nl2), inner, inner / Math.Max(1e-30, Math.Sqrt(nw2 * nl2)), gradLoss,
                cw, cl, cl == 0 ? null : -cw / cl, dw, dl, dw > 0, dl < 0, kase, options.Parameters, count, matrix);
        }
        finally
        {
            for (var i = 0; i < parameters.Count; i++)
            {
                parameters[i].requires_grad_(hadGrad[i]);
            }

            policy.train(wasTraining);
        }
    }

    /// <summary>The reference model's summed response log-probs of a pair (chosen, rejected), without gradients.</summary>
    public static (double Chosen, double Rejected) ReferenceLogProbs(CausalLM reference, PreferenceTokens pair, int padId = 0)
    {
        using var noGrad = no_grad();
        using var scope = NewDisposeScope();
        var logps = LogProbs.Response(reference, [new SequencePair(pair.Prompt, pair.Chosen), new SequencePair(pair.Prompt, pair.Rejected)], padId);
        return (logps.Sum[0].item<float>(), logps.Sum[1].item<float>());
    }

    /// <summary>The parameters named by a subset specification (see <see cref="ProbeOptions.Parameters"/>), each once.</summary>
    public static IReadOnlyList<Parameter> SelectParameters(CausalLM model, string subset)
    {
        ArgumentNullException.ThrowIfNull(model);
        var all = model.named_parameters().ToList();
        var tied = model.Config.TieWordEmbeddings;
        var chosen = new List<(string Name, Parameter P)>();
        foreach (var raw in (subset ?? "all").Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries))
        {
            Func<string, bool> match = raw switch
            {
                "all" => n => !(tied && n == "lm_head.weight"),
                "trainable" => n => all.First(p => p.name == n).parameter.requires_grad && !(tied && n == "lm_head.weight"),
                "embeddings" => n => n == "model.embed_tokens.weight",
                "head" => n => tied ? n == "model.embed_tokens.weight" : n == "lm_head.weight",
                "norm" => n => n == "model.norm.weight",
                _ when raw.StartsWith("layer:", StringComparison.Ordinal) && int.TryParse(raw.AsSpan(6), out var layer) && layer >= 0 && layer < model.Config.NumLayers =>
                    n => n.StartsWith($"model.layers.{layer}.", StringComparison.Ordinal),
                _ when raw.StartsWith("re:", StringComparison.Ordinal) => Regex(raw[3..]),
                _ => throw new AttuneInputException($"unknown parameter subset '{raw}' (all, trainable, embeddings, head, norm, layer:N with N < {model.Config.NumLayers}, re:REGEX)", null, null, "--params"),
            };
            chosen.AddRange(all.Where(p => match(p.name) && !chosen.Any(c => c.Name == p.name)));
        }

        return chosen.Count == 0
            ? throw new AttuneInputException($"the parameter subset '{subset}' selects no parameters", null, null, "--params")
            : [.. chosen.Select(c => c.P)];
    }

    private static Func<string, bool> Regex(string pattern)
    {
        try
        {
            var regex = new Regex(pattern, RegexOptions.CultureInvariant, TimeSpan.FromSeconds(1));
            return regex.IsMatch;
        }
        catch (ArgumentException e)
        {
            throw new AttuneInputException($"invalid regular expression: {e.Message}", null, null, "--params");
        }
    }

    private static double LossValue(string loss, double pw, double pl, double? rw, double? rl, PreferenceTokens pair, LossOptions options)
    {
        using var scope = NewDisposeScope();
        using var noGrad = no_grad();
        var x = new PreferenceLogProbs(tensor(new[] { pw }), tensor(new[] { pl }),
            rw is double a ? tensor(new[] { a }) : null, rl is double b ? tensor(new[] { b }) : null,
            tensor(new[] { (double)pair.Chosen.Length }), tensor(new[] { (double)pair.Rejected.Length }));
        return MarginLoss.Mean(loss, x, options).item<double>();
    }

    private static List<Tensor> Inputs(IReadOnlyList<Parameter> parameters) => [.. parameters.Cast<Tensor>()];

    /// <summary>All gradients flattened into one float64 vector (a parameter the output does not reach contributes zeros).</summary>
    private static Tensor Flat(IList<Tensor> grads, IReadOnlyList<Parameter> parameters)
    {
        var parts = new Tensor[parameters.Count];
        for (var i = 0; i < parameters.Count; i++)
        {
            var g = grads[i];
            parts[i] = g is null || g.IsInvalid ? zeros(parameters[i].numel(), dtype: ScalarType.Float64) : g.detach().reshape(-1).to_type(ScalarType.Float64);
        }

        return cat(parts, 0);
    }

    /// <summary>cos(∇ log p(chosen token i), ∇ log p(rejected token j)) for the first tokens of each response.</summary>
    private static double[,] TokenCosines(ResponseLogProbs logps, IReadOnlyList<Parameter> parameters, PreferenceTokens pair, int maxTokens)
    {
        var tw = Math.Min(pair.Chosen.Length, maxTokens);
        var tl = Math.Min(pair.Rejected.Length, maxTokens);
        var total = tw + tl;
        var vectors = new List<Tensor>(total);
        for (var k = 0; k < total; k++)
        {
            var (row, col) = k < tw ? (0, k) : (1, k - tw);
            var g = Flat(torch.autograd.grad([logps.Tokens[row, col]], Inputs(parameters), retain_graph: k < total - 1, allow_unused: true), parameters);
            vectors.Add(g / g.norm().clamp_min(1e-30));
        }

        var chosen = stack(vectors.Take(tw));
        var rejected = stack(vectors.Skip(tw));
        var cos = chosen.matmul(rejected.t()).data<double>().ToArray();
        var result = new double[tw, tl];
        for (var i = 0; i < tw; i++)
        {
            for (var j = 0; j < tl; j++)
            {
                result[i, j] = cos[(i * tl) + j];
            }
        }

        return result;
    }
}

/// <summary>The probe on model folders, as <c>attune align probe</c> runs it.</summary>
public static class ProbeRunner
{
    /// <summary>
    /// Loads the policy (and the reference, when given) and the tokenizer, encodes the pair
    /// (prompt and responses separately, no special tokens) and probes it.
    /// </summary>
    public static ProbeResult Run(string policyDirectory, string? referenceDirectory, string? tokenizerPath, string prompt, string chosen, string rejected, ProbeOptions options)
    {
        ArgumentNullException.ThrowIfNull(options);
        var (policy, tokenizer) = ModelFolder.Open(policyDirectory, tokenizerPath);
        using (policy)
        {
            var pair = new PreferenceTokens(tokenizer.Encode(prompt), tokenizer.Encode(chosen), tokenizer.Encode(rejected));
            var empty = pair.Prompt.Length == 0 ? "--prompt" : pair.Chosen.Length == 0 ? "--chosen" : pair.Rejected.Length == 0 ? "--rejected" : null;
            if (empty is not null)
            {
                throw new AttuneInputException("encodes to no tokens", null, null, empty);
            }

            var padId = tokenizer.PadTokenId ?? policy.Config.PadTokenId ?? 0;
            double? rw = null, rl = null;
            if (referenceDirectory is not null)
            {
                if (!Directory.Exists(referenceDirectory))
                {
                    throw new AttuneInputException("reference model folder not found", referenceDirectory);
                }

                using var reference = CausalLM.Load(referenceDirectory);
                reference.eval();
                (rw, rl) = EntanglementProbe.ReferenceLogProbs(reference, pair, padId);
            }

            return EntanglementProbe.Run(policy, pair, rw, rl, options, padId);
        }
    }
}

using Attune.Core.Errors;
using TorchSharp;
using static TorchSharp.torch;

namespace Attune.Alignment.Losses;

/// <summary>
/// The sequence log-probabilities a preference loss reads, each a float32 tensor [N]:
/// the policy's summed response log-probs of the chosen and rejected responses, the frozen
/// reference's (null for the reference-free losses) and the response lengths in tokens.
/// </summary>
public sealed record PreferenceLogProbs(Tensor PolicyChosen, Tensor PolicyRejected, Tensor? ReferenceChosen, Tensor? ReferenceRejected, Tensor ChosenLengths, Tensor RejectedLengths);

/// <summary>Hyper-parameters of the margin losses; which ones a loss reads is listed on <see cref="MarginLoss"/>.</summary>
public sealed record LossOptions
{
    /// <summary>β: the inverse temperature of the margin (every loss).</summary>
    public double Beta { get; init; } = 0.1;

    /// <summary>ε of robust / conservative DPO: the assumed probability that a label is flipped (<c>dpo</c> only).</summary>
    public double LabelSmoothing { get; init; }

    /// <summary>α of R-DPO: the weight of the length difference |y_w| − |y_l| (<c>rdpo</c>).</summary>
    public double Alpha { get; init; } = 0.01;

    /// <summary>γ of SimPO: the target reward margin (<c>simpo</c>).</summary>
    public double Gamma { get; init; } = 0.5;

    /// <summary>λ of DPOP (default 50), CPO (default 1) and ORPO (default 0.1); null takes the loss's default.</summary>
    public double? Lambda { get; init; }

    /// <summary>Weight of an extra chosen NLL term (mean over chosen tokens) added to any loss.</summary>
    public double NllWeight { get; init; }
}

/// <summary>Per-pair outputs of a loss, each [N].</summary>
/// <param name="Loss">The loss of each pair (the batch loss is their mean).</param>
/// <param name="Margin">The preference margin the loss acts on (h for reference-based losses; see <see cref="MarginLoss"/>); accuracy counts margin &gt; 0.</param>
/// <param name="ChosenReward">The implicit reward of the chosen response: β(log π − log π_ref), or the loss's reference-free score.</param>
/// <param name="RejectedReward">The same for the rejected response.</param>
public sealed record LossOutput(Tensor Loss, Tensor Margin, Tensor ChosenReward, Tensor RejectedReward) : IDisposable
{
    public void Dispose()
    {
        Loss.Dispose();
        Margin.Dispose();
        ChosenReward.Dispose();
        RejectedReward.Dispose();
    }
}

/// <summary>
/// Margin-based preference losses as pure functions of sequence log-probs, selected by name (in
/// the spirit of TRL's <c>loss_type</c>). With h = (log π(y_w) − log π_ref(y_w)) − (log π(y_l) − log π_ref(y_l)):
/// <list type="table">
/// <item><term><c>dpo</c></term><description>−(1−ε) log σ(βh) − ε log σ(−βh) (ε = 0: DPO; ε &gt; 0: robust/conservative DPO)</description></item>
/// <item><term><c>ipo</c></term><description>(h − 1/(2β))²</description></item>
/// <item><term><c>hinge</c></term><description>max(0, 1 − βh) (SLiC)</description></item>
/// <item><term><c>rdpo</c></term><description>−log σ(βh − α(|y_w| − |y_l|))</description></item>
/// <item><term><c>dpop</c></term><description>−log σ(β(h − λ max(0, log π_ref(y_w) − log π(y_w))))</description></item>
/// <item><term><c>simpo</c></term><description>−log σ(β(log π(y_w)/|y_w| − log π(y_l)/|y_l|) − γ), no reference</description></item>
/// <item><term><c>cpo</c></term><description>−log σ(β(log π(y_w) − log π(y_l))) + λ NLL(y_w), no reference</description></item>
/// <item><term><c>orpo</c></term><description>NLL(y_w) − λ log σ(log odds(y_w) − log odds(y_l)), odds(y) = p̄/(1 − p̄) with p̄ = exp(log π(y)/|y|), no reference</description></item>
/// </list>
/// NLL(y_w) = −log π(y_w)/|y_w|, the mean over chosen tokens. Any loss may add <see cref="LossOptions.NllWeight"/> × NLL(y_w).
/// </summary>
public static class MarginLoss
{
    public const string Dpo = "dpo";
    public const string Ipo = "ipo";
    public const string Hinge = "hinge";
    public const string Rdpo = "rdpo";
    public const string Dpop = "dpop";
    public const string SimPo = "simpo";
    public const string Cpo = "cpo";
    public const string Orpo = "orpo";

    /// <summary>Every loss name, in the order of the documentation.</summary>
    public static readonly IReadOnlyList<string> Names = [Dpo, Ipo, Hinge, Rdpo, Dpop, SimPo, Cpo, Orpo];

    /// <summary>Whether the loss reads the reference model's log-probs.</summary>
    public static bool NeedsReference(string name) => Check(name) is not (SimPo or Cpo or Orpo);

    /// <summary>The canonical (lower-case) name; an unknown name is an <see cref="AttuneInputException"/>.</summary>
    public static string Check(string name)
    {
        var lower = name.Trim().ToLowerInvariant();
        return Names.Contains(lower) ? lower : throw new AttuneInputException($"unknown loss '{name}' (known: {string.Join(", ", Names)})", null, null, "--loss");
    }

    /// <summary>The default λ of a loss (DPOP 50, CPO 1, ORPO 0.1, otherwise 0).</summary>
    public static double DefaultLambda(string name) => Check(name) switch
    {
        Dpop => 50,
        Cpo => 1,
        Orpo => 0.1,
        _ => 0,
    };

    /// <summary>The loss <paramref name="name"/> of every pair, with its margin and implicit rewards.</summary>
    public static LossOutput Compute(string name, PreferenceLogProbs x, LossOptions options)
    {
        ArgumentNullException.ThrowIfNull(x);
        ArgumentNullException.ThrowIfNull(options);
        name = Check(name);
        if (NeedsReference(name) && (x.ReferenceChosen is null || x.ReferenceRejected is null))
        {
            throw new ArgumentException($"the {name} loss needs the reference log-probs");
        }

        if (options.Beta <= 0)
        {
            throw new AttuneInputException("beta must be positive", null, null, "--beta");
        }

        using var scope = NewDisposeScope();
        var beta = options.Beta;
        var lambda = options.Lambda ?? DefaultLambda(name);
        var (pw, pl) = (x.PolicyChosen, x.PolicyRejected);
        var (nw, nl) = (x.ChosenLengths.to_type(pw.dtype).clamp_min(1), x.RejectedLengths.to_type(pl.dtype).clamp_min(1));
        Tensor loss, margin, rw, rl;
        if (NeedsReference(name))
        {
            rw = beta * (pw - x.ReferenceChosen!);
            rl = beta * (pl - x.ReferenceRejected!);
            var h = (pw - x.ReferenceChosen!) - (pl - x.ReferenceRejected!);
            margin = h;
            loss = name switch
            {
                Dpo => DpoLoss(beta * h, options.LabelSmoothing),
                Ipo => (h - (1 / (2 * beta))).square(),
                Hinge => (1 - (beta * h)).relu(),
                Rdpo => -nn.functional.logsigmoid((beta * h) - (options.Alpha * (nw - nl))),
                Dpop => -nn.functional.logsigmoid(beta * (h - (lambda * (x.ReferenceChosen! - pw).relu()))),
                _ => throw new InvalidOperationException(name),
            };
        }
        else
        {
            switch (name)
            {
                case SimPo:
                    rw = beta * pw / nw;
                    rl = beta * pl / nl;
                    margin = (pw / nw) - (pl / nl);
                    loss = -nn.functional.logsigmoid((beta * margin) - options.Gamma);
                    break;
                case Cpo:
                    rw = beta * pw;
                    rl = beta * pl;
                    margin = pw - pl;
                    loss = -nn.functional.logsigmoid(beta * margin) + (lambda * Nll(pw, nw));
                    break;
                default:   // orpo
                    rw = LogOdds(pw / nw);
                    rl = LogOdds(pl / nl);
                    margin = rw - rl;
                    loss = Nll(pw, nw) - (lambda * nn.functional.logsigmoid(margin));
                    break;
            }
        }

        if (options.NllWeight != 0)
        {
            loss = loss + (options.NllWeight * Nll(pw, nw));
        }

        return new LossOutput(loss.MoveToOuterDisposeScope(), margin.detach().MoveToOuterDisposeScope(), rw.detach().MoveToOuterDisposeScope(), rl.detach().MoveToOuterDisposeScope());
    }

    /// <summary>The mean of <see cref="Compute"/>'s per-pair losses: the batch loss.</summary>
    public static Tensor Mean(string name, PreferenceLogProbs x, LossOptions options)
    {
        using var output = Compute(name, x, options);
        return output.Loss.mean();
    }

    /// <summary>
    /// The derivatives (∂L/∂log π(y_w), ∂L/∂log π(y_l)) of one pair's loss at the given values, by
    /// automatic differentiation of the same function (so every loss is covered). For a margin loss
    /// m(h_w(log π_w) − h_l(log π_l)) their ratio −(∂L/∂log π_l)/(∂L/∂log π_w) is h_l′/h_w′, e.g.
    /// |y_w|/|y_l| for SimPO.
    /// </summary>
    public static (double Chosen, double Rejected) Derivatives(string name, double policyChosen, double policyRejected, double? referenceChosen, double? referenceRejected,
        int chosenLength, int rejectedLength, LossOptions options)
    {
        using var scope = NewDisposeScope();
        using var enableGrad = enable_grad();
        var pw = tensor(new[] { (float)policyChosen }).requires_grad_();
        var pl = tensor(new[] { (float)policyRejected }).requires_grad_();
        var x = new PreferenceLogProbs(pw, pl,
            referenceChosen is double a ? tensor(new[] { (float)a }) : null,
            referenceRejected is double b ? tensor(new[] { (float)b }) : null,
            tensor(new[] { (float)chosenLength }), tensor(new[] { (float)rejectedLength }));
        var loss = Mean(name, x, options);
        var grads = torch.autograd.grad([loss], [pw, pl], allow_unused: true);
        double G(Tensor? g) => g is null || g.IsInvalid ? 0 : g.item<float>();
        return (G(grads[0]), G(grads[1]));
    }

    private static Tensor DpoLoss(Tensor scaled, double labelSmoothing) =>
        labelSmoothing == 0
            ? -nn.functional.logsigmoid(scaled)
            : (-(1 - labelSmoothing) * nn.functional.logsigmoid(scaled)) - (labelSmoothing * nn.functional.logsigmoid(-scaled));

    /// <summary>−log π(y)/|y|: the mean negative log-likelihood per token.</summary>
    private static Tensor Nll(Tensor logp, Tensor length) => -logp / length;

    /// <summary>log(p / (1 − p)) for p = exp(<paramref name="meanLogp"/>) &lt; 1: mean − log(1 − exp(mean)).</summary>
    private static Tensor LogOdds(Tensor meanLogp) => meanLogp - (-meanLogp.clamp_max(-1e-6).exp()).log1p();   // clamped: p̄ = 1 would give infinite odds
}

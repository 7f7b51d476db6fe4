using Attune.Alignment.Losses;
using Attune.Core.Errors;
using static TorchSharp.torch;

namespace Attune.Alignment.Tests;

/// <summary>Every loss against its formula written out in plain double arithmetic (two pairs of different lengths).</summary>
public sealed class LossTests
{
    // Pair 0: policy −5 / −7, reference −6 / −6.5, lengths 4 / 2. Pair 1: policy −3 / −2.5, reference −3.2 / −2.0, lengths 3 / 5.
    private static readonly double[] Pw = [-5, -3], Pl = [-7, -2.5], Rw = [-6, -3.2], Rl = [-6.5, -2.0];
    private static readonly int[] Nw = [4, 3], Nl = [2, 5];

    private static double LogSigmoid(double x) => -Math.Log(1 + Math.Exp(-x));

    private static double H(int i) => (Pw[i] - Rw[i]) - (Pl[i] - Rl[i]);

    private static double[] Losses(string name, LossOptions options)
    {
        using var scope = NewDisposeScope();
        var x = new PreferenceLogProbs(tensor(Pw), tensor(Pl), tensor(Rw), tensor(Rl), tensor(Nw.Select(n => (double)n).ToArray()), tensor(Nl.Select(n => (double)n).ToArray()));
        using var output = MarginLoss.Compute(name, x, options);
        return output.Loss.data<double>().ToArray();
    }

    private static void Check(string name, LossOptions options, Func<int, double> expected)
    {
        var actual = Losses(name, options);
        for (var i = 0; i < 2; i++)
        {
            Assert.Equal(expected(i), actual[i], 1e-9);
        }
    }

    [Fact]
    public void Margins_are_the_hand_computed_ones()
    {
        Assert.Equal(1.5, H(0), 1e-12);
        Assert.Equal(0.7, H(1), 1e-12);
    }

    [Fact]
    public void Dpo() => Check("dpo", new LossOptions { Beta = 0.5 }, i => -LogSigmoid(0.5 * H(i)));

    [Fact]
    public void Dpo_value_by_hand()
    {
        // β = 0.5, h = 1.5: −log σ(0.75) = log(1 + e^−0.75) = 0.3868710…
        Assert.Equal(0.38687101, Losses("dpo", new LossOptions { Beta = 0.5 })[0], 1e-7);
    }

    [Fact]
    public void Dpo_with_label_smoothing() =>
        Check("dpo", new LossOptions { Beta = 0.5, LabelSmoothing = 0.2 }, i => (-0.8 * LogSigmoid(0.5 * H(i))) - (0.2 * LogSigmoid(-0.5 * H(i))));

    /// <summary>IPO's target margin is 1/(2β): at β = 0.5 it is 1, so other β values check that β enters as 1/(2β).</summary>
    [Theory]
    [InlineData(0.1)]
    [InlineData(0.5)]
    [InlineData(2.0)]
    public void Ipo(double beta) => Check("ipo", new LossOptions { Beta = beta }, i => Math.Pow(H(i) - (1.0 / (2 * beta)), 2));

    [Fact]
    public void Ipo_value_by_hand()
    {
        // β = 0.1: target margin 5; pair 0 has h = 1.5, so (1.5 − 5)² = 12.25.
        Assert.Equal(12.25, Losses("ipo", new LossOptions { Beta = 0.1 })[0], 1e-9);
    }

    [Fact]
    public void Hinge() => Check("hinge", new LossOptions { Beta = 2 }, i => Math.Max(0, 1 - (2 * H(i))));

    [Fact]
    public void Hinge_is_zero_past_the_margin() => Assert.Equal(0, Losses("hinge", new LossOptions { Beta = 2 })[0]);   // 1 − 2·1.5 < 0

    [Fact]
    public void Rdpo_uses_the_length_difference() =>
        Check("rdpo", new LossOptions { Beta = 0.5, Alpha = 0.1 }, i => -LogSigmoid((0.5 * H(i)) - (0.1 * (Nw[i] - Nl[i]))));

    [Fact]
    public void Dpop_penalises_a_chosen_log_prob_below_the_reference()
    {
        // Pair 0: π_w = −5 > π_ref = −6, no penalty (equals DPO); pair 1: π_w = −3 > −3.2, no penalty either.
        Check("dpop", new LossOptions { Beta = 0.5, Lambda = 5 }, i => -LogSigmoid(0.5 * (H(i) - (5 * Math.Max(0, Rw[i] - Pw[i])))));
        // Swap roles so the chosen log-prob is below the reference: penalty λ(ref − π) = 5 · 1.
        using var scope = NewDisposeScope();
        var x = new PreferenceLogProbs(tensor(new[] { -6.0 }), tensor(new[] { -7.0 }), tensor(new[] { -5.0 }), tensor(new[] { -6.5 }), tensor(new[] { 4.0 }), tensor(new[] { 2.0 }));
        using var output = MarginLoss.Compute("dpop", x, new LossOptions { Beta = 0.5, Lambda = 5 });
        var h = (-6.0 + 5.0) - (-7.0 + 6.5);
        Assert.Equal(-LogSigmoid(0.5 * (h - 5)), output.Loss.item<double>(), 1e-9);
    }

    [Fact]
    public void Simpo_normalises_by_length_and_needs_no_reference()
    {
        var options = new LossOptions { Beta = 2, Gamma = 0.5 };
        Check("simpo", options, i => -LogSigmoid((2 * ((Pw[i] / Nw[i]) - (Pl[i] / Nl[i]))) - 0.5));
        // Pair 0 by hand: 2(−5/4 + 7/2) − 0.5 = 4.0 → log(1 + e^−4) = 0.0181499…
        Assert.Equal(0.01814993, Losses("simpo", options)[0], 1e-7);
        using var scope = NewDisposeScope();
        var x = new PreferenceLogProbs(tensor(Pw), tensor(Pl), null, null, tensor(new[] { 4.0, 3.0 }), tensor(new[] { 2.0, 5.0 }));
        using var output = MarginLoss.Compute("simpo", x, options);
        Assert.Equal(Losses("simpo", options), output.Loss.data<double>().ToArray());
    }

    [Fact]
    public void Cpo_adds_the_chosen_nll() =>
        Check("cpo", new LossOptions { Beta = 0.5, Lambda = 2 }, i => -LogSigmoid(0.5 * (Pw[i] - Pl[i])) + (2 * (-Pw[i] / Nw[i])));

    [Fact]
    public void Orpo_uses_odds_of_the_mean_token_probability()
    {
        static double LogOdds(double logp, int n)
        {
            var p = Math.Exp(logp / n);
            return Math.Log(p / (1 - p));
        }

        Check("orpo", new LossOptions { Lambda = 0.3 }, i => (-Pw[i] / Nw[i]) - (0.3 * LogSigmoid(LogOdds(Pw[i], Nw[i]) - LogOdds(Pl[i], Nl[i]))));
    }

    [Theory]
    [InlineData("dpo")]
    [InlineData("ipo")]
    [InlineData("simpo")]
    [InlineData("orpo")]
    public void Nll_weight_adds_the_mean_chosen_nll(string name)
    {
        var plain = Losses(name, new LossOptions { Beta = 0.5 });
        var withNll = Losses(name, new LossOptions { Beta = 0.5, NllWeight = 0.7 });
        for (var i = 0; i < 2; i++)
        {
            Assert.Equal(plain[i] + (0.7 * (-Pw[i] / Nw[i])), withNll[i], 1e-9);
        }
    }

    [Fact]
    public void Dpo_derivatives_are_beta_sigma()
    {
        var (cw, cl) = MarginLoss.Derivatives("dpo", -5, -7, -6, -6.5, 4, 2, new LossOptions { Beta = 0.5 });
        var s = 1 / (1 + Math.Exp(0.5 * 1.5));   // σ(−βh)
        Assert.Equal(-0.5 * s, cw, 1e-6);
        Assert.Equal(0.5 * s, cl, 1e-6);
    }

    [Fact]
    public void Simpo_derivative_ratio_is_the_length_ratio()
    {
        var (cw, cl) = MarginLoss.Derivatives("simpo", -5, -7, null, null, 4, 2, new LossOptions { Beta = 2 });
        Assert.Equal(2.0 / 4.0, -cw / cl, 1e-5);   // h_w′/h_l′ = |y_l|/|y_w|
    }

    [Fact]
    public void Unknown_names_and_a_missing_reference_are_refused()
    {
        Assert.Throws<AttuneInputException>(() => MarginLoss.Check("kto"));
        Assert.Equal("dpo", MarginLoss.Check("DPO"));
        Assert.True(MarginLoss.NeedsReference("rdpo"));
        Assert.False(MarginLoss.NeedsReference("orpo"));
        using var scope = NewDisposeScope();
        var x = new PreferenceLogProbs(tensor(Pw), tensor(Pl), null, null, tensor(new[] { 4.0, 3.0 }), tensor(new[] { 2.0, 5.0 }));
        Assert.Throws<ArgumentException>(() => MarginLoss.Compute("dpo", x, new LossOptions()));
    }
}

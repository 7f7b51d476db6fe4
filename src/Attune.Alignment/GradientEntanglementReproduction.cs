using System.Diagnostics;
using System.Globalization;
using Attune.Alignment.Losses;
using Attune.Alignment.Probe;
using Attune.Alignment.Training;
using Attune.Core.Randomness;
using Attune.Core.Reports;
using Attune.Core.Reproductions;
using Attune.Torch.Models;
using Attune.Torch.Training;
using TorchSharp;
using static TorchSharp.torch;
using AdamW = Attune.Torch.Training.AdamW;

namespace Attune.Alignment;

/// <summary>
/// Yuan et al. (ICLR 2025), "A Common Pitfall of Margin-based Language Model Alignment: Gradient
/// Entanglement", at toy scale. A tiny Llama learns a synthetic review language by SFT (a topic prompt,
/// then a sentiment word, then neutral filler words); then it is preference-trained, from the SFT
/// weights with the SFT model as reference, on pairs whose responses (a) differ in a single token
/// (one positive vs one negative word) or (b) share a common suffix of k filler tokens after that
/// word. For DPO, IPO, SimPO and R-DPO it records chosen/rejected log-prob curves and margins, the
/// cosine between ∇log π(y_w) and ∇log π(y_l) against k, and a verdict for each claim.
/// </summary>
public sealed class GradientEntanglementReproduction : IReproduction
{
    private static readonly string[] Topics = ["movie", "book", "meal", "song", "game", "trip"];
    private static readonly string[] PositiveWords = ["great", "lovely", "superb", "fine"];
    private static readonly string[] NegativeWords = ["awful", "dull", "poor", "bad"];
    private static readonly string[] Fillers = ["the", "plot", "was", "and", "it", "felt", "very", "quite", "story", "ending", "music", "food", "staff", "long", "short", "day"];
    private static readonly string[] Losses = [MarginLoss.Dpo, MarginLoss.Ipo, MarginLoss.SimPo, MarginLoss.Rdpo];
    private static readonly int[] SuffixLengths = [0, 1, 4, 16];

    private const int Pad = 0, Bos = 1, Eos = 2, Review = 3, Colon = 4;
    private static readonly string[] Vocabulary = ["<pad>", "<bos>", "<eos>", "review", ":", .. Topics, .. PositiveWords, .. NegativeWords, .. Fillers];

    /// <summary>
    /// The precision this reproduction trains in unless <c>repro run --precision</c> says otherwise:
    /// float32: at this model size bfloat16 is slower and changes verdicts (docs/alignment.md, "Precision").
    /// </summary>
    public const Precision OwnPrecision = Precision.Fp32;

    public string Name => "gradient-entanglement";

    public string Paper => "Yuan, Zeng, Wu, Wang, Wang & Leqi, A Common Pitfall of Margin-based Language Model Alignment: Gradient Entanglement (ICLR 2025, arXiv 2410.13828)";

    public string Summary => "Tiny Llama, SFT on a synthetic review language, then DPO/IPO/SimPO/R-DPO on pairs differing in one token or sharing a k-token suffix: gradient cosine vs k, chosen/rejected log-prob curves, verdicts.";

    public Task<ReproductionResult> RunAsync(ReproductionContext context, CancellationToken cancellationToken) =>
        Task.Run(() => Run(context, cancellationToken), cancellationToken);

    private static int Id(string word) => Array.IndexOf(Vocabulary, word);

    private static string Text(IEnumerable<int> ids) => string.Join(' ', ids.Select(i => Vocabulary[i]));

    private sealed record RunCurves(string Loss, int K, string Update, List<double> Chosen, List<double> Rejected, List<double> Margin, double FinalChosen, double FinalRejected, double FinalMargin,
        double InitialChosen, double InitialRejected, double InitialMargin, double ProbeAgreement, int Probes);

    private ReproductionResult Run(ReproductionContext context, CancellationToken ct)
    {
        ArgumentNullException.ThrowIfNull(context);
        var clock = Stopwatch.StartNew();
        var quick = context.Quick;
        var report = context.Report;
        var log = context.Log;
        var result = new ReproductionResult();
        var threads = torch.get_num_threads();
        torch.set_num_threads(1);   // tiny models: one thread is faster than two on a shared machine
        try
        {
            int sftSteps = quick ? 150 : 400, prefSteps = quick ? 30 : 80, pairsPerSetting = quick ? 16 : 32;
            var precision = Precisions.Resolve(context.Precision, OwnPrecision);
            var config = BuiltInModels.Create("llama", "tiny", Vocabulary.Length);
            report.Heading("Setting").Paragraph(string.Create(CultureInfo.InvariantCulture,
                $"A tiny Llama (hidden {config.HiddenSize}, {config.NumLayers} layers, vocabulary of {Vocabulary.Length} words, random init from seed {context.Seed}) learns by SFT ({sftSteps} AdamW steps, batch 32, lr 3e-3) a synthetic review language: " +
                $"`<bos> TOPIC review :` then one sentiment word ({PositiveWords.Length} positive, {NegativeWords.Length} negative, equally likely) then 0-16 neutral filler words drawn uniformly, then `<eos>`. " +
                $"Preference training starts from the SFT weights with the SFT model as the frozen reference; {pairsPerSetting} pairs per setting, all trained in one batch for {prefSteps} AdamW steps (lr 1e-3, no weight decay, no clipping). " +
                $"A pair's chosen response is a positive word followed by a suffix S_k of k filler words, the rejected one a negative word followed by the same S_k: k = 0 is the single-token case (responses differ in their only token), k = 1, 4, 16 the shared-suffix cases. " +
                $"Gradients are over all parameters. Losses: DPO (beta 0.1), IPO (beta 0.1), SimPO (beta 2, gamma 0.5), R-DPO (beta 0.1, alpha 0.01; chosen and rejected have equal lengths here, so R-DPO's length term is zero and it coincides with DPO). Seed {context.Seed}."));
            report.Paragraph(context.Precision is null
                ? $"Precision: {precision.Name()}, this reproduction's own choice: at this model size bfloat16 is slower, and its rounding changes verdicts (measured: docs/alignment.md, section Precision); `repro run --precision bf16` runs it in mixed precision. The gradient probes run in float32 either way."
                : $"Precision: {precision.Name()}, as asked with `--precision`. SFT and preference training compute in it; the gradient probes run in float32 either way.");
            result.Metrics["bf16"] = precision == Precision.Bf16 ? 1 : 0;
            var example = Pairs(Seeds.Create(context.Seed, 100), 1, 4)[0];
            report.Paragraph($"Example pair (k = 4): prompt `{Text(example.Prompt)}`, chosen `{Text(example.Chosen)}`, rejected `{Text(example.Rejected)}`.");

            // 1. SFT.
            log.WriteLine($"  SFT: {sftSteps} steps");
            using var sft = ModelFolder.Initialize(config, context.Seed);
            sft.SetPrecision(precision);
            var sftLosses = Sft(sft, context.Seed, sftSteps, ct);
            sft.SetPrecision(Precision.Fp32);   // the gradient probes below measure the SFT model's geometry in float32 whatever the training precision
            sft.eval();
            report.Paragraph(string.Create(CultureInfo.InvariantCulture, $"SFT loss per token: {sftLosses[0]:F3} at the first step, {sftLosses[^1]:F3} at the last (ln {Fillers.Length} = {Math.Log(Fillers.Length):F3} is the floor for a uniformly drawn filler word)."));
            var sftState = sft.StateDict().ToDictionary(kv => kv.Key, kv => kv.Value.detach().clone());

            // 2. Gradient cosine against k (a property of the SFT model and the pairs, the same for every loss).
            var pairsByK = SuffixLengths.ToDictionary(k => k, k => Pairs(Seeds.Create(context.Seed, 200 + k), pairsPerSetting, k));
            var cosine = new Dictionary<int, (double Mean, double Min, double Max, double ChosenRisesShare)>();
            foreach (var k in SuffixLengths)
            {
                ct.ThrowIfCancellationRequested();
                var probes = pairsByK[k].Select(p =>
                {
                    var (rw, rl) = EntanglementProbe.ReferenceLogProbs(sft, p);
                    return EntanglementProbe.Run(sft, p, rw, rl, new ProbeOptions { Loss = MarginLoss.Dpo });
                }).ToList();
                cosine[k] = (probes.Average(p => p.GradCosine), probes.Min(p => p.GradCosine), probes.Max(p => p.GradCosine), probes.Count(p => p.ChosenRises) / (double)probes.Count);
                result.Metrics[$"cosine_k{k}"] = cosine[k].Mean;
                log.WriteLine(string.Create(CultureInfo.InvariantCulture, $"  k = {k}: mean gradient cosine {cosine[k].Mean:F3}"));
            }

            report.Heading("Gradient cosine against the shared-suffix length k");
            report.Table(["k", "mean cos(g_w, g_l)", "min", "max", "pairs where DPO's first-order rule says chosen rises"],
                [.. SuffixLengths.Select(k => (IReadOnlyList<string>)[k.ToString(CultureInfo.InvariantCulture), F(cosine[k].Mean), F(cosine[k].Min), F(cosine[k].Max), P(cosine[k].ChosenRisesShare)])]);
            report.LinePlot("cosine-vs-k.png", "Gradient cosine vs shared suffix length", "k (shared suffix tokens)", "mean cos(g_w, g_l)",
                [new Series("cosine", [.. SuffixLengths.Select(k => (double)k)], [.. SuffixLengths.Select(k => cosine[k].Mean)])]);
            var probeTokens = pairsByK[4][0];
            var (tw, tl) = EntanglementProbe.ReferenceLogProbs(sft, probeTokens);
            var matrix = EntanglementProbe.Run(sft, probeTokens, tw, tl, new ProbeOptions { TokenMatrix = true }).TokenCosine!;
            report.HeatMap("token-cosine-k4.png", "Per-token gradient cosine, one k = 4 pair (rows: chosen tokens, columns: rejected tokens)", matrix,
                [.. probeTokens.Chosen.Select(i => Vocabulary[i])], [.. probeTokens.Rejected.Select(i => Vocabulary[i])]);
            var diagonal = Enumerable.Range(1, probeTokens.Chosen.Length - 1).Select(i => matrix[i, i]).ToList();
            report.Paragraph(string.Create(CultureInfo.InvariantCulture,
                $"Per-token view of one k = 4 pair: the first tokens (`{Vocabulary[probeTokens.Chosen[0]]}` vs `{Vocabulary[probeTokens.Rejected[0]]}`) have gradient cosine {matrix[0, 0]:F3}; the shared suffix tokens, position by position, {string.Join(", ", diagonal.Select(d => d.ToString("F3", CultureInfo.InvariantCulture)))}."));

            // 3. Preference training for each loss and k.
            var runs = new List<RunCurves>();
            var temp = Path.Combine(Path.GetTempPath(), "attune-ge-" + Guid.NewGuid().ToString("N"));
            try
            {
                foreach (var loss in Losses)
                {
                    foreach (var k in SuffixLengths)
                    {
                        ct.ThrowIfCancellationRequested();
                        runs.Add(Train(sft, sftState, pairsByK[k], loss, k, UpdateRule.AdamW, prefSteps, context.Seed, precision, Path.Combine(temp, $"{loss}-k{k}")));
                        log.WriteLine(string.Create(CultureInfo.InvariantCulture, $"  {loss} k = {k}: chosen {runs[^1].InitialChosen:F2} -> {runs[^1].FinalChosen:F2}, rejected {runs[^1].InitialRejected:F2} -> {runs[^1].FinalRejected:F2}"));
                    }
                }

                // Plain gradient descent (the paper's analysis) for DPO, and the mitigation.
                foreach (var k in SuffixLengths)
                {
                    // One pair alone, so that each step is a step on the probed pair's own loss.
                    runs.Add(Train(sft, sftState, pairsByK[k].Take(1).ToList(), MarginLoss.Dpo, k, UpdateRule.Sgd, prefSteps, context.Seed, precision, Path.Combine(temp, $"sgd-k{k}")));
                }

                foreach (var k in new[] { 4, 16 })
                {
                    runs.Add(Train(sft, sftState, pairsByK[k], MarginLoss.Dpo, k, UpdateRule.PairNormalized, prefSteps, context.Seed, precision, Path.Combine(temp, $"pn-k{k}")));
                }
            }
            finally
            {
                if (Directory.Exists(temp))
                {
                    Directory.Delete(temp, recursive: true);
                }
            }

            report.Heading("Chosen and rejected log-probs during preference training");
            report.Paragraph("Mean over the pairs of the summed response log-probs before each step (the trainer's metrics), and after the last step. Margin is the loss's own margin (h for DPO, IPO, R-DPO; the length-normalised log-prob difference for SimPO).");
            report.Table(["loss", "update", "k", "chosen: start -> end", "rejected: start -> end", "margin: start -> end", "probe: predicted = observed directions"],
                [.. runs.Select(r => (IReadOnlyList<string>)[r.Loss, r.Update, r.K.ToString(CultureInfo.InvariantCulture), $"{F(r.InitialChosen)} -> {F(r.FinalChosen)}", $"{F(r.InitialRejected)} -> {F(r.FinalRejected)}",
                    $"{F(r.InitialMargin)} -> {F(r.FinalMargin)}", $"{r.Probes} probes, {P(r.ProbeAgreement)}"])]);
            foreach (var loss in Losses)
            {
                var series = runs.Where(r => r.Loss == loss && r.Update == "AdamW").SelectMany(r => new[]
                {
                    new Series($"chosen k={r.K}", [.. Enumerable.Range(0, r.Chosen.Count).Select(i => (double)i)], r.Chosen),
                    new Series($"rejected k={r.K}", [.. Enumerable.Range(0, r.Rejected.Count).Select(i => (double)i)], r.Rejected),
                });
                report.LinePlot($"logps-{loss}.png", $"{loss}: mean log pi(y|x) of chosen and rejected", "step", "log pi(y|x)", series);
                report.LinePlot($"margin-{loss}.png", $"{loss}: margin", "step", "margin",
                    runs.Where(r => r.Loss == loss && r.Update == "AdamW").Select(r => new Series($"k={r.K}", [.. Enumerable.Range(0, r.Margin.Count).Select(i => (double)i)], r.Margin)));
            }

            foreach (var r in runs)
            {
                var tag = $"{r.Loss}{(r.Update == "AdamW" ? "" : "_" + r.Update.ToLowerInvariant())}_k{r.K}";
                result.Metrics[$"{tag}_chosen_change"] = r.FinalChosen - r.InitialChosen;
                result.Metrics[$"{tag}_rejected_change"] = r.FinalRejected - r.InitialRejected;
                result.Metrics[$"{tag}_margin_change"] = r.FinalMargin - r.InitialMargin;
            }

            // 4. Verdicts.
            var adam = runs.Where(r => r.Update == "AdamW").ToList();
            var single = adam.Where(r => r.K == 0).ToList();
            var singleRises = single.Where(r => r.FinalChosen > r.InitialChosen).Select(r => r.Loss).ToList();
            result.Claims.Add(new Claim("Single-token difference: the chosen and rejected gradients point apart (negative cosine).",
                cosine[0].Mean < 0, string.Create(CultureInfo.InvariantCulture, $"mean cosine at k = 0 is {cosine[0].Mean:F3} (min {cosine[0].Min:F3}, max {cosine[0].Max:F3}) over {pairsPerSetting} pairs, all parameters")));
            result.Claims.Add(new Claim("Single-token difference: the chosen log-prob rises under training.",
                singleRises.Count == single.Count, $"chosen rose for {singleRises.Count} of {single.Count} losses ({string.Join(", ", single.Select(r => $"{r.Loss} {F(r.InitialChosen)} -> {F(r.FinalChosen)}"))})"));
            var positive = SuffixLengths.Where(k => k > 0).All(k => cosine[k].Mean > 0);
            result.Claims.Add(new Claim("Shared suffix: the gradient cosine is positive.", positive,
                string.Join(", ", SuffixLengths.Where(k => k > 0).Select(k => $"k = {k}: {F(cosine[k].Mean)}"))));
            var growing = cosine[1].Mean < cosine[4].Mean && cosine[4].Mean < cosine[16].Mean;
            result.Claims.Add(new Claim("Shared suffix: the cosine grows with k.", growing,
                string.Join(" -> ", SuffixLengths.Select(k => $"{F(cosine[k].Mean)} (k={k})"))));
            var suffixRuns = adam.Where(r => r.K > 0).ToList();
            bool FallsWhileGrows(RunCurves r) => r.FinalChosen < r.InitialChosen && r.FinalMargin > r.InitialMargin;
            var lossesShowing = Losses.Where(l => suffixRuns.Any(r => r.Loss == l && FallsWhileGrows(r))).ToList();
            result.Claims.Add(new Claim("Shared suffix: the chosen log-prob falls while the margin grows (for every loss, at one or more k).",
                lossesShowing.Count == Losses.Length,
                $"chosen fell while the margin grew in {suffixRuns.Count(FallsWhileGrows)} of {suffixRuns.Count} (loss, k) runs: " +
                string.Join("; ", suffixRuns.Select(r => $"{r.Loss} k={r.K} {(FallsWhileGrows(r) ? "yes" : "no")} (chosen {F(r.InitialChosen)} -> {F(r.FinalChosen)})"))));
            var sgd = runs.Where(r => r.Update == "Sgd").ToList();
            var sgdFalls = sgd.Where(r => r.K > 0 && FallsWhileGrows(r)).ToList();
            result.Claims.Add(new Claim("Shared suffix under plain gradient descent (the setting of the paper's analysis): the chosen log-prob falls while the margin grows.",
                sgdFalls.Count > 0,
                $"DPO with SGD: chosen fell at {(sgdFalls.Count == 0 ? "no k" : string.Join(", ", sgdFalls.Select(r => $"k={r.K}")))}; " +
                string.Join("; ", sgd.Where(r => r.K > 0).Select(r => $"k={r.K}: chosen {F(r.InitialChosen)} -> {F(r.FinalChosen)}, <g_w,g_l> > |g_w|^2 for {P(1 - cosine[r.K].ChosenRisesShare)} of the pairs at the start")) +
                ". At the start |g_w| ~ |g_l|, so even a cosine of 0.95 leaves <g_w,g_l> below |g_w|^2 and the first-order rule predicts no fall; a fall later in a run means the condition changed during training (the mechanism claim's probes follow every step)."));
            var sgdProbes = sgd.Sum(r => r.Probes);
            var sgdAgree = sgd.Sum(r => r.ProbeAgreement * r.Probes);
            result.Claims.Add(new Claim("Mechanism: for a small gradient-descent step, the first-order rule (d log pi_w ~ -lr (c_w |g_w|^2 + c_l <g_w,g_l>), likewise for pi_l) predicts the direction in which each log-prob moves.",
                sgdProbes > 0 && sgdAgree >= 0.9 * sgdProbes,
                string.Create(CultureInfo.InvariantCulture, $"DPO with plain SGD (lr 0.1) on a single pair per k, probed before every step: both predicted directions matched the observed ones in {sgdAgree:F0} of {sgdProbes} probes; ") +
                string.Join("; ", sgd.Select(r => $"k={r.K}: chosen {F(r.InitialChosen)} -> {F(r.FinalChosen)}, rejected {F(r.InitialRejected)} -> {F(r.FinalRejected)}"))));
            var mitigated = runs.Where(r => r.Update == "PairNormalized").ToList();
            report.Heading("Mitigation: pairwise-normalised update (Attune's derivation, not the paper's)");
            report.Paragraph("theta += lr (g_w/|g_w| - g_l/|g_l|) with g_w, g_l the gradients of the batch's summed chosen and rejected log-probs (lr 0.05). To first order it changes log pi(y_w) by lr |g_w| (1 - cos) >= 0 and log pi(y_l) by -lr |g_l| (1 - cos) <= 0, whatever the entanglement. " +
                string.Join("; ", mitigated.Select(r => $"k = {r.K}: chosen {F(r.InitialChosen)} -> {F(r.FinalChosen)}, rejected {F(r.InitialRejected)} -> {F(r.FinalRejected)}")) + ".");

            report.Heading("Verdicts");
            report.Table(["paper's claim", "verdict", "evidence"], [.. result.Claims.Select(c => (IReadOnlyList<string>)[c.Text, c.Reproduced ? "reproduced" : $"**{Claim.Words(c.Verdict)}**", c.Evidence])]);
            var failed = result.Claims.Where(c => c.Verdict == Verdict.NotReproduced).ToList();
            report.Paragraph(failed.Count == 0 ? "Every claim reproduced at this scale."
                : $"Not reproduced here: {string.Join(" ", failed.Select(c => $"\"{c.Text}\""))} See the evidence column; this is a 2-layer model on a toy language.");
            report.Paragraph("Reading the numbers: in these pairs chosen and rejected are symmetric (same lengths, words equally likely after SFT), so at the start |g_w| ~ |g_l| and DPO's first-order rule (<g_w,g_l> < |g_w|^2) predicts that the chosen log-prob rises even at cosine 0.95. " +
                "An AdamW step is not a gradient step (Adam rescales every coordinate), so where the chosen log-prob falls under AdamW although the rule predicted a rise, the rule does not explain it; the agreement column (the probe's gradient-descent prediction vs the observed direction of the actual step) shows how often the rule still called the direction. " +
                "Whether the chosen log-prob falls also depends on the scale of the run: compare the quick and the full run.");
            report.Paragraph(string.Create(CultureInfo.InvariantCulture, $"Wall time {clock.Elapsed.TotalSeconds:F1} s (1 torch thread)."));
            foreach (var t in sftState.Values)
            {
                t.Dispose();
            }

            return result;
        }
        finally
        {
            torch.set_num_threads(threads);
        }
    }

    private static string F(double x) => x.ToString("F3", CultureInfo.InvariantCulture);

    private static string P(double x) => x.ToString("P0", CultureInfo.InvariantCulture);

    /// <summary><paramref name="count"/> pairs: positive word + S_k vs negative word + S_k.</summary>
    private static List<PreferenceTokens> Pairs(Random rng, int count, int k) =>
    [
        .. Enumerable.Range(0, count).Select(_ =>
        {
            var prompt = new[] { Bos, Id(Topics[rng.Next(Topics.Length)]), Review, Colon };
            var suffix = Enumerable.Range(0, k).Select(_ => Id(Fillers[rng.Next(Fillers.Length)])).ToArray();
            return new PreferenceTokens(prompt, [Id(PositiveWords[rng.Next(PositiveWords.Length)]), .. suffix], [Id(NegativeWords[rng.Next(NegativeWords.Length)]), .. suffix]);
        }),
    ];

    /// <summary>SFT on the review language (loss on response tokens); returns the loss per token of every step.</summary>
    private static List<double> Sft(CausalLM model, int seed, int steps, CancellationToken ct)
    {
        var rng = Seeds.Create(seed, 1);
        return SequenceSft.Run(model, () => [.. Enumerable.Range(0, 32).Select(_ =>
        {
            var words = rng.Next(2) == 0 ? PositiveWords : NegativeWords;
            var length = rng.Next(17);
            int[] response = [Id(words[rng.Next(words.Length)]), .. Enumerable.Range(0, length).Select(_ => Id(Fillers[rng.Next(Fillers.Length)])), Eos];
            return new SequencePair([Bos, Id(Topics[rng.Next(Topics.Length)]), Review, Colon], response);
        })], steps, 3e-3, Pad, ct);
    }

    private static RunCurves Train(CausalLM sft, Dictionary<string, Tensor> sftState, List<PreferenceTokens> pairs, string loss, int k, UpdateRule update, int steps, int seed, Precision precision, string output)
    {
        using var policy = new CausalLM(sft.Config);
        policy.LoadStateDict(sftState, "sft");
        var options = new PreferenceTrainerOptions
        {
            Loss = loss,
            LossOptions = loss == MarginLoss.SimPo ? new LossOptions { Beta = 2, Gamma = 0.5 } : new LossOptions { Beta = 0.1, Alpha = 0.01 },
            Update = update,
            BatchSize = pairs.Count,
            Epochs = steps,
            LearningRate = update switch { UpdateRule.PairNormalized => 0.05, UpdateRule.Sgd => 0.1, _ => 1e-3 },
            Schedule = ScheduleKind.Constant,
            MaxGradNorm = 0,
            AdamW = new AdamWOptions { WeightDecay = 0 },
            ProbeEvery = update == UpdateRule.Sgd ? 1 : Math.Max(1, steps / 6),
            ProbeParameters = "all",
            Plot = false,
            LogEvery = 0,
            Seed = seed,
            Precision = precision,
            KeepCheckpoints = 1,
        };
        var trainer = new PreferenceTrainer(policy, sft, pairs, pairs, options, output);
        var r = trainer.Run();
        var h = r.History;
        return new RunCurves(loss, k, update.ToString(), [.. h.Select(s => s.ChosenLogp), r.FinalEval!.ChosenLogp], [.. h.Select(s => s.RejectedLogp), r.FinalEval.RejectedLogp],
            [.. h.Select(s => s.Margin), r.FinalEval.Margin], r.FinalEval.ChosenLogp, r.FinalEval.RejectedLogp, r.FinalEval.Margin,
            r.InitialEval!.ChosenLogp, r.InitialEval.RejectedLogp, r.InitialEval.Margin,
            r.Probes.Count == 0 ? 0 : r.Probes.Count(p => p.Agrees) / (double)r.Probes.Count, r.Probes.Count);
    }
}

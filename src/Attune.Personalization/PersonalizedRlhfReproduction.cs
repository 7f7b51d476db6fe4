using System.Diagnostics;
using System.Globalization;
using Attune.Alignment.Losses;
using Attune.Alignment.Training;
using Attune.Core.Randomness;
using Attune.Core.Reports;
using Attune.Core.Reproductions;
using Attune.Torch.Models;
using Attune.Torch.Training;
using TorchSharp;
using static TorchSharp.torch;

namespace Attune.Personalization;

/// <summary>
/// The <c>personalized-rlhf</c> reproduction: a synthetic summarisation language whose annotators
/// disagree about length (a majority prefers longer summaries, a minority shorter ones, each label
/// agreeing with its annotator's type with probability 0.75), a tiny Llama fine-tuned on it, then
/// vanilla DPO, P-DPO with individual user models and P-DPO with a two-prototype cluster model, all
/// from the same SFT model. The four claims and their criteria are fixed in <see cref="Criteria"/>.
/// </summary>
public sealed class PersonalizedRlhfReproduction : IReproduction
{
    private const int Pad = 0, Bos = 1, Eos = 2, Post = 3, Colon = 4;
    private const int FirstWord = 5, Words = 24;
    private const double LabelAgreement = 0.75;

    /// <summary>The criteria, written before any run and printed in the report.</summary>
    public static readonly IReadOnlyList<string> Criteria =
    [
        "Minority: P-DPO (individual) held-out accuracy on minority-type users exceeds vanilla DPO's by at least 0.05; majority: P-DPO's is at most 0.05 below vanilla's.",
        "Generations follow the user: under P-DPO (individual) the mean generated length of majority-type users exceeds the minority-type users' by at least 1 token with Welch t >= 3; under vanilla DPO the difference is below 0.5 token.",
        "Unknown users (never seen in training) read with the generic tokens: accuracy on majority-type unknown users' pairs is at least 0.6 and above that on minority-type unknown users' pairs.",
        "Cluster model (K = 2): the purity of the users' argmax clusters against their types is at least 0.8.",
    ];

    /// <summary>
    /// The precision this reproduction trains in unless <c>repro run --precision</c> says otherwise:
    /// float32: at this model size bfloat16 is slower and changes verdicts (docs/personalization.md, "Precision").
    /// </summary>
    public const Precision OwnPrecision = Precision.Fp32;

    public string Name => "personalized-rlhf";

    public string Paper => "Li, Zhou, Lipton & Leqi, Personalized Language Modeling from Personalized Human Feedback (arXiv 2402.05133)";

    public string Summary => "Tiny Llama on a synthetic summarisation language whose annotators disagree about length: vanilla DPO vs P-DPO (individual and cluster user models): per-type accuracy, generated lengths, unknown users, cluster purity.";

    private sealed record User(string Id, bool PrefersLong, bool Known);

    private sealed record Outcome(IReadOnlyList<UserAccuracy> Accuracy, Dictionary<string, List<int>> Lengths, UserModel Users, IReadOnlyList<double> Loss,
        double UnknownMajority, double UnknownMinority);

    public Task<ReproductionResult> RunAsync(ReproductionContext context, CancellationToken cancellationToken) =>
        Task.Run(() => Run(context, cancellationToken), cancellationToken);

    private ReproductionResult Run(ReproductionContext context, CancellationToken ct)
    {
        ArgumentNullException.ThrowIfNull(context);
        var clock = Stopwatch.StartNew();
        var quick = context.Quick;
        var report = context.Report;
        var log = context.Log;
        var result = new ReproductionResult();
        var threads = get_num_threads();
        set_num_threads(1);
        try
        {
            int pairsPerUser = quick ? 32 : 64, sftSteps = quick ? 800 : 1500, epochs = quick ? 8 : 10, generations = quick ? 24 : 64;
            var rng = Seeds.Create(context.Seed, 7);
            var precision = Precisions.Resolve(context.Precision, OwnPrecision);
            // 7 majority-type (long) and 4 minority-type (short) known users: 64% of the pairs are the majority's.
            List<User> users = [.. Enumerable.Range(0, 7).Select(i => new User($"long-{i}", true, true)), .. Enumerable.Range(0, 4).Select(i => new User($"short-{i}", false, true)),
                new("new-long-0", true, false), new("new-long-1", true, false), new("new-short-0", false, false), new("new-short-1", false, false)];
            var train = new List<PersonalPair>();
            var eval = new List<(PersonalPair Pair, User User)>();
            foreach (var u in users)
            {
                // Training pairs carry the annotator's noisy labels; held-out pairs are labelled by the type (clean).
                if (u.Known)
                {
                    train.AddRange(Enumerable.Range(0, pairsPerUser).Select(_ => Pair(rng, u, noisy: true)));
                }

                eval.AddRange(Enumerable.Range(0, quick ? 12 : 24).Select(_ => (Pair(rng, u, noisy: false), u)));
            }

            var config = BuiltInModels.Create("llama", "tiny", FirstWord + Words) with { MaxPositionEmbeddings = 64 };
            report.Heading("Setting").Paragraph(string.Create(CultureInfo.InvariantCulture,
                $"A synthetic summarisation language: a prompt is `post w1 … w5 :` (words from a vocabulary of {Words}), a summary is 1–8 words then end-of-sequence. " +
                $"{users.Count(u => u.Known)} known annotators ({users.Count(u => u.Known && u.PrefersLong)} prefer longer summaries, {users.Count(u => u.Known && !u.PrefersLong)} shorter; " +
                $"{pairsPerUser} pairs each, so the majority type gives {100.0 * users.Count(u => u.Known && u.PrefersLong) / users.Count(u => u.Known):F0}% of the pairs); each training label agrees with the annotator's type with probability {LabelAgreement}. " +
                $"{users.Count(u => !u.Known)} more annotators (two of each type) are never seen in training. Held-out pairs are labelled by type. " +
                $"A tiny Llama (hidden {config.HiddenSize}, {config.NumLayers} layers) is fine-tuned ({sftSteps} steps) on summaries of uniform length, then trained {epochs} epochs from that SFT model three ways: " +
                $"vanilla DPO (no user tokens), P-DPO with individual user models, P-DPO with a cluster model (K = 2); T_u = 4, alpha = 0.5, beta = 0.5, lr 2e-3, batch 16, seed {context.Seed}."));
            report.Paragraph(context.Precision is null
                ? $"Precision: {precision.Name()}, this reproduction's own choice: at this model size bfloat16 is slower, and its rounding changes verdicts (measured: docs/personalization.md, section Precision); `repro run --precision bf16` runs it in mixed precision."
                : $"Precision: {precision.Name()}, as asked with `--precision` (SFT, preference training and evaluation).");
            result.Metrics["bf16"] = precision == Precision.Bf16 ? 1 : 0;
            report.Heading("Criteria (fixed before the run)").Paragraph(string.Join("\n", Criteria.Select((c, i) => $"{i + 1}. {c}")));

            log.WriteLine($"  SFT: {sftSteps} steps");
            using var sft = ModelFolder.Initialize(config, context.Seed);
            sft.SetPrecision(precision);   // the reference keeps it: its log-probs are computed as the policy's
            var sftLoss = Sft(sft, rng, sftSteps, ct);
            var state = sft.StateDict().ToDictionary(kv => kv.Key, kv => kv.Value.detach().clone());
            report.Paragraph(string.Create(CultureInfo.InvariantCulture, $"SFT loss per token: {sftLoss[0]:F3} at the first step, {sftLoss[^1]:F3} at the last."));

            var known = users.Where(u => u.Known).Select(u => u.Id).ToList();
            var temp = Path.Combine(report.Directory, "runs");
            var options = new PreferenceTrainerOptions
            {
                Loss = MarginLoss.Dpo, LossOptions = new LossOptions { Beta = 0.5 }, BatchSize = 16, Epochs = epochs, LearningRate = 2e-3, Plot = false, LogEvery = 0,
                Seed = context.Seed, CacheReference = true, Precision = precision,
            };
            var evalPairs = eval.Select(e => e.Pair).ToList();
            var outcomes = new Dictionary<string, Outcome>();
            foreach (var (name, kind) in new[] { ("vanilla DPO", UserModelKind.None), ("P-DPO individual", UserModelKind.Individual), ("P-DPO cluster", UserModelKind.Cluster) })
            {
                ct.ThrowIfCancellationRequested();
                log.WriteLine($"  {name}: {train.Count} pairs, {epochs} epochs");
                var policy = new CausalLM(config);
                policy.LoadStateDict(state, "sft");
                policy.SetPrecision(precision);
                var userModel = UserModel.Create(new UserModelOptions { Kind = kind, Tokens = 4, Clusters = 2 }, known, policy.Embed(arange(config.VocabSize)).detach(), context.Seed);
                var personal = new PersonalizedDpoOptions { Alpha = 0.5, SoftTokensAt = 1 };
                var trainer = new PersonalizedTrainer(policy, sft, userModel, train, null, options, personal, Path.Combine(temp, kind.ToString().ToLowerInvariant()));
                var run = trainer.Run(ct);
                var accuracy = PersonalizedEvaluation.PerUser(policy, sft, userModel, evalPairs, personal);
                var lengths = Lengths(policy, userModel, users, eval, generations, context.Seed);
                // Users never seen in training, one type at a time (PerUser groups all unknown users in one row).
                double Unknown(bool prefersLong) => PersonalizedEvaluation.PerUser(policy, sft, userModel,
                    [.. eval.Where(e => !e.User.Known && e.User.PrefersLong == prefersLong).Select(e => e.Pair)], personal).Single().Accuracy;
                outcomes[name] = new Outcome(accuracy, lengths, userModel, [.. run.History.Select(h => h.Loss)], Unknown(true), Unknown(false));
                policy.Dispose();
            }

            Report(report, result, users, eval, outcomes);
            result.Metrics["seconds"] = Math.Round(clock.Elapsed.TotalSeconds, 1);
            foreach (var t in state.Values)
            {
                t.Dispose();
            }

            foreach (var o in outcomes.Values)
            {
                o.Users.Dispose();
            }

            Directory.Delete(temp, recursive: true);
            return result;
        }
        finally
        {
            set_num_threads(threads);
        }
    }

    private static int[] Prompt(Random rng) => [Bos, Post, .. Enumerable.Range(0, 5).Select(_ => FirstWord + rng.Next(Words)), Colon];

    private static int[] SummaryOf(Random rng, int length) => [.. Enumerable.Range(0, length).Select(_ => FirstWord + rng.Next(Words)), Eos];

    /// <summary>A short (1–3 words) and a long (5–8 words) summary of one prompt, ordered by the user's type (noisy: flipped with probability 1 − agreement).</summary>
    private static PersonalPair Pair(Random rng, User user, bool noisy)
    {
        var prompt = Prompt(rng);
        var shortOne = SummaryOf(rng, 1 + rng.Next(3));
        var longOne = SummaryOf(rng, 5 + rng.Next(4));
        var prefersLong = user.PrefersLong ^ (noisy && rng.NextDouble() > LabelAgreement);
        var tokens = prefersLong ? new PreferenceTokens(prompt, longOne, shortOne) : new PreferenceTokens(prompt, shortOne, longOne);
        return new PersonalPair(tokens, user.Id);
    }

    /// <summary>SFT on summaries of uniform length 1–8: the model learns the language and to stop, with no length preference.</summary>
    private static List<double> Sft(CausalLM model, Random rng, int steps, CancellationToken ct) =>
        SequenceSft.Run(model, () => [.. Enumerable.Range(0, 32).Select(_ => new SequencePair(Prompt(rng), SummaryOf(rng, 1 + rng.Next(8))))], steps, 3e-3, Pad, ct);

    /// <summary>Generated summary lengths (words before end-of-sequence) per user, sampling from fresh prompts with the same seeds for every user.</summary>
    private static Dictionary<string, List<int>> Lengths(CausalLM policy, UserModel userModel, IReadOnlyList<User> users, IReadOnlyList<(PersonalPair Pair, User User)> eval, int count, int seed)
    {
        var prompts = Enumerable.Range(0, count).Select(i => eval[i % eval.Count].Pair.Tokens.Prompt).ToList();
        var result = new Dictionary<string, List<int>>(StringComparer.Ordinal);
        foreach (var u in users)
        {
            using var soft = userModel.Tokens == 0 ? null : userModel.Embed([.. prompts.Select(_ => (string?)u.Id)]).detach();
            var generated = Generation.Generate(policy, prompts, new GenerationOptions { MaxNewTokens = 12, Seed = seed, StopTokenIds = [Eos], PadTokenId = Pad },
                soft is null ? null : new SoftPrefix(soft, 1));
            result[u.Id] = [.. generated.Select(g => g.NewIds.TakeWhile(id => id != Eos).Count())];
        }

        return result;
    }

    private static void Report(Report report, ReproductionResult result, IReadOnlyList<User> users, IReadOnlyList<(PersonalPair Pair, User User)> eval,
        Dictionary<string, Outcome> outcomes)
    {
        static string F(double x) => x.ToString("0.000", CultureInfo.InvariantCulture);
        var type = users.ToDictionary(u => u.Id, u => u.PrefersLong, StringComparer.Ordinal);
        var pairsByUser = eval.GroupBy(e => e.User.Id).ToDictionary(g => g.Key, g => g.Count(), StringComparer.Ordinal);

        // Accuracy by type (known users, each read with their own tokens), from the per-user table weighted by pairs.
        double TypeAccuracy(IReadOnlyList<UserAccuracy> rows, bool prefersLong, bool knownUsers, bool generic = false)
        {
            var picked = eval.Where(e => e.User.PrefersLong == prefersLong && e.User.Known == knownUsers).Select(e => e.User.Id).Distinct().ToList();
            var rowsById = rows.ToDictionary(r => r.User, r => r, StringComparer.Ordinal);
            double correct = 0, total = 0;
            foreach (var id in picked)
            {
                var n = pairsByUser[id];
                var row = rowsById.GetValueOrDefault(id);
                if (row is null)
                {
                    continue;
                }

                correct += (generic ? row.GenericAccuracy : row.Accuracy) * n;
                total += n;
            }

            return total == 0 ? double.NaN : correct / total;
        }

        report.Heading("Held-out preference accuracy");
        var table = new List<IReadOnlyList<string>>();
        foreach (var (name, o) in outcomes)
        {
            // Unknown users are one row "(unknown)" in PerUser; compute their per-type accuracy separately below.
            table.Add([name, F(TypeAccuracy(o.Accuracy, true, true)), F(TypeAccuracy(o.Accuracy, false, true)), F(o.Loss.Count > 0 ? o.Loss[^1] : double.NaN)]);
        }

        report.Table(["training", "majority type (long)", "minority type (short)", "last training loss"], table);

        var vanilla = outcomes["vanilla DPO"];
        var individual = outcomes["P-DPO individual"];
        var cluster = outcomes["P-DPO cluster"];
        double vMaj = TypeAccuracy(vanilla.Accuracy, true, true), vMin = TypeAccuracy(vanilla.Accuracy, false, true);
        double pMaj = TypeAccuracy(individual.Accuracy, true, true), pMin = TypeAccuracy(individual.Accuracy, false, true);
        result.Metrics["accuracy.vanilla.majority"] = vMaj;
        result.Metrics["accuracy.vanilla.minority"] = vMin;
        result.Metrics["accuracy.individual.majority"] = pMaj;
        result.Metrics["accuracy.individual.minority"] = pMin;
        result.Metrics["accuracy.cluster.majority"] = TypeAccuracy(cluster.Accuracy, true, true);
        result.Metrics["accuracy.cluster.minority"] = TypeAccuracy(cluster.Accuracy, false, true);
        result.Claims.Add(new Claim("P-DPO's held-out preference accuracy is higher than vanilla DPO's for the minority type, and not lower for the majority type.",
            pMin >= vMin + 0.05 && pMaj >= vMaj - 0.05,
            $"minority: vanilla {F(vMin)}, P-DPO {F(pMin)}; majority: vanilla {F(vMaj)}, P-DPO {F(pMaj)}"));

        // Generated lengths by type.
        (double Mean, double Var, int N) Stats(Dictionary<string, List<int>> lengths, bool prefersLong)
        {
            var xs = users.Where(u => u.Known && u.PrefersLong == prefersLong).SelectMany(u => lengths[u.Id]).Select(x => (double)x).ToList();
            var mean = xs.Average();
            return (mean, xs.Sum(x => (x - mean) * (x - mean)) / Math.Max(1, xs.Count - 1), xs.Count);
        }

        double Welch((double Mean, double Var, int N) a, (double Mean, double Var, int N) b) =>
            (a.Mean - b.Mean) / Math.Sqrt(Math.Max(1e-12, (a.Var / a.N) + (b.Var / b.N)));
        var lengthRows = new List<IReadOnlyList<string>>();
        foreach (var (name, o) in outcomes)
        {
            var (l, s) = (Stats(o.Lengths, true), Stats(o.Lengths, false));
            lengthRows.Add([name, F(l.Mean), F(s.Mean), F(l.Mean - s.Mean), F(Welch(l, s))]);
            result.Metrics[$"length.{(o.Users.Options.Kind == UserModelKind.None ? "vanilla" : o.Users.Options.Kind.ToString().ToLowerInvariant())}.difference"] = l.Mean - s.Mean;
        }

        report.Heading("Generated summary length (words)");
        report.Table(["training", "majority-type users", "minority-type users", "difference", "Welch t"], lengthRows);
        var (pl, ps) = (Stats(individual.Lengths, true), Stats(individual.Lengths, false));
        var (vl, vs) = (Stats(vanilla.Lengths, true), Stats(vanilla.Lengths, false));
        result.Claims.Add(new Claim("Generations follow the user: mean generated length differs between the two types under P-DPO, and not under vanilla DPO.",
            pl.Mean - ps.Mean >= 1.0 && Welch(pl, ps) >= 3 && Math.Abs(vl.Mean - vs.Mean) < 0.5,
            $"P-DPO: {F(pl.Mean)} vs {F(ps.Mean)} words (t = {F(Welch(pl, ps))}); vanilla: {F(vl.Mean)} vs {F(vs.Mean)}"));

        // Unknown users through the generic tokens.
        var unknownMajority = individual.UnknownMajority;
        var unknownMinority = individual.UnknownMinority;
        result.Metrics["unknown.majority_accuracy"] = unknownMajority;
        result.Metrics["unknown.minority_accuracy"] = unknownMinority;
        result.Claims.Add(new Claim("An unknown user gets the generic behaviour, which follows the population majority.",
            unknownMajority >= 0.6 && unknownMajority > unknownMinority,
            $"P-DPO (individual), users never seen in training, generic tokens: accuracy {F(unknownMajority)} on majority-type users' pairs, {F(unknownMinority)} on minority-type users'"));

        // Cluster purity.
        var assignments = users.Where(u => u.Known).Select(u => (u.PrefersLong, Cluster: Array.IndexOf(cluster.Users.Weights(u.Id)!, cluster.Users.Weights(u.Id)!.Max()))).ToList();
        var purity = assignments.GroupBy(a => a.Cluster).Sum(g => Math.Max(g.Count(a => a.PrefersLong), g.Count(a => !a.PrefersLong))) / (double)assignments.Count;
        result.Metrics["cluster.purity"] = purity;
        report.Heading("Cluster weights (K = 2)");
        report.Table(["user", "type", "weights"], users.Where(u => u.Known).Select(u => (IReadOnlyList<string>)[u.Id, u.PrefersLong ? "long" : "short",
            string.Join(" ", cluster.Users.Weights(u.Id)!.Select(F))]));
        result.Claims.Add(new Claim("The cluster model's weights separate the two types (purity of the argmax clusters).",
            purity >= 0.8, $"purity {F(purity)} over {assignments.Count} known users"));

        report.LinePlot("training-loss", "Training loss", "step", "loss", outcomes.Select(o => new Series(o.Key, [.. Enumerable.Range(1, o.Value.Loss.Count).Select(i => (double)i)], o.Value.Loss)));
        report.BarPlot("minority-accuracy", "Held-out accuracy, minority type", "training", "accuracy", [.. outcomes.Keys], [.. outcomes.Values.Select(o => TypeAccuracy(o.Accuracy, false, true))]);
    }
}

using System.Diagnostics;
using System.Globalization;
using System.Text.Json.Nodes;
using Attune.Core.Randomness;
using Attune.Core.Reports;
using Attune.Core.Reproductions;
using Attune.Core.Statistics;
using Attune.Reasoning.Tasks;
using Attune.Torch.Merging;
using Attune.Torch.Models;
using Attune.Torch.Tokenizers;
using Attune.Torch.Training;

namespace Attune.Reasoning;

/// <summary>
/// The <c>composable-cot</c> reproduction, at small scale on a character-level tiny Llama trained here
/// from scratch: atomic CoT training on <c>concat</c> and <c>next</c>, zero-shot accuracy on their
/// composition <c>concat-next</c> for standard-CoT MTL, ComposableCoT-MTL and ComposableCoT-Merge, then
/// a small compositional budget used by RFT on ComposableCoT-MTL, by answer-only fine-tuning and by
/// continued fine-tuning of the standard-CoT MTL model. The criteria are fixed in <see cref="Criteria"/>.
/// </summary>
public sealed class ComposableCotReproduction : IReproduction
{
    /// <summary>The one-sided level of the two-proportion tests behind every claim.</summary>
    public const double Alpha = 0.05;

    /// <summary>The criteria, written before any run and printed in the report.</summary>
    public static readonly IReadOnlyList<string> Criteria =
    [
        "(a1) ComposableCoT-MTL's zero-shot exact-match accuracy on concat-next is higher than standard-CoT MTL's: one-sided pooled two-proportion z-test, p < 0.05, on the same test questions.",
        "(a2) ComposableCoT-Merge's (task arithmetic, weights picked on the validation split) zero-shot accuracy on concat-next is higher than standard-CoT MTL's, by the same test.",
        "(b) With the same compositional budget (the same questions with answers), ComposableCoT-MTL + RFT is more accurate than answer-only fine-tuning of the base model AND than continued (answer-only) fine-tuning of the standard-CoT MTL model: both one-sided tests p < 0.05.",
    ];

    public string Name => "composable-cot";

    public string Paper => "Yin, Liu, Leqi, Ye & Durrett, Learning Composable Chains-of-Thought (arXiv 2505.22635)";

    public string Summary => "Character-level tiny Llama trained from scratch on concat and next: zero-shot concat-next accuracy of standard-CoT MTL vs ComposableCoT-MTL/Merge, then RFT vs answer-only and continued fine-tuning on the same compositional budget.";

    /// <summary>The sizes of a run.</summary>
    internal sealed record Scale(string Size, int AtomicPerTask, int Steps, int Batch, double Lr, int Test, int Validation, int Budget,
        int RftSamples, int RftRounds, double Temperature, int BudgetEpochs, double BudgetLr, IReadOnlyList<double> Grid);

    internal static Scale QuickScale { get; } = new("tiny", 2000, 600, 16, 5e-3, 100, 24, 64, 4, 1, 1.0, 3, 1e-3, [0.5, 1.0]);

    internal static Scale FullScale { get; } = new("tiny", 6000, 2500, 16, 5e-3, 300, 48, 128, 4, 2, 1.0, 3, 1e-3, [0.5, 0.75, 1.0]);

    public Task<ReproductionResult> RunAsync(ReproductionContext context, CancellationToken cancellationToken) =>
        Task.Run(() => Run(context, cancellationToken), cancellationToken);

    private ReproductionResult Run(ReproductionContext context, CancellationToken ct)
    {
        ArgumentNullException.ThrowIfNull(context);
        // One thread: a model this small spends two threads' time synchronising (measured: docs/reasoning.md).
        var threads = TorchSharp.torch.get_num_threads();
        TorchSharp.torch.set_num_threads(1);
        try
        {
            return Run(context, ct, context.Quick ? QuickScale : FullScale);
        }
        finally
        {
            TorchSharp.torch.set_num_threads(threads);
        }
    }

    private ReproductionResult Run(ReproductionContext context, CancellationToken ct, Scale scale)
    {
        var clock = Stopwatch.StartNew();
        var report = context.Report;
        var log = context.Log;
        var result = new ReproductionResult();
        var work = Path.Combine(report.Directory, "work");
        Directory.CreateDirectory(work);
        var seconds = new Dictionary<string, double>(StringComparer.Ordinal);
        void Timed(string what, Action action)
        {
            var watch = Stopwatch.StartNew();
            action();
            seconds[what] = Math.Round(watch.Elapsed.TotalSeconds, 1);
            log.WriteLine(string.Create(CultureInfo.InvariantCulture, $"  {what}: {seconds[what]:F1} s"));
        }

        // ---- data: the same atomic examples in both formats; compositional test, validation and budget questions.
        var concat = ReasoningTasks.Find("concat");
        var next = ReasoningTasks.Find("next");
        var composition = ReasoningTasks.Find("concat-next");
        var files = new Dictionary<string, string>(StringComparer.Ordinal);
        foreach (var task in new[] { concat, next })
        {
            var rng = Seeds.Create(context.Seed, 100 + task.Name.Length);
            var examples = Enumerable.Range(0, scale.AtomicPerTask).Select(_ => task.Generate(rng)).ToList();
            var formatRng = Seeds.Create(context.Seed, 200 + task.Name.Length);
            foreach (var format in new[] { CotFormat.Standard, CotFormat.Composable })
            {
                var path = Path.Combine(work, $"{task.Name}.{format.ToString().ToLowerInvariant()}.json");
                CotData.Write(path, examples.Select((e, i) => CotData.ToJson(CotFormats.Write(e, format, suffix: i % 2 == 1, formatRng))));
                files[$"{task.Name}.{format}"] = path;
            }
        }

        var compositionRng = Seeds.Create(context.Seed, 300);
        List<CotQuestion> Questions(int n) => [.. CotEvaluation.Questions(
            [.. Enumerable.Range(0, n).Select(_ => CotData.ToJson(CotFormats.Write(composition.Generate(compositionRng), CotFormat.AnswerOnly, false, compositionRng)))], "generated")];
        var test = Questions(scale.Test);
        var validation = Questions(scale.Validation);
        var budgetPath = Path.Combine(work, "budget.answer-only.json");
        var budgetRng = Seeds.Create(context.Seed, 400);
        CotData.Write(budgetPath, Enumerable.Range(0, scale.Budget).Select(_ => CotData.ToJson(CotFormats.Write(composition.Generate(budgetRng), CotFormat.AnswerOnly, false, budgetRng))));
        var budget = CotEvaluation.Questions(CotData.Read(budgetPath), budgetPath);

        // ---- the base model: a character-level tiny Llama, fresh weights.
        var tokenizer = CharTokenizer.FromAlphabet(new string([.. Enumerable.Range(32, 95).Select(i => (char)i)]));
        var config = BuiltInModels.Create("llama", scale.Size, tokenizer.VocabSize) with
        {
            MaxPositionEmbeddings = 1024,
            BosTokenId = tokenizer.BosTokenId,
            EosTokenIds = [tokenizer.EosTokenId!.Value],
            PadTokenId = tokenizer.PadTokenId,
        };
        var baseDir = Path.Combine(work, "base");
        using (var fresh = ModelFolder.Initialize(config, context.Seed))
        {
            fresh.Save(baseDir);
        }

        tokenizer.Save(Path.Combine(baseDir, "tokenizer.json"));
        var atomicSettings = Settings(scale.Steps / 2, 1000, scale.Batch, scale.Lr, context.Seed);
        var mtlSettings = Settings(scale.Steps, 1000, scale.Batch, scale.Lr, context.Seed);

        report.Heading("Setting").Paragraph(string.Create(CultureInfo.InvariantCulture,
            $"Atomic tasks `concat` and `next`, target composition `concat-next` (the paper's string tasks and CoT texts, `docs/reasoning.md`). " +
            $"{scale.AtomicPerTask} generated examples per atomic task, the same examples written in the standard format and in the composable format (half prefix form, half suffix form with a random proxy prefix). " +
            $"The base model is a Llama of size `{scale.Size}` (hidden {config.HiddenSize}, {config.NumLayers} layers, {config.NumHeads} heads) over a character vocabulary of {tokenizer.VocabSize} tokens (printable ASCII and four specials), trained here from scratch: it has no pre-training. " +
            $"MTL models: {scale.Steps} optimizer steps of batch {scale.Batch} on both tasks' examples; atomic models: {scale.Steps / 2} steps on their own task's examples (the same examples and, together, the same steps as MTL); AdamW, lr {scale.Lr}, cosine decay, fp32. " +
            $"ComposableCoT-Merge: task arithmetic of the two composable atomic models, each weight in {{{string.Join(", ", scale.Grid)}}}, picked by accuracy on {scale.Validation} validation questions. " +
            $"Zero-shot test: {scale.Test} concat-next questions, greedy decoding (two-stage for the composable models). " +
            $"Compositional budget: {scale.Budget} concat-next questions with answers; RFT from ComposableCoT-MTL: {scale.RftSamples} samples per question at temperature {scale.Temperature}, {scale.RftRounds} round(s), {scale.BudgetEpochs} epochs on the kept samples at lr {scale.BudgetLr}; " +
            $"answer-only fine-tuning of the base model and continued fine-tuning of the standard-CoT MTL model on the budget's answers: {scale.BudgetEpochs} epochs at lr {scale.BudgetLr}. Seed {context.Seed}."));
        report.Heading("Criteria (fixed before the run)").Paragraph(string.Join("\n", Criteria.Select(c => "- " + c)));

        // ---- training.
        string Model(IReadOnlyList<CotRunResult> runs, string name) => runs.Single(r => r.Name == name).Weights!;
        string stdMtl = "", ccotMtl = "", ccotMerge = "";
        IReadOnlyList<CotRunResult> atomics = [];
        Timed("standard-CoT MTL", () => stdMtl = Model(CotTraining.Run(CotRecipe.Mtl, baseDir, [files["concat.Standard"], files["next.Standard"]], null, Path.Combine(work, "std-mtl"), mtlSettings, log, ct), "mtl"));
        Timed("ComposableCoT-MTL", () => ccotMtl = Model(CotTraining.Run(CotRecipe.Mtl, baseDir, [files["concat.Composable"], files["next.Composable"]], null, Path.Combine(work, "ccot-mtl"), mtlSettings, log, ct), "mtl"));
        Timed("ComposableCoT atomic models", () => atomics = CotTraining.Run(CotRecipe.Atomic, baseDir, [files["concat.Composable"], files["next.Composable"]], null, Path.Combine(work, "ccot-atomic"), atomicSettings, log, ct));
        var greedy = new CotDecodeOptions { BatchSize = 32, MaxNewTokens = 320, Seed = context.Seed };
        CotMergeResult? merge = null;
        Timed("ComposableCoT-Merge grid", () =>
        {
            ccotMerge = Path.Combine(work, "ccot-merge");
            merge = CotMerging.Run(new CotMergeOptions
            {
                Base = baseDir, Sources = [Model(atomics, "concat"), Model(atomics, "next")], Method = MergeMethod.TaskArithmetic, Grid = scale.Grid,
                Validation = validation, Format = CotFormat.Composable, Decode = greedy,
            }, ccotMerge, log, ct);
        });

        var evaluations = new Dictionary<string, CotEvaluationReport>(StringComparer.Ordinal);
        void Evaluate(string name, string model, CotFormat format) => Timed($"evaluate {name}", () =>
        {
            var (lm, tok) = CotTraining.OpenForDecoding(model, null);
            using (lm)
            {
                evaluations[name] = CotEvaluation.Evaluate(new CotDecoder(lm, tok), test, format, greedy, ct);
            }
        });
        Evaluate("standard-CoT MTL", stdMtl, CotFormat.Standard);
        Evaluate("ComposableCoT-MTL", ccotMtl, CotFormat.Composable);
        Evaluate("ComposableCoT-Merge", ccotMerge, CotFormat.Composable);

        // ---- the compositional budget.
        var budgetSettings = Settings(null, scale.BudgetEpochs, scale.Batch, scale.BudgetLr, context.Seed);
        RftResult? rft = null;
        string answerOnly = "", continued = "";
        Timed("RFT", () => rft = CotRft.Run(ccotMtl, budget, new RftOptions
        {
            Samples = scale.RftSamples, Temperature = scale.Temperature, Rounds = scale.RftRounds, Format = CotFormat.Composable,
            Decode = greedy with { Greedy = false }, Sft = budgetSettings,
        }, Path.Combine(work, "rft"), log, ct));
        Timed("answer-only fine-tuning", () => answerOnly = Model(CotTraining.Run(CotRecipe.AnswerOnly, baseDir, [budgetPath], null, Path.Combine(work, "answer-only"), budgetSettings, log, ct), "answer-only"));
        Timed("continued fine-tuning", () => continued = Model(CotTraining.Run(CotRecipe.Continued, stdMtl, [budgetPath], null, Path.Combine(work, "continued"), budgetSettings, log, ct), "continued"));
        Evaluate("ComposableCoT-MTL + RFT", rft!.Model, CotFormat.Composable);
        Evaluate("answer-only fine-tuning", answerOnly, CotFormat.AnswerOnly);
        Evaluate("standard-CoT MTL + continued fine-tuning", continued, CotFormat.AnswerOnly);

        Write(report, result, evaluations, merge!, rft, seconds, scale);
        result.Metrics["seconds"] = Math.Round(clock.Elapsed.TotalSeconds, 1);
        return result;
    }

    /// <summary>SFT settings: <paramref name="steps"/> optimizer steps (null: all <paramref name="epochs"/>), no weight decay, warm-up a tenth of the steps (at most 50).</summary>
    private static CotSftSettings Settings(int? steps, int epochs, int batch, double lr, int seed) => new()
    {
        BatchSize = batch,
        Trainer = new TrainerOptions
        {
            Epochs = epochs, MaxSteps = steps, LearningRate = lr, WarmupSteps = steps is null ? 0 : Math.Min(50, steps.Value / 10), Seed = seed, LogEvery = 100,
            AdamW = new AdamWOptions { WeightDecay = 0 }, KeepCheckpoints = 1,
        },
    };

    /// <summary>Whether <paramref name="a"/> is more accurate than <paramref name="b"/> by the criteria's test, and the evidence line.</summary>
    internal static (bool Better, string Evidence) Better(string nameA, AccuracyRow a, string nameB, AccuracyRow b)
    {
        var (z, p) = Proportions.TwoProportionZ(a.Correct, a.Total, b.Correct, b.Total);
        return (p < Alpha, string.Create(CultureInfo.InvariantCulture,
            $"{nameA} {a.Accuracy:F3} [{a.Low:F3}, {a.High:F3}] ({a.Correct}/{a.Total}) vs {nameB} {b.Accuracy:F3} [{b.Low:F3}, {b.High:F3}] ({b.Correct}/{b.Total}): z = {z:F2}, one-sided p = {p:0.####}"));
    }

    private static void Write(Report report, ReproductionResult result, Dictionary<string, CotEvaluationReport> evaluations, CotMergeResult merge, RftResult rft,
        Dictionary<string, double> seconds, Scale scale)
    {
        static string F(double x) => x.ToString("0.000", CultureInfo.InvariantCulture);
        report.Heading("Accuracy on concat-next (exact match, 95% Wilson intervals)");
        report.Table(["model", "accuracy", "95% interval", "correct / n"],
            evaluations.Select(kv => (IReadOnlyList<string>)[kv.Key, F(kv.Value.Overall.Accuracy), $"[{F(kv.Value.Overall.Low)}, {F(kv.Value.Overall.High)}]", $"{kv.Value.Overall.Correct} / {kv.Value.Overall.Total}"]));
        report.Heading("Accuracy by letter position k");
        var positions = ReasoningTask.Positions;
        report.Table(["model", .. positions],
            evaluations.Select(kv => (IReadOnlyList<string>)[kv.Key, .. positions.Select(k => kv.Value.PerK.FirstOrDefault(r => r.K == k) is { } row ? $"{F(row.Accuracy)} ({row.Correct}/{row.Total})" : "-")]));
        report.Paragraph("For k = last the next-letter CoT's usual reading (the letter before ` answer: `, here the last letter of the last name) is the right letter, " +
            "so a model can be right on those questions without using what its first stage wrote; the other three positions need the first stage's answer.");
        report.Heading("ComposableCoT-Merge grid (validation accuracy)");
        report.Table(["weights (concat, next)", "validation accuracy"],
            merge.Candidates.Select(c => (IReadOnlyList<string>)[string.Join(", ", c.Weights.Select(w => w.ToString(CultureInfo.InvariantCulture))), c.Validation is null ? "-" : $"{F(c.Validation.Accuracy)} ({c.Validation.Correct}/{c.Validation.Total})"]));
        report.Heading("RFT rounds");
        report.Table(["round", "samples correct", "questions solved", "kept (distinct)", "final loss"],
            rft.Rounds.Select(r => (IReadOnlyList<string>)[$"{r.Round}", $"{r.Correct} / {r.Samples}", $"{r.QuestionsSolved} / {r.Questions}", $"{r.Kept}", r.FinalLoss is double l ? F(l) : "-"]));
        report.Heading("Time (s)");
        report.Table(["step", "seconds"], seconds.Select(kv => (IReadOnlyList<string>)[kv.Key, kv.Value.ToString("0.0", CultureInfo.InvariantCulture)]));

        foreach (var (name, e) in evaluations)
        {
            var key = name.ToLowerInvariant().Replace(' ', '_').Replace("+", "plus", StringComparison.Ordinal);
            result.Metrics[$"accuracy.{key}"] = e.Overall.Accuracy;
            result.Metrics[$"accuracy.{key}.low"] = e.Overall.Low;
            result.Metrics[$"accuracy.{key}.high"] = e.Overall.High;
        }

        result.Metrics["rft.kept"] = rft.Rounds.Sum(r => r.Kept);
        var std = evaluations["standard-CoT MTL"].Overall;
        var (a1, e1) = Better("ComposableCoT-MTL", evaluations["ComposableCoT-MTL"].Overall, "standard-CoT MTL", std);
        result.Claims.Add(new Claim("(a1) ComposableCoT-MTL beats standard-CoT MTL zero-shot on the composition.", a1, e1));
        var (a2, e2) = Better("ComposableCoT-Merge", evaluations["ComposableCoT-Merge"].Overall, "standard-CoT MTL", std);
        result.Claims.Add(new Claim("(a2) ComposableCoT-Merge beats standard-CoT MTL zero-shot on the composition.", a2, e2));
        var rftRow = evaluations["ComposableCoT-MTL + RFT"].Overall;
        var (b1, eb1) = Better("ComposableCoT-MTL + RFT", rftRow, "answer-only", evaluations["answer-only fine-tuning"].Overall);
        var (b2, eb2) = Better("ComposableCoT-MTL + RFT", rftRow, "continued fine-tuning", evaluations["standard-CoT MTL + continued fine-tuning"].Overall);
        result.Claims.Add(new Claim($"(b) With the same compositional budget ({scale.Budget} questions), ComposableCoT + RFT beats answer-only and continued fine-tuning.", b1 && b2, eb1 + "; " + eb2));
    }
}

using System.Globalization;
using System.Text.Json;
using System.Text.Json.Nodes;
using System.Text.Json.Serialization;
using Attune.Core.Errors;
using Attune.Core.IO;
using Attune.Reasoning.Tasks;

namespace Attune.Reasoning;

/// <summary>Settings of rejection-sampling fine-tuning.</summary>
public sealed record RftOptions
{
    /// <summary>Completions sampled per question each round.</summary>
    public int Samples { get; init; } = 4;

    public double Temperature { get; init; } = 1.0;

    public int Rounds { get; init; } = 1;

    /// <summary>The format the model answers in (composable: two-stage decoding; the kept output is the whole composable answer).</summary>
    public CotFormat Format { get; init; } = CotFormat.Composable;

    /// <summary>Decoding of the samples (its <see cref="CotDecodeOptions.Greedy"/> is ignored: samples are drawn at <see cref="Temperature"/>).</summary>
    public CotDecodeOptions Decode { get; init; } = new();

    /// <summary>The fine-tuning of each round (full fine-tuning: each round's model is the next round's start).</summary>
    public CotSftSettings Sft { get; init; } = new();
}

/// <summary>One sampled completion, judged by the oracle.</summary>
public sealed record RftSample(
    [property: JsonPropertyName("question")] int Question,
    [property: JsonPropertyName("instruction")] string Instruction,
    [property: JsonPropertyName("output")] string Output,
    [property: JsonPropertyName("predicted")] string Predicted,
    [property: JsonPropertyName("answer")] string Answer,
    [property: JsonPropertyName("correct")] bool Correct);

/// <summary>One round: what was sampled, how much was right, what was kept and trained on.</summary>
public sealed record RftRound(
    [property: JsonPropertyName("round")] int Round,
    [property: JsonPropertyName("questions")] int Questions,
    [property: JsonPropertyName("samples")] int Samples,
    [property: JsonPropertyName("correct")] int Correct,
    [property: JsonPropertyName("kept")] int Kept,
    [property: JsonPropertyName("questions_solved")] int QuestionsSolved,
    [property: JsonPropertyName("model")] string? Model,
    [property: JsonPropertyName("final_loss")] double? FinalLoss);

/// <summary>The outcome of RFT: the rounds, and the model the last round trained (the start when none trained).</summary>
public sealed record RftResult(
    [property: JsonPropertyName("rounds")] IReadOnlyList<RftRound> Rounds,
    [property: JsonPropertyName("model")] string Model,
    [property: JsonPropertyName("cancelled")] bool Cancelled);

/// <summary>
/// Rejection-sampling fine-tuning (Yin et al. 2025, Section 5; after Zelikman et al.'s STaR and Yuan et al.'s RFT):
/// each round samples N completions per compositional question at temperature T from the current model,
/// keeps those whose answer the oracle accepts, and fine-tunes the current model on them; the result is
/// the next round's model.
/// </summary>
public static class CotRft
{
    /// <summary>Judges completions laid out question by question, <paramref name="samples"/> each (q0's samples, then q1's, …).</summary>
    public static IReadOnlyList<RftSample> Judge(IReadOnlyList<CotQuestion> questions, int samples, IReadOnlyList<CotCompletion> completions)
    {
        ArgumentNullException.ThrowIfNull(questions);
        ArgumentNullException.ThrowIfNull(completions);
        if (completions.Count != questions.Count * samples)
        {
            throw new ArgumentException($"{questions.Count} questions × {samples} samples need {questions.Count * samples} completions, got {completions.Count}");
        }

        return [.. completions.Select((c, i) =>
        {
            var q = questions[i / samples];
            var predicted = ReasoningTasks.ExtractAnswer(c.Output);
            return new RftSample(i / samples, q.Instruction, c.Output, predicted, q.Answer, string.Equals(predicted, q.Answer, StringComparison.Ordinal));
        })];
    }

    /// <summary>The training pairs of a round: the correct samples only, each distinct (instruction, output) once, in sample order.</summary>
    public static IReadOnlyList<CotPair> Keep(IReadOnlyList<RftSample> samples)
    {
        ArgumentNullException.ThrowIfNull(samples);
        return [.. samples.Where(s => s.Correct).Select(s => new CotPair(s.Instruction, s.Output)).Distinct()];
    }

    /// <summary>
    /// Runs <see cref="RftOptions.Rounds"/> rounds from the model in <paramref name="modelDirectory"/> under
    /// <paramref name="output"/>: <c>round-k/samples.jsonl</c> (every sample, judged), the SFT run in
    /// <c>round-k/</c> (its model in <c>round-k/model/</c>), and <c>rft.json</c>. A round with no correct
    /// sample trains nothing and ends the loop.
    /// </summary>
    public static RftResult Run(string modelDirectory, IReadOnlyList<CotQuestion> questions, RftOptions options, string output, TextWriter? progress = null, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(questions);
        ArgumentNullException.ThrowIfNull(options);
        if (options.Sft.Lora is not null)
        {
            throw new AttuneInputException("RFT fine-tunes the full model each round (a LoRA adapter would need merging between rounds): leave out --lora-r");
        }

        Directory.CreateDirectory(output);
        var current = modelDirectory;
        var rounds = new List<RftRound>();
        var cancelled = false;
        for (var round = 1; round <= options.Rounds; round++)
        {
            cancellationToken.ThrowIfCancellationRequested();
            var roundDir = Path.Combine(output, $"round-{round}");
            Directory.CreateDirectory(roundDir);
            IReadOnlyList<RftSample> judged;
            var (model, tokenizer) = CotTraining.OpenForDecoding(current, null);
            using (model)
            {
                var instructions = questions.SelectMany(q => Enumerable.Repeat(q.Instruction, options.Samples)).ToList();
                var decode = options.Decode with { Greedy = false, Temperature = options.Temperature, Seed = Core.Randomness.Seeds.Derive(options.Decode.Seed, round) };
                var completions = new CotDecoder(model, tokenizer).Decode(instructions, options.Format, decode, cancellationToken);
                judged = Judge(questions, options.Samples, completions);
            }

            AtomicFile.WriteAllText(Path.Combine(roundDir, "samples.jsonl"), string.Concat(judged.Select(s => JsonSerializer.Serialize(s, CotData.Compact) + "\n")));
            var kept = Keep(judged);
            var correct = judged.Count(s => s.Correct);
            var solved = judged.Where(s => s.Correct).Select(s => s.Question).Distinct().Count();
            progress?.WriteLine(string.Create(CultureInfo.InvariantCulture,
                $"round {round}: {correct}/{judged.Count} samples correct ({solved}/{questions.Count} questions solved), {kept.Count} distinct kept"));
            if (kept.Count == 0)
            {
                rounds.Add(new RftRound(round, questions.Count, judged.Count, 0, 0, 0, null, null));
                progress?.WriteLine($"round {round}: no correct sample to train on; stopping");
                break;
            }

            var config = new JsonObject
            {
                ["command"] = "cot rft",
                ["round"] = round,
                ["model"] = Path.GetFullPath(current),
                ["samples"] = options.Samples,
                ["temperature"] = options.Temperature,
                ["kept"] = kept.Count,
                ["seed"] = options.Sft.Trainer.Seed,
            };
            var sft = options.Sft with { Trainer = options.Sft.Trainer with { Seed = Core.Randomness.Seeds.Derive(options.Sft.Trainer.Seed, round) } };
            var run = CotTraining.Fit($"round-{round}", current, kept, null, roundDir, sft, config, progress, cancellationToken);
            rounds.Add(new RftRound(round, questions.Count, judged.Count, correct, kept.Count, solved, run.Weights, run.Sft.Train.FinalLoss));
            if (run.Sft.Train.Cancelled || run.Weights is null)
            {
                cancelled = true;
                break;
            }

            current = run.Weights;
        }

        var result = new RftResult(rounds, Path.GetFullPath(current), cancelled);
        AtomicFile.WriteAllText(Path.Combine(output, "rft.json"), JsonSerializer.Serialize(result, new JsonSerializerOptions { WriteIndented = true }) + "\n");
        return result;
    }
}

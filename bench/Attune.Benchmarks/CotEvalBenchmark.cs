using System.Diagnostics;
using System.Globalization;
using System.Text.Json;
using Attune.Reasoning;
using Attune.Reasoning.Tasks;
using TorchSharp;

namespace Attune.Benchmarks;

/// <summary>
/// Composable CoT evaluation throughput: two-stage greedy decoding (<see cref="CotDecoder"/>, batch 16, KV
/// cache) of generated questions on a model folder, in questions per second; the peer
/// <c>bench/peers/cot_eval_torch.py</c> decodes the same questions with the same weights in PyTorch.
/// Prints one JSON line: questions, seconds (fastest of the repeats), questions/s, and how many answers
/// are right (the same in both when the decoders agree). Run:
/// <c>dotnet run -c Release --project bench/Attune.Benchmarks -- cot-eval --model DIR [--task concat-next] [--questions 64] [--batch 16] [--threads 2] [--repeats 2] [--questions-out FILE]</c>.
/// </summary>
public static class CotEvalBenchmark
{
    public static int Run(string[] args)
    {
        string? Value(string name) => BenchArgs.Value(args, name);
        int Int(string name, int fallback) => BenchArgs.Int(args, name, fallback);
        var modelDir = Value("--model") ?? throw new ArgumentException("--model DIR is required");
        var task = ReasoningTasks.Find(Value("--task") ?? "concat-next");
        var count = Int("--questions", 64);
        var batch = Int("--batch", 16);
        var repeats = Int("--repeats", 2);
        var maxNew = Int("--max-new-tokens", 320);
        Console.Error.WriteLine(Attune.Torch.Native.MklFastPath.Ensure().Message);
        torch.set_num_threads(Int("--threads", 2));

        // The questions: the task's generator with seed 11, written out so that the peer reads the same ones.
        var rng = new Random(11);
        var questions = Enumerable.Range(0, count).Select(_ => task.Generate(rng)).Select(e => new CotQuestion(e.Instruction, e.Task, CotEvaluation.Position(e.Instruction), e.Answer)).ToList();
        if (Value("--questions-out") is { } path)
        {
            File.WriteAllLines(path, questions.Select(q => JsonSerializer.Serialize(new { instruction = q.Instruction, answer = q.Answer })));
        }

        var (model, tokenizer) = CotTraining.OpenForDecoding(modelDir, null);
        using (model)
        {
            var decoder = new CotDecoder(model, tokenizer);
            var options = new CotDecodeOptions { BatchSize = batch, MaxNewTokens = maxNew };
            decoder.Decode([.. questions.Take(2).Select(q => q.Instruction)], CotFormat.Composable, options with { MaxNewTokens = 4 });   // warm-up
            var best = double.MaxValue;
            CotEvaluationReport? report = null;
            for (var r = 0; r < repeats; r++)
            {
                var clock = Stopwatch.StartNew();
                report = CotEvaluation.Evaluate(decoder, questions, CotFormat.Composable, options);
                best = Math.Min(best, clock.Elapsed.TotalSeconds);
            }

            Console.WriteLine(JsonSerializer.Serialize(new
            {
                bench = "cot-eval", implementation = "attune", model = Path.GetFullPath(modelDir), questions = count, batch, threads = torch.get_num_threads(),
                seconds = Math.Round(best, 3), questions_per_s = Math.Round(count / best, 3), correct = report!.Overall.Correct,
                outputs_sha = Convert.ToHexString(System.Security.Cryptography.SHA256.HashData(System.Text.Encoding.UTF8.GetBytes(string.Join("\n", report.Answers.Select(a => a.Output)))))[..16],
            }));
        }

        return 0;
    }
}

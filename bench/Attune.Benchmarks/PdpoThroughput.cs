using System.Diagnostics;
using System.Globalization;
using System.Text.Json;
using Attune.Alignment.Training;
using Attune.Personalization;
using Attune.Torch.Models;
using Attune.Torch.Training;
using static TorchSharp.torch;

namespace Attune.Benchmarks;

/// <summary>
/// Personalised DPO steps per second against Attune's own DPO step, on the same pairs and model as
/// <see cref="DpoThroughput"/> (the ~19M-parameter bench Llama; 4 pairs of a 64-token prompt and two
/// 192-token responses; cached reference). <c>dpo</c>: <see cref="PreferenceTrainer"/> alone (8 sequences a
/// step); <c>pdpo</c>: <see cref="PersonalizedTrainer"/> with an individual user model of T_u = 10 soft
/// tokens after BOS, every pair's user known, so each pair is read personalised and generic (16
/// sequences of 266 tokens a step). The two modes alternate for <c>--rounds</c> rounds.
/// Run: <c>dotnet bench/Attune.Benchmarks/bin/Release/net10.0/Attune.Benchmarks.dll pdpo-throughput [--steps 5] [--warmup 1] [--threads 2] [--rounds 2]</c>
/// </summary>
public static class PdpoThroughput
{
    public static int Run(string[] args)
    {
        var steps = BenchArgs.Int(args, "--steps", 5);
        var warmup = BenchArgs.Int(args, "--warmup", 1);
        var threads = BenchArgs.Int(args, "--threads", 2);
        var rounds = BenchArgs.Int(args, "--rounds", 2);
        const int pairsPerStep = 4, prompt = 64, response = 192, userTokens = 10;
        set_num_threads(threads);
        var config = BuiltInModels.Create("llama", "bench", 8192);
        var rng = new Random(7);
        int[] Ids(int n) => [.. Enumerable.Range(0, n).Select(_ => rng.Next(config.VocabSize))];
        var userIds = Enumerable.Range(0, 8).Select(i => $"user-{i}").ToList();
        var pairs = Enumerable.Range(0, (warmup + steps) * pairsPerStep)
            .Select(i => new PersonalPair(new PreferenceTokens(Ids(prompt), Ids(response), Ids(response)), userIds[i % userIds.Count])).ToList();
        for (var round = 1; round <= rounds; round++)
        {
            foreach (var mode in new[] { "dpo", "pdpo" })
            {
                using var policy = ModelFolder.Initialize(config, 1);
                using var reference = ModelFolder.Initialize(config, 2);
                using var users = UserModel.Create(new UserModelOptions { Kind = UserModelKind.Individual, Tokens = userTokens }, userIds,
                    policy.Embed(arange(config.VocabSize)).detach(), 3);
                var output = Path.Combine(Path.GetTempPath(), "attune-bench-pdpo-" + Guid.NewGuid().ToString("N"));
                var times = new List<double>();
                var options = new PreferenceTrainerOptions
                {
                    Loss = "dpo", BatchSize = pairsPerStep, Epochs = 1, LearningRate = 1e-5, Schedule = ScheduleKind.Constant, MaxGradNorm = 1.0,
                    CacheReference = true, Plot = false, LogEvery = 1, KeepCheckpoints = 1,
                };
                var trainer = mode == "dpo"
                    ? new PreferenceTrainer(policy, reference, [.. pairs.Select(p => p.Tokens)], null, options, output, progress: Console.Error)
                    : new PersonalizedTrainer(policy, reference, users, pairs, null, options, new PersonalizedDpoOptions { Alpha = 0.5, SoftTokensAt = 1 }, output, progress: Console.Error).Trainer;
                trainer.Hooks.Add(s =>
                {
                    times.Add(s.Seconds);
                    Console.Error.WriteLine(string.Create(CultureInfo.InvariantCulture, $"round {round} {mode} step {s.Step}: {s.Seconds:F2} s, load {File.ReadAllText("/proc/loadavg").Split(' ')[0]}"));
                });
                trainer.Run();
                Directory.Delete(output, recursive: true);
                var measured = times.Skip(warmup).ToList();
                Console.WriteLine(JsonSerializer.Serialize(new
                {
                    round, mode, threads = get_num_threads(), pairs_per_step = pairsPerStep, user_tokens = mode == "pdpo" ? userTokens : 0,
                    steps = measured.Count, steps_per_s = measured.Count / measured.Sum(), step_seconds_median = measured.Order().ElementAt(measured.Count / 2),
                    step_seconds_best = measured.Min(), load_average_at_end = File.ReadAllText("/proc/loadavg").Trim(),
                }));
            }
        }

        return 0;
    }
}

using System.Diagnostics;
using System.Globalization;
using System.Text.Json;
using Attune.Alignment.Training;
using Attune.Torch.Models;
using Attune.Torch.Training;
using static TorchSharp.torch;

namespace Attune.Benchmarks;

/// <summary>
/// DPO steps per second of Attune's preference trainer (<see cref="PreferenceTrainer"/>: one forward over
/// the 2B chosen + rejected sequences, the reference's log-probs, the DPO loss, backward, clipping at 1.0,
/// AdamW, dispose scope and malloc_trim per step, metrics.jsonl) on the ~19M-parameter bench Llama, with
/// the reference's log-probs precomputed and cached (<c>cached</c>) or run every step (<c>recomputed</c>).
/// Pairs: a 64-token prompt and two 192-token responses of random ids, so each sequence is 256 tokens;
/// 4 pairs per step = 8 sequences × 256, the token count of <c>train-throughput</c>.
/// Run: <c>dotnet bench/Attune.Benchmarks/bin/Release/net10.0/Attune.Benchmarks.dll dpo-throughput [--steps 5] [--warmup 1] [--threads 2] [--modes cached,recomputed] [--precision fp32|bf16]</c>
/// </summary>
public static class DpoThroughput
{
    public static int Run(string[] args)
    {
        var steps = BenchArgs.Int(args, "--steps", 5);
        var warmup = BenchArgs.Int(args, "--warmup", 1);
        var threads = BenchArgs.Int(args, "--threads", 2);
        var modes = BenchArgs.Value(args, "--modes", "cached,recomputed").Split(',');
        var precision = Precisions.Parse(BenchArgs.Value(args, "--precision", "fp32"));
        const int pairsPerStep = 4, prompt = 64, response = 192;
        Console.Error.WriteLine(Attune.Torch.Native.MklFastPath.Ensure().Message);   // before the first matmul
        set_num_threads(threads);
        var config = BuiltInModels.Create("llama", "bench", 8192);
        var rng = new Random(7);
        int[] Ids(int n) => [.. Enumerable.Range(0, n).Select(_ => rng.Next(config.VocabSize))];
        var pairs = Enumerable.Range(0, (warmup + steps) * pairsPerStep).Select(_ => new PreferenceTokens(Ids(prompt), Ids(response), Ids(response))).ToList();
        foreach (var mode in modes)
        {
            using var policy = ModelFolder.Initialize(config, 1);
            using var reference = ModelFolder.Initialize(config, 2);
            var output = Path.Combine(Path.GetTempPath(), "attune-bench-dpo-" + Guid.NewGuid().ToString("N"));
            var times = new List<double>();
            var cpuTimes = new List<double>();
            var cpu = Process.GetCurrentProcess().TotalProcessorTime.TotalSeconds;
            var clock = Stopwatch.StartNew();
            var trainer = new PreferenceTrainer(policy, reference, pairs, null, new PreferenceTrainerOptions
            {
                Loss = "dpo", BatchSize = pairsPerStep, Epochs = 1, LearningRate = 1e-5, Schedule = ScheduleKind.Constant, MaxGradNorm = 1.0,
                CacheReference = mode == "cached", Precision = precision, Plot = false, LogEvery = 1, KeepCheckpoints = 1,
            }, output, progress: Console.Error);
            trainer.Hooks.Add(s =>
            {
                times.Add(s.Seconds);
                var now = Process.GetCurrentProcess().TotalProcessorTime.TotalSeconds;
                cpuTimes.Add(now - cpu);   // CPU time of all threads since the previous step ended (the first: since the run began)
                cpu = now;
                Console.Error.WriteLine(string.Create(CultureInfo.InvariantCulture, $"{mode} step {s.Step}: {s.Seconds:F2} s, load {File.ReadAllText("/proc/loadavg").Split(' ')[0]}"));
            });
            var load = File.Exists("/proc/loadavg") ? File.ReadAllText("/proc/loadavg").Trim() : "?";
            var result = trainer.Run();
            Directory.Delete(output, recursive: true);
            var measured = times.Skip(warmup).ToList();
            Console.WriteLine(JsonSerializer.Serialize(new
            {
                mode,
                precision = precision.Name(),
                mkl_fast_path = Attune.Torch.Native.MklFastPath.Outcome.State.ToString(),
                parameters = policy.ParameterCount,
                threads = get_num_threads(),
                pairs_per_step = pairsPerStep,
                sequence = prompt + response,
                steps = measured.Count,
                steps_per_s = measured.Count / measured.Sum(),
                step_seconds_median = measured.Order().ElementAt(measured.Count / 2),
                step_seconds_best = measured.Min(),
                cpu_seconds_per_step_median = cpuTimes.Skip(warmup).Order().ElementAt(measured.Count / 2),
                reference_precompute_seconds = result.ReferenceSeconds,
                reference_pairs = pairs.Count,
                total_seconds = clock.Elapsed.TotalSeconds,
                load_average_at_start = load,
                load_average_at_end = File.Exists("/proc/loadavg") ? File.ReadAllText("/proc/loadavg").Trim() : "?",
            }));
        }

        return 0;
    }
}

using System.Diagnostics;
using System.Globalization;
using System.Text.Json;
using Attune.Alignment.Training;
using Attune.Torch.Models;
using Attune.Torch.Training;
using static TorchSharp.torch;

namespace Attune.Benchmarks;

/// <summary>
/// Mixed precision on the ~19M-parameter bench Llama (docs/torch.md, "Precision"). Two programs:
/// <list type="bullet">
/// <item><c>precision-throughput [--precisions fp32,bf16] [--rounds 3] [--steps 10] [--warmup 2] [--threads 2]</c>:
/// tokens/s of Attune's trainer (the step of <c>train-throughput</c>: batch 8 × 256 random ids) in each
/// precision, in alternating rounds in one process, so that the load of a shared machine falls on both alike;
/// reports tokens/s at the median and at the fastest quartile of the step times, and CPU seconds per step.</item>
/// <item><c>precision-bands [--sft-steps 200] [--dpo-steps 100] [--threads 2] [--out FILE]</c>: an SFT run and
/// then a DPO run (from the fp32 SFT weights) in fp32 and in bf16, on a synthetic Markov language; prints the
/// loss gap per step and writes both curves to FILE.</item>
/// </list>
/// </summary>
public static class PrecisionBenchmark
{
    private const int Batch = 8, Sequence = 256;

    public static int Throughput(string[] args)
    {
        var precisions = BenchArgs.Value(args, "--precisions", "fp32,bf16").Split(',').Select(p => Precisions.Parse(p, "--precisions")).ToArray();
        var rounds = BenchArgs.Int(args, "--rounds", 3);
        var steps = BenchArgs.Int(args, "--steps", 10);
        var warmup = BenchArgs.Int(args, "--warmup", 2);
        set_num_threads(BenchArgs.Int(args, "--threads", 2));
        var config = BuiltInModels.Create("llama", "bench", 8192);
        var objective = RandomIds(config.VocabSize);
        var wall = precisions.ToDictionary(p => p, _ => new List<double>());
        var cpu = precisions.ToDictionary(p => p, _ => new List<double>());
        Console.Error.WriteLine($"threads {get_num_threads()}, {rounds} rounds of {steps} steps (+{warmup} warm-up) per precision, batch {Batch} x {Sequence}, load {Load()}");
        for (var round = 0; round < rounds; round++)
        {
            // Alternate the order too, so that neither precision always runs first in a round.
            foreach (var precision in round % 2 == 0 ? precisions : precisions.Reverse())
            {
                var (w, c) = Round(config, objective, precision, steps, warmup);
                wall[precision].AddRange(w);
                cpu[precision].AddRange(c);
                Console.WriteLine(JsonSerializer.Serialize(new
                {
                    round = round + 1, precision = precision.Name(), tokens_per_s_at_median_step = Math.Round(TokensPerStep / Median(w), 1),
                    step_seconds = w.Select(x => Math.Round(x, 3)), cpu_seconds = c.Select(x => Math.Round(x, 3)), load = Load(),
                }));
            }
        }

        double Rate(Precision p) => TokensPerStep / Median(wall[p]);
        double Fastest(Precision p) => TokensPerStep / Quantile(wall[p], 0.25);
        double Cpu(Precision p) => Median(cpu[p]);
        Console.WriteLine(JsonSerializer.Serialize(new
        {
            summary = precisions.Select(p => new
            {
                precision = p.Name(),
                steps = wall[p].Count,
                tokens_per_s_at_median_step = Math.Round(Rate(p), 1),
                tokens_per_s_at_fastest_quartile = Math.Round(Fastest(p), 1),
                cpu_seconds_per_step_median = Math.Round(Cpu(p), 3),
                speedup_median = Math.Round(Rate(p) / Rate(precisions[0]), 3),
                speedup_fastest_quartile = Math.Round(Fastest(p) / Fastest(precisions[0]), 3),
                speedup_cpu_time = Math.Round(Cpu(precisions[0]) / Cpu(p), 3),
            }),
            threads = get_num_threads(),
            load_average = Load(),
        }));
        return 0;
    }

    private const double TokensPerStep = (double)Batch * (Sequence - 1);

    /// <summary>Wall and CPU seconds (all threads of the process) of each measured step.</summary>
    private static (List<double> Wall, List<double> Cpu) Round(ModelConfig config, CausalLmObjective objective, Precision precision, int steps, int warmup)
    {
        using var model = ModelFolder.Initialize(config, 1);
        var output = TempFolder("attune-bench-precision");
        var wall = new List<double>();
        var cpu = new List<double>();
        var clock = Stopwatch.StartNew();
        var cpuStart = CpuSeconds();
        var trainer = new Trainer<long[,]>(model, objective, new TrainerOptions
        {
            MaxSteps = warmup + steps, LearningRate = 3e-4, WarmupSteps = 10, Schedule = ScheduleKind.Cosine, MaxGradNorm = 1.0, LogEvery = 0, KeepCheckpoints = 1, Precision = precision,
        }, output);
        trainer.Hooks.Add(_ =>
        {
            wall.Add(clock.Elapsed.TotalSeconds);
            var now = CpuSeconds();
            cpu.Add(now - cpuStart);
            cpuStart = now;
            clock.Restart();
        });
        trainer.Run();
        Directory.Delete(output, recursive: true);
        return ([.. wall.Skip(warmup)], [.. cpu.Skip(warmup)]);
    }

    private static double CpuSeconds()
    {
        using var process = Process.GetCurrentProcess();
        return process.TotalProcessorTime.TotalSeconds;
    }

    private static double Quantile(List<double> xs, double q)
    {
        var s = xs.Order().ToList();
        return s[(int)Math.Floor(q * (s.Count - 1))];
    }

    public static int Bands(string[] args)
    {
        var sftSteps = BenchArgs.Int(args, "--sft-steps", 200);
        var dpoSteps = BenchArgs.Int(args, "--dpo-steps", 100);
        var outFile = BenchArgs.Value(args, "--out", "");
        set_num_threads(BenchArgs.Int(args, "--threads", 2));
        var config = BuiltInModels.Create("llama", "bench", 8192);
        var language = new MarkovLanguage(1024, 11);
        var rng = new Random(12);
        const int prompt = 64, response = Sequence - prompt;
        var sftData = Enumerable.Range(0, sftSteps * Batch).Select(_ =>
        {
            var ids = language.Sample(rng, Sequence);
            return new SftTokens(ids[..prompt], ids[prompt..]);
        }).ToList();
        var pairs = Enumerable.Range(0, dpoSteps * Batch / 2).Select(_ =>
        {
            var ids = language.Sample(rng, Sequence);
            return new PreferenceTokens(ids[..prompt], ids[prompt..], language.Uniform(rng, response));
        }).ToList();
        Console.Error.WriteLine($"SFT {sftSteps} steps of {Batch} x {Sequence} tokens, then DPO {dpoSteps} steps of {Batch / 2} pairs from the fp32 SFT weights; threads {get_num_threads()}, load {Load()}");

        var root = TempFolder("attune-bench-bands");
        var sft = new Dictionary<Precision, (List<double> Loss, double Seconds)>();
        var dpo = new Dictionary<Precision, (List<double> Loss, List<double> Margin, double Seconds)>();
        try
        {
            foreach (var precision in new[] { Precision.Fp32, Precision.Bf16 })
            {
                using var model = ModelFolder.Initialize(config, 1);
                var losses = new List<double>();
                var clock = Stopwatch.StartNew();
                var trainer = new Trainer<IReadOnlyList<SequencePair>>(model, new SftObjective(sftData, Batch, 1), new TrainerOptions
                {
                    MaxSteps = sftSteps, LearningRate = 5e-4, WarmupSteps = 10, Schedule = ScheduleKind.Cosine, MinLearningRate = 5e-5, LogEvery = 20, KeepCheckpoints = 1,
                    Seed = 1, Precision = precision,
                }, Path.Combine(root, "sft-" + precision.Name()), progress: Console.Error);
                trainer.Hooks.Add(m => losses.Add(m.Loss));
                trainer.Run();
                sft[precision] = (losses, clock.Elapsed.TotalSeconds);
            }

            foreach (var precision in new[] { Precision.Fp32, Precision.Bf16 })
            {
                var start = Path.Combine(root, "sft-fp32", "model");
                using var policy = CausalLM.Load(start);
                using var reference = CausalLM.Load(start);
                var clock = Stopwatch.StartNew();
                var trainer = new PreferenceTrainer(policy, reference, pairs, null, new PreferenceTrainerOptions
                {
                    Loss = "dpo", LossOptions = new() { Beta = 0.1 }, BatchSize = Batch / 2, MaxSteps = dpoSteps, LearningRate = 1e-5, WarmupSteps = 5,
                    Schedule = ScheduleKind.Cosine, Plot = false, KeepCheckpoints = 1, LogEvery = 10, Seed = 1, Precision = precision,
                }, Path.Combine(root, "dpo-" + precision.Name()), progress: Console.Error);
                var result = trainer.Run();
                dpo[precision] = ([.. result.History.Select(s => s.Loss)], [.. result.History.Select(s => s.Margin)], clock.Elapsed.TotalSeconds);
            }
        }
        finally
        {
            Directory.Delete(root, recursive: true);
        }

        var report = new
        {
            sft = Compare(sft[Precision.Fp32].Loss, sft[Precision.Bf16].Loss, sft[Precision.Fp32].Seconds, sft[Precision.Bf16].Seconds),
            dpo = Compare(dpo[Precision.Fp32].Loss, dpo[Precision.Bf16].Loss, dpo[Precision.Fp32].Seconds, dpo[Precision.Bf16].Seconds),
            dpo_margin = Compare(dpo[Precision.Fp32].Margin, dpo[Precision.Bf16].Margin, 0, 0),
            threads = get_num_threads(),
            load_average = Load(),
        };
        Console.WriteLine(JsonSerializer.Serialize(report, new JsonSerializerOptions { WriteIndented = true }));
        if (outFile.Length > 0)
        {
            File.WriteAllText(outFile, JsonSerializer.Serialize(new
            {
                sft_fp32 = sft[Precision.Fp32].Loss, sft_bf16 = sft[Precision.Bf16].Loss,
                dpo_fp32 = dpo[Precision.Fp32].Loss, dpo_bf16 = dpo[Precision.Bf16].Loss,
                dpo_margin_fp32 = dpo[Precision.Fp32].Margin, dpo_margin_bf16 = dpo[Precision.Bf16].Margin,
            }) + "\n");
        }

        return 0;
    }

    /// <summary>Per-step gaps between two curves, of the raw values and of their 10-step moving means, and the fp32 curve's own step-to-step noise.</summary>
    private static object Compare(List<double> fp32, List<double> bf16, double fp32Seconds, double bf16Seconds)
    {
        var gaps = fp32.Zip(bf16, (a, b) => Math.Abs(a - b)).ToList();
        var relative = fp32.Zip(bf16, (a, b) => Math.Abs(a - b) / Math.Max(1e-12, Math.Abs(a))).ToList();
        static List<double> Smooth(List<double> xs) => [.. Enumerable.Range(0, Math.Max(0, xs.Count - 9)).Select(i => xs.Skip(i).Take(10).Average())];
        var smoothGaps = Smooth(fp32).Zip(Smooth(bf16), (a, b) => Math.Abs(a - b)).ToList();
        var noise = fp32.Skip(1).Zip(fp32, (a, b) => a - b).ToList();
        return new
        {
            steps = gaps.Count,
            fp32_first = fp32[0],
            bf16_first = bf16[0],
            fp32_last10_mean = fp32.TakeLast(10).Average(),
            bf16_last10_mean = bf16.TakeLast(10).Average(),
            max_abs_gap = gaps.Max(),
            max_abs_gap_step = gaps.IndexOf(gaps.Max()) + 1,
            mean_abs_gap = gaps.Average(),
            max_rel_gap = relative.Max(),
            mean_rel_gap = relative.Average(),
            max_abs_gap_of_10_step_means = smoothGaps.Count > 0 ? smoothGaps.Max() : double.NaN,
            fp32_step_to_step_rms = Math.Sqrt(noise.Average(d => d * d)),
            fp32_seconds = fp32Seconds,
            bf16_seconds = bf16Seconds,
        };
    }

    private static CausalLmObjective RandomIds(int vocab) => new(int.MaxValue, (epoch, index) =>
    {
        var rng = new Random(HashCode.Combine(epoch, index));
        var ids = new long[Batch, Sequence + 1];
        for (var i = 0; i < Batch; i++)
        {
            for (var j = 0; j <= Sequence; j++)
            {
                ids[i, j] = rng.Next(vocab);
            }
        }

        return ids;
    });

    private static string TempFolder(string prefix) => Path.Combine(Path.GetTempPath(), prefix + "-" + Guid.NewGuid().ToString("N"));

    private static string Load() => File.Exists("/proc/loadavg") ? File.ReadAllText("/proc/loadavg").Trim() : "?";

    private static double Median(List<double> xs)
    {
        var s = xs.Order().ToList();
        return s.Count % 2 == 1 ? s[s.Count / 2] : (s[(s.Count / 2) - 1] + s[s.Count / 2]) / 2;
    }

    /// <summary>
    /// A synthetic language over token ids 0..states-1: each token is followed by one of four fixed successors
    /// (probabilities 0.5, 0.25, 0.15, 0.1; entropy 1.21 nats per token), so a model has something to learn.
    /// </summary>
    private sealed class MarkovLanguage
    {
        private static readonly double[] Cumulative = [0.5, 0.75, 0.9, 1.0];
        private readonly int[,] _next;
        private readonly int _states;

        public MarkovLanguage(int states, int seed)
        {
            _states = states;
            var rng = new Random(seed);
            _next = new int[states, Cumulative.Length];
            for (var s = 0; s < states; s++)
            {
                for (var k = 0; k < Cumulative.Length; k++)
                {
                    _next[s, k] = rng.Next(states);
                }
            }
        }

        public int[] Sample(Random rng, int length)
        {
            var ids = new int[length];
            ids[0] = rng.Next(_states);
            for (var i = 1; i < length; i++)
            {
                var u = rng.NextDouble();
                ids[i] = _next[ids[i - 1], Array.FindIndex(Cumulative, c => u < c)];
            }

            return ids;
        }

        /// <summary><paramref name="length"/> tokens that ignore the language (each uniform over the states): the rejected responses.</summary>
        public int[] Uniform(Random rng, int length) => [.. Enumerable.Range(0, length).Select(_ => rng.Next(_states))];
    }
}

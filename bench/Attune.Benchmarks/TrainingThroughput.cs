using System.Diagnostics;
using System.Globalization;
using System.Text.Json;
using Attune.Torch.Models;
using Attune.Torch.Training;
using TorchSharp;
using static TorchSharp.torch;

namespace Attune.Benchmarks;

/// <summary>
/// Training throughput of Attune's real trainer loop (forward + backward + clipping + AdamW, one
/// dispose scope and malloc_trim per step, metrics.jsonl written) on the ~19M-parameter bench Llama:
/// batch 8 × sequence 256, float32, CPU, 2 threads. Also measures the machine's float32 GEMM rate
/// (2048×2048 matmuls) and the resident memory across the steps.
/// Run: <c>dotnet run -c Release --project bench/Attune.Benchmarks -- train-throughput [--steps 100] [--threads 2] [--warmup 3]</c>
/// </summary>
public static class TrainingThroughput
{
    public static int Run(string[] args)
    {
        int Arg(string name, int fallback)
        {
            var i = Array.IndexOf(args, name);
            return i >= 0 && i + 1 < args.Length ? int.Parse(args[i + 1], CultureInfo.InvariantCulture) : fallback;
        }

        var steps = Arg("--steps", 100);
        var threads = Arg("--threads", 2);
        var warmup = Arg("--warmup", 3);
        const int batch = 8, seq = 256;
        set_num_threads(threads);
        Console.Error.WriteLine($"threads {get_num_threads()}, steps {steps} (+{warmup} warm-up), batch {batch} x {seq}");

        var gemm = MeasureGemm();
        Console.Error.WriteLine($"fp32 GEMM 2048x2048: {gemm:F1} GFLOP/s");

        var config = BuiltInModels.Create("llama", "bench", 8192);
        using var model = ModelFolder.Initialize(config, 1);
        var parameters = model.ParameterCount;
        var embedding = (long)config.VocabSize * config.HiddenSize;
        var matmulParameters = parameters - embedding - model.named_parameters().Where(p => p.parameter.dim() < 2).Sum(p => p.parameter.numel());
        var objective = new CausalLmObjective(int.MaxValue, (epoch, index) =>
        {
            var rng = new Random(HashCode.Combine(epoch, index));
            var ids = new long[batch, seq + 1];
            for (var i = 0; i < batch; i++)
            {
                for (var j = 0; j <= seq; j++)
                {
                    ids[i, j] = rng.Next(config.VocabSize);
                }
            }

            return ids;
        });
        if (args.Contains("--profile"))
        {
            Profile(model, objective);
            return 0;
        }

        var output = Path.Combine(Path.GetTempPath(), "attune-bench-train-" + Guid.NewGuid().ToString("N"));
        var times = new List<double>();
        var rss = new List<long>();
        var clock = Stopwatch.StartNew();
        var trainer = new Trainer<long[,]>(model, objective, new TrainerOptions
        {
            MaxSteps = warmup + steps, LearningRate = 3e-4, WarmupSteps = 10, Schedule = ScheduleKind.Cosine, MaxGradNorm = 1.0, LogEvery = 10, KeepCheckpoints = 1,
        }, output, progress: Console.Error);
        trainer.Hooks.Add(m =>
        {
            times.Add(clock.Elapsed.TotalSeconds);
            rss.Add(NativeMemory.ResidentBytes());
            clock.Restart();
        });
        trainer.Run();
        Directory.Delete(output, recursive: true);

        var measured = times.Skip(warmup).ToList();
        var tokensPerStep = (double)batch * seq;
        var tokensPerSecond = tokensPerStep * measured.Count / measured.Sum();
        // 6 × (matmul parameters) per token for forward + backward, plus attention: QKᵀ and AV are 4·T·d per token per layer forward, ×3 with backward.
        var attentionPerToken = 3.0 * 4 * seq * config.NumHeads * config.HeadDim * config.NumLayers;
        var flopsPerToken = (6.0 * matmulParameters) + attentionPerToken;
        var gflops = flopsPerToken * tokensPerSecond / 1e9;
        var gflopsAllParams = ((6.0 * parameters) + attentionPerToken) * tokensPerSecond / 1e9;
        var mb = 1024.0 * 1024;
        var result = new
        {
            parameters,
            matmul_parameters = matmulParameters,
            threads = get_num_threads(),
            batch,
            seq,
            steps = measured.Count,
            step_seconds_median = Median(measured),
            tokens_per_s = tokensPerSecond,
            gflops_per_s = gflops,
            gflops_per_s_6n_all_params = gflopsAllParams,
            gemm_gflops_per_s = gemm,
            fraction_of_gemm = gflops / gemm,
            rss_mb_after_step = new Dictionary<string, double>
            {
                ["1"] = rss[0] / mb,
                [$"{warmup + 1}"] = rss[warmup] / mb,
                [$"{warmup + (steps / 2)}"] = rss[warmup + (steps / 2) - 1] / mb,
                [$"{warmup + steps}"] = rss[^1] / mb,
            },
            rss_mb_max_measured = rss.Skip(warmup).Max() / mb,
            peak_rss_mb = NativeMemory.PeakResidentBytes() / mb,
            load_average = File.Exists("/proc/loadavg") ? File.ReadAllText("/proc/loadavg").Trim() : null,
        };
        Console.WriteLine(JsonSerializer.Serialize(result, new JsonSerializerOptions { WriteIndented = true }));
        return 0;
    }

    /// <summary>Times the parts of one step separately (forward, forward + backward, clipping, AdamW).</summary>
    private static void Profile(CausalLM model, CausalLmObjective objective)
    {
        var ids = objective.MicroBatch(0, 0);
        var trainable = model.named_parameters().Select(p => (p.name, p.parameter)).ToList();
        using var optimizer = new AdamW(AdamW.DecayGroups(trainable, 0.01));
        for (var rep = 0; rep < 3; rep++)
        {
            var sw = Stopwatch.StartNew();
            using (no_grad())
            using (var scope = NewDisposeScope())
            {
                objective.LossSum(model, ids).item<float>();
            }

            var forward = sw.Elapsed.TotalSeconds;
            sw.Restart();
            using (var scope = NewDisposeScope())
            {
                objective.LossSum(model, ids).backward();
            }

            var backward = sw.Elapsed.TotalSeconds;
            sw.Restart();
            Gradients.ClipGlobalNorm(trainable.Select(p => p.parameter), 1.0);
            var clip = sw.Elapsed.TotalSeconds;
            sw.Restart();
            optimizer.Step(1e-4);
            optimizer.ZeroGrad();
            var adam = sw.Elapsed.TotalSeconds;
            sw.Restart();
            NativeMemory.Trim();
            Console.Error.WriteLine($"forward (no grad) {forward:F3} s, forward+backward {backward:F3} s, clip {clip:F3} s, AdamW {adam:F3} s, trim {sw.Elapsed.TotalSeconds:F3} s");
        }
    }

    /// <summary>float32 GEMM rate: 2 · n³ flops per 2048×2048 matmul, best of three timed loops.</summary>
    private static double MeasureGemm()
    {
        const int n = 2048, reps = 10;
        using var a = randn(n, n);
        using var b = randn(n, n);
        for (var i = 0; i < 2; i++)
        {
            using var c = a.matmul(b);   // warm-up
        }

        var best = 0.0;
        for (var round = 0; round < 3; round++)
        {
            var sw = Stopwatch.StartNew();
            for (var i = 0; i < reps; i++)
            {
                using var c = a.matmul(b);
            }

            best = Math.Max(best, 2.0 * n * n * n * reps / sw.Elapsed.TotalSeconds / 1e9);
        }

        return best;
    }

    private static double Median(List<double> xs)
    {
        var s = xs.Order().ToList();
        return s.Count % 2 == 1 ? s[s.Count / 2] : (s[(s.Count / 2) - 1] + s[s.Count / 2]) / 2;
    }
}

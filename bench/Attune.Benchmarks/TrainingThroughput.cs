using System.Diagnostics;
using System.Globalization;
using System.Text.Json;
using Attune.Torch.Models;
using Attune.Torch.Native;
using Attune.Torch.Training;
using TorchSharp;
using static TorchSharp.torch;

namespace Attune.Benchmarks;

/// <summary>
/// Training throughput of Attune's real trainer loop (forward + backward + clipping + AdamW, one
/// dispose scope and malloc_trim per step, metrics.jsonl written) on the ~19M-parameter bench Llama:
/// batch 8 × sequence 256, float32, CPU, 2 threads. Also measures the machine's float32 GEMM rate
/// (2048×2048 matmuls) and the resident memory across the steps.
/// Run: <c>dotnet run -c Release --project bench/Attune.Benchmarks -- train-throughput [--steps 100] [--threads 2] [--warmup 3] [--precision fp32|bf16]</c>
/// </summary>
public static class TrainingThroughput
{
    public static int Run(string[] args)
    {
        var steps = BenchArgs.Int(args, "--steps", 100);
        var threads = BenchArgs.Int(args, "--threads", 2);
        var warmup = BenchArgs.Int(args, "--warmup", 3);
        var trimEvery = BenchArgs.Int(args, "--trim-every", new TrainerOptions().TrimEvery);
        var precision = Precisions.Parse(BenchArgs.Value(args, "--precision", "fp32"));
        const int batch = 8, seq = 256;
        var mkl = MklFastPath.Ensure();   // before the first matmul (MeasureGemm); ATTUNE_MKL_FAST_PATH=0 for the old path
        Console.Error.WriteLine(mkl.Message);
        set_num_threads(threads);
        Console.Error.WriteLine($"threads {get_num_threads()}, steps {steps} (+{warmup} warm-up), batch {batch} x {seq}");

        var (gemm, gemmPerCpuSecond) = MeasureGemm(ScalarType.Float32);
        Console.Error.WriteLine($"fp32 GEMM 2048x2048: {gemm:F1} GFLOP/s ({gemmPerCpuSecond:F1} GFLOP per CPU second)");
        var (gemmBf16, gemmBf16PerCpuSecond) = MeasureGemm(ScalarType.BFloat16);
        Console.Error.WriteLine($"bf16 GEMM 2048x2048: {gemmBf16:F1} GFLOP/s ({gemmBf16PerCpuSecond:F1} GFLOP per CPU second)");

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
        if (args.Contains("--parts"))
        {
            ProfileParts(config, precision);
            return 0;
        }

        if (args.Contains("--profile"))
        {
            model.SetPrecision(precision);
            Profile(model, objective);
            return 0;
        }

        var output = Path.Combine(Path.GetTempPath(), "attune-bench-train-" + Guid.NewGuid().ToString("N"));
        var times = new List<double>();
        var cpuTimes = new List<double>();
        var rss = new List<long>();
        var peaks = new List<long>();
        var clock = Stopwatch.StartNew();
        var cpu = CpuSeconds();
        NativeMemory.ResetPeak();
        var trainer = new Trainer<long[,]>(model, objective, new TrainerOptions
        {
            MaxSteps = warmup + steps, LearningRate = 3e-4, WarmupSteps = 10, Schedule = ScheduleKind.Cosine, MaxGradNorm = 1.0, LogEvery = 10, KeepCheckpoints = 1, TrimEvery = trimEvery,
            Precision = precision,
        }, output, progress: Console.Error);
        trainer.Hooks.Add(m =>
        {
            times.Add(clock.Elapsed.TotalSeconds);
            var now = CpuSeconds();
            cpuTimes.Add(now - cpu);
            cpu = now;
            rss.Add(NativeMemory.ResidentBytes());
            peaks.Add(NativeMemory.PeakResidentBytes());   // the peak within this step (reset after the last one)
            NativeMemory.ResetPeak();
            Console.Error.WriteLine(string.Create(CultureInfo.InvariantCulture,
                $"step {m.Step}: {times[^1]:F2} s wall, {cpuTimes[^1]:F2} s CPU, RSS {rss[^1] / 1048576.0:F0} MB, step peak {peaks[^1] / 1048576.0:F0} MB, load {(File.Exists("/proc/loadavg") ? File.ReadAllText("/proc/loadavg").Split(' ')[0] : "?")}"));
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
        var measuredCpu = cpuTimes.Skip(warmup).ToList();
        var gflopPerCpuSecond = flopsPerToken * tokensPerStep * measuredCpu.Count / measuredCpu.Sum() / 1e9;
        var mb = 1024.0 * 1024;
        var result = new
        {
            parameters,
            matmul_parameters = matmulParameters,
            threads = get_num_threads(),
            mkl_fast_path = mkl.State.ToString(),
            precision = precision.Name(),
            trim_every = trimEvery,
            batch,
            seq,
            steps = measured.Count,
            step_seconds_median = Median(measured),
            tokens_per_s = tokensPerSecond,
            gflops_per_s = gflops,
            gflops_per_s_6n_all_params = gflopsAllParams,
            gemm_gflops_per_s = gemm,
            fraction_of_gemm = gflops / gemm,
            cpu_seconds_per_step_median = Median(measuredCpu),
            gflop_per_cpu_second = gflopPerCpuSecond,
            gemm_gflop_per_cpu_second = gemmPerCpuSecond,
            fraction_of_gemm_by_cpu_time = gflopPerCpuSecond / gemmPerCpuSecond,
            gemm_bf16_gflops_per_s = gemmBf16,
            fraction_of_bf16_gemm = gflops / gemmBf16,
            rss_mb_after_step = new Dictionary<string, double>
            {
                ["1"] = rss[0] / mb,
                [$"{warmup + 1}"] = rss[warmup] / mb,
                [$"{warmup + (steps / 2)}"] = rss[warmup + (steps / 2) - 1] / mb,
                [$"{warmup + steps}"] = rss[^1] / mb,
            },
            rss_mb_max_measured = rss.Skip(warmup).Max() / mb,
            step_peak_rss_mb = new Dictionary<string, double>
            {
                ["1"] = peaks[0] / mb,
                [$"{warmup + 1}"] = peaks[warmup] / mb,
                [$"{warmup + (steps / 2)}"] = peaks[warmup + (steps / 2) - 1] / mb,
                [$"{warmup + steps}"] = peaks[^1] / mb,
            },
            step_peak_rss_mb_max_measured = peaks.Skip(warmup).Max() / mb,
            step_peak_rss_mb_min_measured = peaks.Skip(warmup).Min() / mb,
            load_average = File.Exists("/proc/loadavg") ? File.ReadAllText("/proc/loadavg").Trim() : null,
        };
        Console.WriteLine(JsonSerializer.Serialize(result, new JsonSerializerOptions { WriteIndented = true }));
        return 0;
    }

    /// <summary>Times the parts of one step separately (forward, forward + backward, clipping, AdamW).</summary>
    private static void Profile(CausalLM model, CausalLmObjective objective)
    {
        var ids = objective.MicroBatch(0, 0);
        using (no_grad())
        {
            using var x = randn(8, 256, 384);
            using var w = randn(8192, 384);
            using var w2 = randn(1024, 384);
            using var q = randn(8, 6, 256, 64);
            using var k = randn(8, 6, 256, 64);
            using var logits = randn(2040, 8192);
            using var target = randint(0, 8192, [2040]);
            void Time(string name, double gflop, Action a)
            {
                a();
                var sw = Stopwatch.StartNew();
                for (var i = 0; i < 3; i++)
                {
                    using var scope = NewDisposeScope();
                    a();
                }

                var sec = sw.Elapsed.TotalSeconds / 3;
                Console.Error.WriteLine($"{name}: {sec * 1000:F1} ms{(gflop > 0 ? $", {gflop / sec:F1} GFLOP/s" : "")}");
            }

            Time("lm_head linear 2048x384 -> 8192", 2.0 * 2048 * 384 * 8192 / 1e9, () => nn.functional.linear(x, w));
            Time("mlp up linear 2048x384 -> 1024", 2.0 * 2048 * 384 * 1024 / 1e9, () => nn.functional.linear(x, w2));
            Time("sdpa causal 8x6x256x64", 4.0 * 8 * 6 * 256 * 256 * 64 / 1e9, () => nn.functional.scaled_dot_product_attention(q, k, k, is_casual: true));
            Time("cross_entropy 2040x8192", 0, () => nn.functional.cross_entropy(logits, target));
            Time("rmsnorm-like 2048x384", 0, () => _ = x * rsqrt(x.pow(2).mean([-1], keepdim: true) + 1e-6));
        }

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

    /// <summary>Forward + backward time of the model's parts against their matmul FLOPs.</summary>
    private static void ProfileParts(ModelConfig config, Precision precision)
    {
        var compute = precision.ComputeType();
        var dtype = compute ?? ScalarType.Float32;   // the raw operators below (SDPA, linear) run in the type the model's products would
        Console.Error.WriteLine($"parts in {precision.Name()}: products and attention in {dtype}");
        const int b = 8, t = 256;
        var e = config.HiddenSize;
        var rope = new RotaryEmbedding(config.HeadDim, config.Rope);
        using var positions = arange(t).unsqueeze(0).expand(b, t);
        var (cos, sin) = rope.Tables(positions, CPU, ScalarType.Float32);
        using var layer = new DecoderLayer(config);
        using var head = new Projection(e, config.VocabSize, false) { ComputeType = compute };
        CausalLM.SetComputeType(layer, compute);

        void Time(string name, double gflop, Func<Tensor> run)
        {
            for (var w = 0; w < 2; w++)
            {
                using var s0 = NewDisposeScope();
                run().backward();
            }

            var sw = Stopwatch.StartNew();
            const int reps = 5;
            for (var i = 0; i < reps; i++)
            {
                using var s1 = NewDisposeScope();
                run().backward();
            }

            var sec = sw.Elapsed.TotalSeconds / reps;
            Console.Error.WriteLine($"{name}: {sec * 1000:F1} ms, {gflop / sec:F1} GFLOP/s");
        }

        using var x = randn(b, t, e).requires_grad_(true);
        using var gy = randn(b, t, e);
        var layerFlops = 3.0 * 2 * b * t * ((2.0 * e * e) + (2.0 * e * config.NumKeyValueHeads * config.HeadDim) + (3.0 * e * config.IntermediateSize)) / 1e9
            + (3.0 * 4 * b * t * t * config.NumHeads * config.HeadDim / 1e9);
        Time("decoder layer fwd+bwd", layerFlops, () => (layer.Forward(x, cos, sin, null, null, 0) * gy).sum());
        NativeMemory.ConfigureForTraining();
        Time("decoder layer fwd+bwd (allocator thresholds fixed)", layerFlops, () => (layer.Forward(x, cos, sin, null, null, 0) * gy).sum());
        var attnOnlyFlops = 3.0 * 4 * b * t * t * config.NumHeads * config.HeadDim / 1e9;
        using var q = randn(b, config.NumHeads, t, config.HeadDim).to_type(dtype).requires_grad_(true);
        using var k = randn(b, config.NumHeads, t, config.HeadDim).to_type(dtype).requires_grad_(true);
        using var v = randn(b, config.NumHeads, t, config.HeadDim).to_type(dtype).requires_grad_(true);
        Time("sdpa causal fwd+bwd", attnOnlyFlops, () => nn.functional.scaled_dot_product_attention(q, k, v, is_casual: true).sum());
        using var xc = x.detach().to_type(dtype).requires_grad_(true);
        using var up = randn(config.IntermediateSize, e).to_type(dtype).requires_grad_(true);
        Time("linear 384->1024 fwd+bwd", 3.0 * 2 * b * t * e * config.IntermediateSize / 1e9, () => nn.functional.linear(xc, up).sum());
        using var kw = randn(config.NumKeyValueHeads * config.HeadDim, e).to_type(dtype).requires_grad_(true);
        Time("linear 384->128 fwd+bwd", 3.0 * 2 * b * t * e * config.NumKeyValueHeads * config.HeadDim / 1e9, () => nn.functional.linear(xc, kw).sum());
        using var qkv = randn(e + (2 * config.NumKeyValueHeads * config.HeadDim), e).to_type(dtype).requires_grad_(true);
        Time("linear 384->640 fwd+bwd", 3.0 * 2 * b * t * e * (e + (2 * config.NumKeyValueHeads * config.HeadDim)) / 1e9, () => nn.functional.linear(xc, qkv).sum());
        using var x2 = randn(b, t - 1, e).requires_grad_(true);
        using var target = randint(0, config.VocabSize, [b * (t - 1)]);
        var headFlops = 3.0 * 2 * b * (t - 1) * e * config.VocabSize / 1e9;
        Time("lm_head + cross-entropy fwd+bwd", headFlops, () => nn.functional.cross_entropy(head.forward(x2).reshape(-1, config.VocabSize), target, reduction: nn.Reduction.Sum));
        Time("lm_head only fwd+bwd", headFlops, () => head.forward(x2).sum());
        foreach (var chunks in new[] { 2, 4, 8 })
        {
            Time($"lm_head + cross-entropy in {chunks} chunks fwd+bwd", headFlops, () =>
            {
                var rows = x2.reshape(-1, e).chunk(chunks);
                var targets = target.chunk(chunks);
                Tensor? total = null;
                for (var c = 0; c < chunks; c++)
                {
                    var l = nn.functional.cross_entropy(head.forward(rows[c]), targets[c], reduction: nn.Reduction.Sum);
                    total = total is null ? l : total + l;
                }

                return total!;
            });
        }
        using var lm = ModelFolder.Initialize(config, 1);
        lm.SetPrecision(precision);
        Time("lm_head + loss as in training (ChunkedCrossEntropySum)", headFlops, () => CausalLmObjective.ChunkedCrossEntropySum(lm, x2.reshape(-1, e), target));
        using var norm = new RmsNorm(e, 1e-6);
        Time("rmsnorm fwd+bwd", 0, () => (norm.forward(x) * gy).sum());
        using var qr = randn(b, t, config.NumHeads, config.HeadDim).requires_grad_(true);
        Time("rope(q) fwd+bwd", 0, () => RotaryEmbedding.Apply(qr.transpose(1, 2), cos, sin).sum());
    }

    /// <summary>GEMM rate in <paramref name="dtype"/> (float32 or bfloat16): 2 · n³ flops per 2048×2048 matmul, best of three timed loops.</summary>
    private static (double PerSecond, double PerCpuSecond) MeasureGemm(ScalarType dtype)
    {
        const int n = 2048, reps = 10;
        using var a = randn(n, n).to_type(dtype);
        using var b = randn(n, n).to_type(dtype);
        for (var i = 0; i < 2; i++)
        {
            using var c = a.matmul(b);   // warm-up
        }

        double best = 0, bestCpu = 0;
        for (var round = 0; round < 3; round++)
        {
            var cpu = CpuSeconds();
            var sw = Stopwatch.StartNew();
            for (var i = 0; i < reps; i++)
            {
                using var c = a.matmul(b);
            }

            best = Math.Max(best, 2.0 * n * n * n * reps / sw.Elapsed.TotalSeconds / 1e9);
            bestCpu = Math.Max(bestCpu, 2.0 * n * n * n * reps / (CpuSeconds() - cpu) / 1e9);
        }

        return (best, bestCpu);
    }

    /// <summary>CPU time of this process (all threads), in seconds: less disturbed than wall time when other work shares the machine.</summary>
    private static double CpuSeconds()
    {
        using var process = Process.GetCurrentProcess();
        return process.TotalProcessorTime.TotalSeconds;
    }

    private static double Median(List<double> xs)
    {
        var s = xs.Order().ToList();
        return s.Count % 2 == 1 ? s[s.Count / 2] : (s[(s.Count / 2) - 1] + s[s.Count / 2]) / 2;
    }
}

using Attune.Alignment.Training;
using Attune.Core.Errors;
using Attune.Torch.Lora;
using Attune.Torch.Models;
using Attune.Torch.Training;
using static TorchSharp.torch;

namespace Attune.Alignment.Tests;

/// <summary>The preference trainer in bf16 and bf16-pure: a short DPO run against fp32, resume within a precision, the reference cache key.</summary>
[Collection("torch")]
public sealed class PrecisionTrainerTests
{
    /// <summary>The band of the short DPO run: absolute gap per step in the DPO loss (measured in docs/torch.md).</summary>
    private const double DpoBand = 0.005;

    private static PreferenceTrainerOptions Options(Precision precision, bool lora = false, int maxSteps = 20, int saveEvery = 0, bool resume = false) => new()
    {
        Loss = "dpo", LossOptions = new() { Beta = 0.1 }, BatchSize = 8, MaxSteps = maxSteps, Epochs = 10, LearningRate = 3e-3, Schedule = ScheduleKind.Constant,
        Plot = false, Seed = 4, Precision = precision, SaveEvery = saveEvery, KeepCheckpoints = 0, Resume = resume,
        Lora = lora ? new LoraConfig { Rank = 4, Alpha = 8, TargetModules = ["q_proj", "v_proj", "down_proj"] } : null,
    };

    [Fact]
    public void A_short_bf16_dpo_run_starts_at_log_2_and_stays_within_the_loss_band_of_fp32()
    {
        var pairs = TinyTask.Pairs(32, seed: 1);
        double[] Losses(Precision precision)
        {
            using var policy = TinyTask.Model();
            using var reference = TinyTask.Model();
            using var dir = new TempDir();
            var result = new PreferenceTrainer(policy, reference, pairs, null, Options(precision), dir.Path).Run();
            Assert.Equal(precision, policy.Precision);
            Assert.Equal(precision, reference.Precision);
            return [.. result.History.Select(s => s.Loss)];
        }

        var fp32 = Losses(Precision.Fp32);
        var bf16 = Losses(Precision.Bf16);
        Assert.Equal(20, bf16.Length);
        // Policy and reference compute alike: at step 1 they are the same model, so the margin is 0 and the loss log 2.
        Assert.Equal(Math.Log(2), bf16[0], 1e-6);
        var gaps = fp32.Zip(bf16, (a, b) => Math.Abs(a - b)).ToArray();
        Assert.True(gaps.Max() <= DpoBand, $"largest gap {gaps.Max():E2} (step {Array.IndexOf(gaps, gaps.Max()) + 1})");
        Assert.True(gaps.Max() > 0, "bf16 gave exactly the fp32 losses: did it run in float32?");
        Assert.True(bf16[^1] < bf16[0] - 0.1, $"bf16 did not learn: {bf16[0]} -> {bf16[^1]}");
    }

    [Theory]
    [InlineData(false, Precision.Bf16)]
    [InlineData(true, Precision.Bf16Pure)]
    public void A_cancelled_bf16_run_resumes_to_bit_identical_weights(bool lora, Precision precision)
    {
        var pairs = TinyTask.Pairs(24, seed: 6);
        byte[][] Weights(CausalLM m) => [.. m.named_parameters().OrderBy(p => p.name, StringComparer.Ordinal).Select(p => p.parameter.detach().bytes.ToArray())];

        using var straightDir = new TempDir();
        using var straight = TinyTask.Model();
        using (var reference = TinyTask.Model())
        {
            new PreferenceTrainer(straight, reference, pairs, null, Options(precision, lora, maxSteps: 6, saveEvery: 2), straightDir.Path).Run();
        }

        using var dir = new TempDir();
        using (var first = TinyTask.Model())
        using (var reference = TinyTask.Model())
        {
            using var cts = new CancellationTokenSource();
            var trainer = new PreferenceTrainer(first, reference, pairs, null, Options(precision, lora, maxSteps: 6, saveEvery: 2), dir.Path);
            trainer.Hooks.Add(s => { if (s.Step == 3) { cts.Cancel(); } });
            Assert.True(trainer.Run(cts.Token).Cancelled);
        }

        using var resumed = TinyTask.Model(seed: lora ? 5 : 77);
        using (var reference = TinyTask.Model())
        {
            Assert.Equal(3, new PreferenceTrainer(resumed, reference, pairs, null, Options(precision, lora, maxSteps: 6, saveEvery: 2, resume: true), dir.Path).Run().ResumedFrom);
        }

        Assert.Equal(Weights(straight), Weights(resumed));

        // Another precision does not resume it.
        using var other = TinyTask.Model();
        using var otherReference = TinyTask.Model();
        var refused = Assert.Throws<AttuneInputException>(() => new PreferenceTrainer(other, otherReference, pairs, null, Options(Precision.Fp32, lora, maxSteps: 6, resume: true), dir.Path).Run());
        Assert.Contains($"--precision {precision.Name()}", refused.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void Bf16_pure_refuses_full_training_and_the_reference_cache_is_kept_per_precision()
    {
        var pairs = TinyTask.Pairs(8, seed: 2);
        using var dir = new TempDir();
        using (var policy = TinyTask.Model())
        using (var reference = TinyTask.Model())
        {
            var e = Assert.Throws<AttuneInputException>(() => new PreferenceTrainer(policy, reference, pairs, null, Options(Precision.Bf16Pure), dir.Path).Run());
            Assert.Contains("LoRA", e.Message, StringComparison.Ordinal);
        }

        using var model = TinyTask.Model(seed: 9);
        var cache = Path.Combine(dir.Path, "cache");
        var fp32 = ReferenceCache.Load(model, pairs, 4, 0, cache);
        model.SetPrecision(Precision.Bf16);                      // the same float32 weights, other log-probs
        var bf16 = ReferenceCache.Load(model, pairs, 4, 0, cache);
        Assert.False(bf16.FromCache);
        Assert.NotEqual(fp32.Key, bf16.Key);
        Assert.NotEqual(fp32.Chosen, bf16.Chosen);
        Assert.True(ReferenceCache.Load(model, pairs, 4, 0, cache).FromCache);
        model.SetPrecision(Precision.Fp32);
        Assert.Equal(fp32.Key, ReferenceCache.Load(model, pairs, 4, 0, cache).Key);
    }
}

using Attune.Alignment.Losses;
using Attune.Alignment.Probe;
using Attune.Alignment.Training;
using Attune.Core.Errors;
using Attune.Torch.Models;
using Attune.Torch.Tokenizers;
using Attune.Torch.Training;
using static TorchSharp.torch;

namespace Attune.Alignment.Tests;

/// <summary>The preference trainer: fixture SGD step, learning on held-out pairs for every loss, the reference cache, resume, the mitigation, the training-time probe.</summary>
[Collection("torch")]
public sealed class TrainerTests
{
    public static TheoryData<string> Architectures => new() { "llama", "qwen2", "qwen3" };

    public static TheoryData<string> Losses => [.. MarginLoss.Names];

    [Theory]
    [MemberData(nameof(Architectures))]
    public void One_sgd_step_of_the_trainer_on_dpo_matches_the_fixture(string arch)
    {
        var expected = Fixtures.Expected(arch);
        var step = expected.GetProperty("after_one_sgd_step");
        var entry = expected.GetProperty("dpo")[step.GetProperty("pair").GetInt32()];
        var tok = AutoTokenizer.Load(Fixtures.Tokenizer);
        var pair = new PreferenceTokens(tok.Encode(entry.GetProperty("prompt").GetString()!), tok.Encode(entry.GetProperty("chosen").GetString()!), tok.Encode(entry.GetProperty("rejected").GetString()!));
        using var policy = CausalLM.Load(Fixtures.Model(arch));
        using var reference = CausalLM.Load(Fixtures.Model(arch, "reference"));
        using var dir = new TempDir();
        var trainer = new PreferenceTrainer(policy, reference, [pair], null, new PreferenceTrainerOptions
        {
            Loss = "dpo", LossOptions = new() { Beta = entry.GetProperty("beta").GetDouble() }, Update = UpdateRule.Sgd, MaxGradNorm = 0,
            LearningRate = step.GetProperty("lr").GetDouble(), Schedule = ScheduleKind.Constant, BatchSize = 1, MaxSteps = 1, Plot = false,
        }, dir.Path);
        var result = trainer.Run();
        Assert.Equal(entry.GetProperty("loss_sigmoid").GetDouble(), result.Last!.Loss, 1e-5);
        var (chosen, rejected) = EntanglementProbe.ReferenceLogProbs(policy, pair);
        Assert.Equal(step.GetProperty("chosen_logp").GetDouble(), chosen, 1e-4);
        Assert.Equal(step.GetProperty("rejected_logp").GetDouble(), rejected, 1e-4);
        Assert.True(File.Exists(Path.Combine(dir.Path, "model", "model.safetensors")));
    }

    [Theory]
    [MemberData(nameof(Losses))]
    public void Training_raises_held_out_preference_accuracy_above_chance(string loss)
    {
        using var policy = TinyTask.Model();
        using var reference = TinyTask.Model();
        using var dir = new TempDir();
        var options = new PreferenceTrainerOptions
        {
            Loss = loss, LossOptions = new() { Beta = loss == "simpo" ? 2 : 0.1 }, BatchSize = 8, Epochs = 4, LearningRate = 3e-3,
            Schedule = ScheduleKind.Constant, Plot = loss == "dpo", Seed = 3,
        };
        var trainer = new PreferenceTrainer(policy, reference, TinyTask.Pairs(48, seed: 1), TinyTask.Pairs(40, seed: 2), options, dir.Path);
        var result = trainer.Run();
        Assert.Equal(24, result.Steps);
        Assert.True(result.FinalEval!.Accuracy >= 0.8, $"{loss}: held-out accuracy {result.InitialEval!.Accuracy} -> {result.FinalEval.Accuracy}");
        Assert.True(result.FinalEval.Accuracy > result.InitialEval!.Accuracy || result.InitialEval.Accuracy == 1, $"{loss}: accuracy did not rise");
        Assert.True(result.FinalEval.Margin > result.InitialEval.Margin, $"{loss}: margin {result.InitialEval.Margin} -> {result.FinalEval.Margin}");
        var lines = File.ReadAllLines(Path.Combine(dir.Path, "metrics.jsonl"));
        Assert.Equal(24, lines.Length);
        Assert.Contains("\"chosen_reward\"", lines[0], StringComparison.Ordinal);
        Assert.Equal(loss == "dpo", File.Exists(Path.Combine(dir.Path, "logps.png")));
    }

    [Fact]
    public void Reference_log_probs_are_cached_by_model_and_data()
    {
        using var policy = TinyTask.Model();
        using var reference = TinyTask.Model(seed: 9);
        using var dir = new TempDir();
        var pairs = TinyTask.Pairs(10, seed: 4);
        var cache = Path.Combine(dir.Path, "cache");
        var first = ReferenceCache.Load(reference, pairs, 4, 0, cache);
        var second = ReferenceCache.Load(reference, pairs, 4, 0, cache);
        Assert.False(first.FromCache);
        Assert.True(second.FromCache);
        Assert.Equal(first.Chosen, second.Chosen);
        Assert.Equal(first.Key, second.Key);
        // Computed one pair at a time, the values are the same (batching and padding change nothing).
        var (c, r) = EntanglementProbe.ReferenceLogProbs(reference, pairs[3]);
        Assert.Equal(c, first.Chosen[3], 1e-4);
        Assert.Equal(r, first.Rejected[3], 1e-4);
        // Other data or another model: another key, recomputed.
        Assert.False(ReferenceCache.Load(reference, pairs.Take(9).ToList(), 4, 0, cache).FromCache);
        Assert.False(ReferenceCache.Load(policy, pairs, 4, 0, cache).FromCache);
        Assert.Equal(3, Directory.GetFiles(cache).Length);
    }

    [Fact]
    public void Cached_and_recomputed_reference_train_identically()
    {
        float[] Run(bool cache)
        {
            using var policy = TinyTask.Model();
            using var reference = TinyTask.Model(seed: 9);
            using var dir = new TempDir();
            new PreferenceTrainer(policy, reference, TinyTask.Pairs(16, seed: 1), null,
                new PreferenceTrainerOptions { CacheReference = cache, MaxSteps = 3, BatchSize = 4, LearningRate = 1e-3, Plot = false }, dir.Path).Run();
            return policy.StateDict()["model.layers.1.mlp.down_proj.weight"].data<float>().ToArray();
        }

        var a = Run(true);
        var b = Run(false);
        Assert.Equal(a.Length, b.Length);
        Assert.True(a.Zip(b).Max(p => Math.Abs(p.First - p.Second)) < 1e-6);
    }

    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public void A_cancelled_run_resumes_to_the_same_weights(bool lora)
    {
        var pairs = TinyTask.Pairs(24, seed: 6);
        PreferenceTrainerOptions Options(bool resume) => new()
        {
            Loss = "ipo", MaxSteps = 6, BatchSize = 4, LearningRate = 2e-3, Plot = false, SaveEvery = 2, Resume = resume,
            Lora = lora ? new Attune.Torch.Lora.LoraConfig { Rank = 4, Alpha = 8 } : null,
        };

        byte[][] Weights(CausalLM m) => [.. m.named_parameters().OrderBy(p => p.name, StringComparer.Ordinal).Select(p => p.parameter.detach().bytes.ToArray())];

        using var straightDir = new TempDir();
        using var straight = TinyTask.Model();
        using (var reference = TinyTask.Model())
        {
            new PreferenceTrainer(straight, reference, pairs, null, Options(false), straightDir.Path).Run();
        }

        using var dir = new TempDir();
        using (var first = TinyTask.Model())
        using (var reference = TinyTask.Model())
        {
            using var cts = new CancellationTokenSource();
            var trainer = new PreferenceTrainer(first, reference, pairs, null, Options(false), dir.Path);
            trainer.Hooks.Add(s => { if (s.Step == 3) { cts.Cancel(); } });
            var stopped = trainer.Run(cts.Token);
            Assert.True(stopped.Cancelled);
            Assert.Equal(3, stopped.Steps);
        }

        using var resumed = TinyTask.Model(seed: lora ? 5 : 77);   // full fine-tuning: every weight must come from the checkpoint
        using (var reference = TinyTask.Model())
        {
            var result = new PreferenceTrainer(resumed, reference, pairs, null, Options(true), dir.Path).Run();
            Assert.Equal(3, result.ResumedFrom);
            Assert.Equal(6, result.Steps);
        }

        Assert.Equal(Weights(straight), Weights(resumed));
        Assert.Equal(6, File.ReadAllLines(Path.Combine(dir.Path, "metrics.jsonl")).Length);
    }

    [Fact]
    public void Pair_normalised_update_raises_chosen_and_lowers_rejected_even_when_dpo_lowers_both()
    {
        // Pairs with a long shared suffix: the responses differ only in their first token.
        var tok = TinyTask.Tokenizer;
        var pair = new PreferenceTokens(tok.Encode("mno:"), tok.Encode("a" + "stsrqpon"), tok.Encode("w" + "stsrqpon"));
        (double Chosen, double Rejected) Step(UpdateRule rule)
        {
            using var policy = TinyTask.Model();
            using var reference = TinyTask.Model();
            using var dir = new TempDir();
            var before = EntanglementProbe.ReferenceLogProbs(policy, pair);
            new PreferenceTrainer(policy, reference, [pair], null, new PreferenceTrainerOptions
            {
                Update = rule, LearningRate = 1e-3, MaxGradNorm = 0, MaxSteps = 1, BatchSize = 1, Schedule = ScheduleKind.Constant, Plot = false,
            }, dir.Path).Run();
            var after = EntanglementProbe.ReferenceLogProbs(policy, pair);
            return (after.Chosen - before.Chosen, after.Rejected - before.Rejected);
        }

        var normalised = Step(UpdateRule.PairNormalized);
        Assert.True(normalised.Chosen > 0, $"chosen changed by {normalised.Chosen}");
        Assert.True(normalised.Rejected < 0, $"rejected changed by {normalised.Rejected}");
    }

    [Fact]
    public void Training_time_probe_predicts_the_observed_directions_of_small_sgd_steps()
    {
        var pairs = TinyTask.Pairs(1, seed: 8, length: 6);
        using var policy = TinyTask.Model();
        using var reference = TinyTask.Model();
        using var dir = new TempDir();
        var result = new PreferenceTrainer(policy, reference, pairs, null, new PreferenceTrainerOptions
        {
            Update = UpdateRule.Sgd, LearningRate = 1e-2, MaxGradNorm = 0, Epochs = 4, BatchSize = 1, ProbeEvery = 1, Schedule = ScheduleKind.Constant, Plot = false,
        }, dir.Path).Run();
        Assert.Equal(4, result.Probes.Count);
        foreach (var p in result.Probes)
        {
            // First order: the observed change is the predicted one within a few percent.
            Assert.True(p.Agrees, $"step {p.Step}: predicted {p.PredictedChosenChange}/{p.PredictedRejectedChange}, observed {p.ObservedChosenChange}/{p.ObservedRejectedChange}");
            Assert.Equal(p.PredictedChosenChange, p.ObservedChosenChange, Math.Abs(p.PredictedChosenChange) * 0.1);
        }

        Assert.Equal(4, File.ReadAllLines(Path.Combine(dir.Path, "probe.jsonl")).Length);
    }

    [Fact]
    public void Bad_data_lines_name_the_file_line_and_field()
    {
        using var dir = new TempDir();
        var path = Path.Combine(dir.Path, "pairs.jsonl");
        File.WriteAllText(path, "{\"prompt\": \"a\", \"chosen\": \"b\", \"rejected\": \"c\", \"user\": 7}\n{\"prompt\": \"a\", \"chosen\": \"b\"}\n");
        var e = Assert.Throws<AttuneInputException>(() => PreferenceData.Read(path));
        Assert.Equal((2L, "rejected"), (e.Line!.Value, e.Field!));
        File.WriteAllText(path, "{\"prompt\": \"a\", \"chosen\": \"b\", \"rejected\": \"c\", \"user\": 7}\n");
        var ok = PreferenceData.Read(path);
        Assert.Equal(7, ok[0].Extra["user"].GetInt32());
    }
}

using Attune.Alignment.Training;
using Attune.Torch.Models;
using Attune.Torch.Tokenizers;
using Attune.Torch.Training;
using static TorchSharp.torch;

namespace Attune.Personalization.Tests;

/// <summary>P-DPO training through Attune.Alignment's trainer: the user model learns, is saved beside the weights, loads back, and resumes.</summary>
[Collection("torch")]
public sealed class TrainerTests : IDisposable
{
    private static readonly CharTokenizer Tokenizer = CharTokenizer.FromAlphabet("abcdwxyzmnopqrst:");
    private readonly string _dir = Path.Combine(Path.GetTempPath(), "attune-ptrain-" + Guid.NewGuid().ToString("N")[..10]);

    public void Dispose()
    {
        if (Directory.Exists(_dir))
        {
            Directory.Delete(_dir, recursive: true);
        }
    }

    private static CausalLM Model() => ModelFolder.Initialize(BuiltInModels.Create("llama", "tiny", Tokenizer.VocabSize), 5);

    /// <summary>Two users who disagree: "pos" prefers responses of abcd, "neg" the same pairs the other way round.</summary>
    internal static List<PersonalPair> Conflicting(int count, int seed)
    {
        var rng = new Random(seed);
        string Draw(string alphabet, int n) => new([.. Enumerable.Range(0, n).Select(_ => alphabet[rng.Next(alphabet.Length)])]);
        var pairs = new List<PersonalPair>();
        for (var i = 0; i < count; i++)
        {
            var (prompt, good, bad) = (Tokenizer.Encode(Draw("mnopqrst", 3) + ":"), Tokenizer.Encode(Draw("abcd", 3)), Tokenizer.Encode(Draw("wxyz", 3)));
            pairs.Add(i % 2 == 0 ? new PersonalPair(new PreferenceTokens(prompt, good, bad), "pos") : new PersonalPair(new PreferenceTokens(prompt, bad, good), "neg"));
        }

        return pairs;
    }

    private static double Accuracy(CausalLM policy, CausalLM reference, UserModel users, IReadOnlyList<PersonalPair> pairs)
    {
        using var _ = no_grad();
        var (rc, rr) = PersonalizedDpo.ReferenceLogProbs(reference, pairs);
        using var o = PersonalizedDpo.Compute(policy, users, pairs, rc, rr, new PersonalizedDpoOptions());
        return o.Readings.Margin.gt(0).to_type(ScalarType.Float32).mean().item<float>();
    }

    [Fact]
    public void Users_who_disagree_are_each_served_and_the_user_model_is_saved_and_loaded()
    {
        using var policy = Model();
        using var reference = Model();
        using var users = UserModel.Create(new UserModelOptions { Kind = UserModelKind.Individual, Tokens = 2 }, ["pos", "neg"], policy.Embed(arange(Tokenizer.VocabSize)).detach(), 1);
        var train = Conflicting(48, 1);
        var eval = Conflicting(24, 2);
        var options = new PreferenceTrainerOptions { BatchSize = 8, Epochs = 6, LearningRate = 3e-3, Plot = false, LogEvery = 0, Seed = 4, LossOptions = new() { Beta = 0.5 } };
        var trainer = new PersonalizedTrainer(policy, reference, users, train, eval, options, new PersonalizedDpoOptions { Alpha = 0.8 }, _dir);
        var before = users.Tensors()["offsets"].clone();
        var result = trainer.Run();
        Assert.False(result.Cancelled);
        Assert.False(users.Tensors()["offsets"].allclose(before), "the user model was trained");

        // Each user gets their own preference on held-out prompts: a single preference could serve at most half.
        var accuracy = Accuracy(policy, reference, users, eval);
        Assert.True(accuracy >= 0.8, $"held-out accuracy with each user's tokens: {accuracy}");
        Assert.Equal(accuracy, result.FinalEval!.Accuracy, 5);

        // The final folder holds the Hugging Face files and the user model; both load back to the same numbers.
        var final = result.Output!;
        Assert.True(File.Exists(Path.Combine(final, UserModelFiles.TensorsFile)));
        using var loadedPolicy = CausalLM.Load(final);
        using var loadedUsers = UserModelFiles.Load(final);
        Assert.Equal(["pos", "neg"], loadedUsers.Users);
        using var a = users.Embed(["pos", "neg", null]);
        using var b = loadedUsers.Embed(["pos", "neg", null]);
        Assert.True(a.allclose(b, rtol: 0, atol: 0));
        Assert.Equal(accuracy, Accuracy(loadedPolicy, reference, loadedUsers, eval), 6);

        // Identical logits for a sequence with each user's tokens spliced in.
        using (no_grad())
        {
            var ids = tensor(eval[0].Tokens.Prompt.Select(i => (long)i).ToArray()).unsqueeze(0);
            foreach (var who in new[] { "pos", "neg" })
            {
                Tensor Logits(CausalLM m, UserModel u)
                {
                    var e = m.Embed(ids);
                    return m.Head(m.HiddenFromEmbeddings(cat([e[.., ..1], u.Embed([who]), e[.., 1..]], 1)));
                }

                using var x = Logits(policy, users);
                using var y = Logits(loadedPolicy, loadedUsers);
                Assert.True(x.allclose(y, rtol: 0, atol: 0), who);
            }
        }
    }

    [Fact]
    public void A_resumed_run_ends_where_an_uninterrupted_one_does()
    {
        UserModel Users(CausalLM m) => UserModel.Create(new UserModelOptions { Kind = UserModelKind.Cluster, Tokens = 2, Clusters = 2 }, ["pos", "neg"], m.Embed(arange(Tokenizer.VocabSize)).detach(), 1);
        var train = Conflicting(16, 3);
        var options = new PreferenceTrainerOptions { BatchSize = 4, Epochs = 2, LearningRate = 1e-3, Plot = false, LogEvery = 0, Seed = 4, SaveEvery = 3 };

        using var p1 = Model();
        using var r1 = Model();
        using var u1 = Users(p1);
        new PersonalizedTrainer(p1, r1, u1, train, null, options, new PersonalizedDpoOptions(), Path.Combine(_dir, "whole")).Run();

        using var p2 = Model();
        using var r2 = Model();
        using var u2 = Users(p2);
        using (var cts = new CancellationTokenSource())
        {
            var first = new PersonalizedTrainer(p2, r2, u2, train, null, options, new PersonalizedDpoOptions(), Path.Combine(_dir, "split"));
            first.Trainer.Hooks.Add(s => { if (s.Step == 4) cts.Cancel(); });
            Assert.True(first.Run(cts.Token).Cancelled);
        }

        using var p3 = Model();
        using var u3 = Users(p3);
        var resumed = new PersonalizedTrainer(p3, r2, u3, train, null, options with { Resume = true }, new PersonalizedDpoOptions(), Path.Combine(_dir, "split")).Run();
        Assert.Equal(4, resumed.ResumedFrom);
        Assert.True(u1.Tensors()["logits"].allclose(u3.Tensors()["logits"], rtol: 0, atol: 0), "user model after resume");
        Assert.True(u1.Tensors()["prototypes"].allclose(u3.Tensors()["prototypes"], rtol: 0, atol: 0));
        Assert.Equal(u1.Weights("pos"), u3.Weights("pos"));
    }
}

/// <summary>P-RM training through the same trainer: users who disagree are each ranked right; the head and user model save and load.</summary>
[Collection("torch")]
public sealed class RewardTrainerTests : IDisposable
{
    private readonly string _dir = Path.Combine(Path.GetTempPath(), "attune-prm-" + Guid.NewGuid().ToString("N")[..10]);

    public void Dispose()
    {
        if (Directory.Exists(_dir))
        {
            Directory.Delete(_dir, recursive: true);
        }
    }

    private static double Accuracy(PersonalizedRewardModel rm, UserModel users, IReadOnlyList<PersonalPair> pairs)
    {
        using var _ = no_grad();
        using var o = rm.Loss(users, pairs, 0.5, 1);
        return (o.Chosen - o.Rejected).gt(0).to_type(ScalarType.Float32).mean().item<float>();
    }

    [Fact]
    public void A_personalised_reward_model_ranks_each_users_pairs_and_loads_back()
    {
        var tokenizer = CharTokenizer.FromAlphabet("abcdwxyzmnopqrst:");
        using var rm = new PersonalizedRewardModel(ModelFolder.Initialize(BuiltInModels.Create("llama", "tiny", tokenizer.VocabSize), 5), 3);
        using var users = UserModel.Create(new UserModelOptions { Kind = UserModelKind.Individual, Tokens = 2 }, ["pos", "neg"], rm.Body.Embed(arange(tokenizer.VocabSize)).detach(), 1);
        var train = TrainerTests.Conflicting(48, 1);
        var eval = TrainerTests.Conflicting(24, 2);
        var before = Accuracy(rm, users, eval);
        var options = new PreferenceTrainerOptions { BatchSize = 8, Epochs = 12, LearningRate = 3e-3, Plot = false, LogEvery = 0, Seed = 4, Schedule = ScheduleKind.Constant };
        var result = new PersonalizedRewardTrainer(rm, users, train, eval, options, 0.8, 1, _dir).Run();
        var after = Accuracy(rm, users, eval);
        Assert.True(after >= 0.8, $"held-out ranking accuracy with each user's tokens: {before} before, {after} after");
        Assert.Equal(after, result.FinalEval!.Accuracy, 5);

        var final = result.Output!;
        Assert.True(File.Exists(Path.Combine(final, PersonalizedRewardModel.HeadFile)));
        using var loaded = new PersonalizedRewardModel(CausalLM.Load(final), 99);
        loaded.LoadHead(final);
        using var loadedUsers = UserModelFiles.Load(final);
        Assert.Equal(after, Accuracy(loaded, loadedUsers, eval), 6);
    }
}

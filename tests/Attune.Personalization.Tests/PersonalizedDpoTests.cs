using Attune.Alignment.Losses;
using Attune.Alignment.Training;
using Attune.Core.Errors;
using Attune.Torch.Models;
using Attune.Torch.Tokenizers;
using TorchSharp;
using static TorchSharp.torch;

namespace Attune.Personalization.Tests;

/// <summary>Torch tests seed torch's process-wide generator, so they do not run in parallel.</summary>
[CollectionDefinition("torch", DisableParallelization = true)]
public sealed class TorchCollection;

/// <summary>User models and the P-DPO loss on a tiny Llama, against hand-written computations.</summary>
[Collection("torch")]
public sealed class PersonalizedDpoTests
{
    private static readonly CharTokenizer Tokenizer = CharTokenizer.FromAlphabet("abcdwxyzmnopqrst:");

    static PersonalizedDpoTests() => set_num_threads(1);

    private static CausalLM Model(int seed = 5) => ModelFolder.Initialize(BuiltInModels.Create("llama", "tiny", Tokenizer.VocabSize), seed);

    private static List<PersonalPair> Batch()
    {
        PersonalPair P(string prompt, string chosen, string rejected, string? user) =>
            new(new PreferenceTokens(Tokenizer.Encode(prompt), Tokenizer.Encode(chosen), Tokenizer.Encode(rejected)), user);
        return [P("mno:", "abc", "wxyz", "ann"), P("pq:", "dd", "wx", "bob"), P("rst:", "abcd", "y", "carl"), P("mm:", "ba", "zw", null)];
    }

    private static UserModel Users(CausalLM model, UserModelKind kind, int seed = 3, int tokens = 3)
    {
        var users = UserModel.Create(new UserModelOptions { Kind = kind, Tokens = tokens, Clusters = 2 }, ["ann", "bob"], model.Embed(tensor(new long[] { 0 })).detach()[0].unsqueeze(0).expand(Tokenizer.VocabSize, -1).contiguous(), seed);
        // Move every user away from the generic representation, so that personal and generic differ.
        using (no_grad())
        {
            manual_seed(7);
            foreach (var (_, t) in users.Tensors())
            {
                t.add_(randn_like(t) * 0.5);
            }
        }

        return users;
    }

    private static (Tensor Chosen, Tensor Rejected) Ref(CausalLM reference, IReadOnlyList<PersonalPair> batch) =>
        PersonalizedDpo.ReferenceLogProbs(reference, batch);

    /// <summary>The per-pair DPO losses of the policy reading every pair with <paramref name="soft"/> [N, T, E], written out.</summary>
    private static double[] HandLosses(CausalLM policy, IReadOnlyList<PersonalPair> batch, Tensor soft, Tensor refChosen, Tensor refRejected, double beta)
    {
        using var chosen = LogProbs.Response(policy, [.. batch.Select(p => new SequencePair(p.Tokens.Prompt, p.Tokens.Chosen))], soft, 1);
        using var rejected = LogProbs.Response(policy, [.. batch.Select(p => new SequencePair(p.Tokens.Prompt, p.Tokens.Rejected))], soft, 1);
        var pc = chosen.Sum.to_type(ScalarType.Float64).data<double>().ToArray();
        var pr = rejected.Sum.to_type(ScalarType.Float64).data<double>().ToArray();
        var rc = refChosen.to_type(ScalarType.Float64).data<double>().ToArray();
        var rr = refRejected.to_type(ScalarType.Float64).data<double>().ToArray();
        return [.. Enumerable.Range(0, batch.Count).Select(i => Math.Log(1 + Math.Exp(-beta * ((pc[i] - rc[i]) - (pr[i] - rr[i])))))];
    }

    [Theory]
    [InlineData(UserModelKind.Individual)]
    [InlineData(UserModelKind.Cluster)]
    public void Known_users_get_their_own_tokens_and_unknown_ones_the_generic(UserModelKind kind)
    {
        using var model = Model();
        using var users = Users(model, kind);
        using var soft = users.Embed(["ann", "bob", null, "", "stranger"]);
        Assert.Equal([5L, 3L, model.Config.HiddenSize], soft.shape);
        Assert.True(soft[2].allclose(soft[3], rtol: 0, atol: 0));
        Assert.True(soft[2].allclose(soft[4], rtol: 0, atol: 0));
        Assert.False(soft[0].allclose(soft[2]));
        Assert.False(soft[0].allclose(soft[1]));
        Assert.True(users.Knows("ann"));
        Assert.False(users.Knows("stranger"));
    }

    [Theory]
    [InlineData(UserModelKind.Individual, 0, 2, "--user-tokens must be between 1 and 256 (got 0)")]
    [InlineData(UserModelKind.Individual, 257, 2, "--user-tokens must be between 1 and 256 (got 257)")]
    [InlineData(UserModelKind.Cluster, 10, 0, "--clusters must be between 1 and 1024 (got 0)")]
    [InlineData(UserModelKind.Cluster, 10, 1025, "--clusters must be between 1 and 1024 (got 1025)")]
    public void User_model_sizes_out_of_bounds_are_refused_with_the_option_named(UserModelKind kind, int tokens, int clusters, string message)
    {
        var ex = Assert.Throws<AttuneInputException>(() => new UserModelOptions { Kind = kind, Tokens = tokens, Clusters = clusters }.Validate());
        Assert.Equal(message, ex.Message);
        Assert.Equal(UserModelKind.Individual, new UserModelOptions { Kind = UserModelKind.Individual, Tokens = 256, Clusters = 5000 }.Validate().Kind);   // K is not read by an individual model
    }

    [Fact]
    public void Cluster_weights_sum_to_one_and_an_unknown_user_is_uniform()
    {
        using var model = Model();
        using var users = Users(model, UserModelKind.Cluster);
        foreach (var u in new[] { "ann", "bob" })
        {
            var w = users.Weights(u)!;
            Assert.Equal(2, w.Length);
            Assert.Equal(1.0, w.Sum(), 12);
        }

        Assert.NotEqual(users.Weights("ann")![0], users.Weights("bob")![0], 6);
        Assert.Equal([0.5, 0.5], users.Weights("stranger")!);

        // The soft tokens are the weighted prototypes.
        var prototypes = users.Tensors()["prototypes"];
        var w0 = users.Weights("ann")!;
        using var expected = (prototypes[0] * w0[0]) + (prototypes[1] * w0[1]);
        using var got = users.Embed(["ann"]);
        Assert.True(got[0].allclose(expected, rtol: 1e-5, atol: 1e-6));
    }

    [Fact]
    public void A_model_without_user_tokens_is_vanilla_dpo()
    {
        using var policy = Model(5);
        using var reference = Model(5);
        using var users = UserModel.Create(new UserModelOptions { Kind = UserModelKind.None }, ["ann", "bob"], policy.Embed(tensor(new long[] { 0, 1 })).detach(), 1);
        var batch = Batch();
        var (rc, rr) = Ref(reference, batch);
        using var output = PersonalizedDpo.Compute(policy, users, batch, rc, rr, new PersonalizedDpoOptions());
        Assert.Null(output.Personal);
        using var noSoft = zeros(batch.Count, 0, policy.Config.HiddenSize);
        var hand = HandLosses(policy, batch, noSoft, rc, rr, 0.1);
        Assert.Equal(hand.Average(), output.Loss.item<float>(), 5);
    }

    [Fact]
    public void Alpha_zero_is_vanilla_dpo_on_the_generic_reading()
    {
        using var policy = Model(5);
        using var reference = Model(6);
        using var users = Users(policy, UserModelKind.Individual);
        var batch = Batch();
        var (rc, rr) = Ref(reference, batch);
        using var output = PersonalizedDpo.Compute(policy, users, batch, rc, rr, new PersonalizedDpoOptions { Alpha = 0 });
        using var generic = users.Embed([.. batch.Select(_ => (string?)null)]);
        var hand = HandLosses(policy, batch, generic, rc, rr, 0.1);
        Assert.Equal(hand.Average(), output.Loss.item<float>(), 6);
    }

    [Fact]
    public void Alpha_mixes_the_known_users_personal_terms_with_everyones_generic_terms()
    {
        using var policy = Model(5);
        using var reference = Model(6);
        using var users = Users(policy, UserModelKind.Individual);
        var batch = Batch(); // ann and bob are known; carl is not; the last pair has no user
        var (rc, rr) = Ref(reference, batch);
        var options = new PersonalizedDpoOptions { Alpha = 0.3, LossOptions = new LossOptions { Beta = 0.5 } };
        using var output = PersonalizedDpo.Compute(policy, users, batch, rc, rr, options);
        Assert.Equal([0, 1], output.KnownRows);

        using var personalSoft = users.Embed([.. batch.Select(p => p.User)]);
        using var genericSoft = users.Embed([.. batch.Select(_ => (string?)null)]);
        var personal = HandLosses(policy, batch, personalSoft, rc, rr, 0.5);
        var generic = HandLosses(policy, batch, genericSoft, rc, rr, 0.5);
        var expected = (0.3 * ((personal[0] + personal[1]) / 2)) + (0.7 * generic.Average());
        Assert.Equal(expected, output.Loss.item<float>(), 5);
        Assert.Equal(personal[0], output.Personal!.Loss[0].item<float>(), 5);
        Assert.Equal(generic[3], output.Generic.Loss[3].item<float>(), 5);
        // carl is unknown: his personal reading would be the generic one anyway.
        Assert.Equal(generic[2], personal[2], 9);
    }

    [Fact]
    public void The_reference_never_reads_user_tokens()
    {
        using var reference = Model(6);
        using var users = Users(reference, UserModelKind.Individual);
        var batch = Batch();
        var (rc, _) = Ref(reference, batch);
        using var plain = LogProbs.Response(reference, [.. batch.Select(p => new SequencePair(p.Tokens.Prompt, p.Tokens.Chosen))]);
        Assert.True(rc.allclose(plain.Sum, rtol: 0, atol: 0));
        using var soft = users.Embed([.. batch.Select(p => p.User)]);
        using var withUsers = LogProbs.Response(reference, [.. batch.Select(p => new SequencePair(p.Tokens.Prompt, p.Tokens.Chosen))], soft, 1);
        Assert.False(rc.allclose(withUsers.Sum, rtol: 1e-4, atol: 1e-4)); // the check could tell them apart
    }

    [Fact]
    public void The_user_model_gradient_matches_finite_differences_in_float64()
    {
        using var policy = Model(5);
        using var reference = Model(6);
        policy.to(ScalarType.Float64);
        reference.to(ScalarType.Float64);
        using var users = Users(policy, UserModelKind.Cluster);
        users.to(ScalarType.Float64);
        var batch = Batch();
        var (rc, rr) = Ref(reference, batch);
        var options = new PersonalizedDpoOptions { Alpha = 0.6 };
        double Loss()
        {
            using var _ = no_grad();
            using var o = PersonalizedDpo.Compute(policy, users, batch, rc, rr, options);
            return o.Loss.item<double>();
        }

        using (var o = PersonalizedDpo.Compute(policy, users, batch, rc, rr, options))
        {
            o.Loss.backward();
        }

        foreach (var (name, parameter) in new[] { ("prototypes", users.Tensors()["prototypes"]), ("logits", users.Tensors()["logits"]) })
        {
            var grad = parameter.grad!.to_type(ScalarType.Float64).flatten();
            var flat = parameter.detach().view(-1);
            // The largest gradient entries, where a finite difference is well above its error.
            var order = grad.abs().argsort(descending: true).data<long>().Take(3).ToArray();
            foreach (var i in order)
            {
                const double h = 1e-5;
                double original;
                using (no_grad())
                {
                    original = flat[i].item<double>();
                    flat[i] = original + h;
                }

                var up = Loss();
                using (no_grad())
                {
                    flat[i] = original - h;
                }

                var down = Loss();
                using (no_grad())
                {
                    flat[i] = original;
                }

                var numeric = (up - down) / (2 * h);
                var analytic = grad[i].item<double>();
                Assert.True(Math.Abs(analytic - numeric) <= 1e-3 * Math.Abs(numeric), $"{name}[{i}]: autograd {analytic}, finite difference {numeric}");
            }
        }
    }

    [Theory]
    [InlineData(-0.1)]
    [InlineData(1.5)]
    [InlineData(double.NaN)]
    public void Alpha_outside_zero_one_is_refused_naming_the_option(double alpha)
    {
        var ex = Assert.Throws<AttuneInputException>(() => new PersonalizedDpoOptions { Alpha = alpha }.Validate());
        Assert.Contains("--alpha", ex.Message, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData(UserModelKind.Individual, 0, 2, "--user-tokens")]
    [InlineData(UserModelKind.Cluster, 3, 0, "--clusters")]
    public void User_model_bounds_are_refused_naming_the_option(UserModelKind kind, int tokens, int clusters, string option)
    {
        var ex = Assert.Throws<AttuneInputException>(() => new UserModelOptions { Kind = kind, Tokens = tokens, Clusters = clusters }.Validate());
        Assert.Contains(option, ex.Message, StringComparison.Ordinal);
    }
}

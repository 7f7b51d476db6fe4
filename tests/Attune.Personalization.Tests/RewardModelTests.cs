using Attune.Alignment.Training;
using Attune.Torch.Models;
using Attune.Torch.Tokenizers;
using static TorchSharp.torch;

namespace Attune.Personalization.Tests;

/// <summary>The personalised reward model: last-token rewards and the mixed Bradley–Terry loss, against hand computations.</summary>
[Collection("torch")]
public sealed class RewardModelTests
{
    private static readonly CharTokenizer Tokenizer = CharTokenizer.FromAlphabet("abcdwxyzmnopqrst:");

    private static PersonalizedRewardModel Model() =>
        new(ModelFolder.Initialize(BuiltInModels.Create("llama", "tiny", Tokenizer.VocabSize), 5), 9);

    [Fact]
    public void A_reward_reads_the_sequences_last_token_whatever_the_padding()
    {
        using var rm = Model();
        using var _ = no_grad();
        var shortSeq = Tokenizer.Encode("mn:ab");
        var longSeq = Tokenizer.Encode("mnopq:abcdab");
        using var soft = zeros(2, 0, rm.Body.Config.HiddenSize);
        using var both = rm.Rewards([shortSeq, longSeq], soft, 0);
        using var alone = rm.Rewards([shortSeq], zeros(1, 0, rm.Body.Config.HiddenSize), 0);
        Assert.Equal(alone.item<float>(), both[0].item<float>(), 5);
        Assert.NotEqual(both[0].item<float>(), both[1].item<float>(), 3);
    }

    [Fact]
    public void The_loss_mixes_personal_and_generic_bradley_terry_terms()
    {
        using var rm = Model();
        using var users = UserModel.Create(new UserModelOptions { Kind = UserModelKind.Individual, Tokens = 2 }, ["ann"], rm.Body.Embed(arange(Tokenizer.VocabSize)).detach(), 4);
        using (no_grad())
        {
            TorchSharp.torch.manual_seed(3);
            users.Tensors()["offsets"].add_(randn_like(users.Tensors()["offsets"]));
        }

        PersonalPair P(string prompt, string chosen, string rejected, string? user) =>
            new(new PreferenceTokens(Tokenizer.Encode(prompt), Tokenizer.Encode(chosen), Tokenizer.Encode(rejected)), user);
        List<PersonalPair> batch = [P("mn:", "ab", "wx", "ann"), P("op:", "cd", "yz", "zed")];
        using var output = rm.Loss(users, batch, 0.25, 1);
        Assert.Equal([0], output.KnownRows);

        double Margin(PersonalPair p, string? user)
        {
            using var soft = users.Embed([user, user]);
            using var r = rm.Rewards([[.. p.Tokens.Prompt, .. p.Tokens.Chosen], [.. p.Tokens.Prompt, .. p.Tokens.Rejected]], soft, 1);
            return r[0].item<float>() - r[1].item<float>();
        }

        static double Bt(double margin) => Math.Log(1 + Math.Exp(-margin));
        var expected = (0.25 * Bt(Margin(batch[0], "ann"))) + (0.75 * ((Bt(Margin(batch[0], null)) + Bt(Margin(batch[1], null))) / 2));
        Assert.Equal(expected, output.Loss.item<float>(), 5);
        Assert.NotEqual(Margin(batch[0], "ann"), Margin(batch[0], null), 4);
    }
}

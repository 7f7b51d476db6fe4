using Attune.Llm;
using Attune.Torch.Models;
using Attune.Torch.Serving;
using Attune.Torch.Tokenizers;
using Microsoft.Extensions.AI;
using static TorchSharp.torch;

namespace Attune.Personalization.Tests;

/// <summary>A personalised checkpoint served through <c>hf:DIR</c>: the user of each request picks its soft tokens.</summary>
[Collection("torch")]
public sealed class ServingTests : IDisposable
{
    private readonly string _dir = Path.Combine(Path.GetTempPath(), "attune-pserve-" + Guid.NewGuid().ToString("N")[..10]);

    public void Dispose() => Directory.Delete(_dir, recursive: true);

    private static string Repo()
    {
        for (var d = new DirectoryInfo(AppContext.BaseDirectory); d is not null; d = d.Parent)
        {
            if (File.Exists(Path.Combine(d.FullName, "Attune.slnx")))
            {
                return d.FullName;
            }
        }

        throw new InvalidOperationException("repository root not found");
    }

    [Fact]
    public async Task The_request_user_routes_to_that_users_tokens_and_no_user_to_the_generic_ones()
    {
        // A fixture checkpoint with its tokenizer, plus a user model with two users far apart.
        var fixtures = Path.Combine(Repo(), "tests", "Attune.Torch.Tests", "Fixtures", "hf-tiny");
        Directory.CreateDirectory(_dir);
        foreach (var f in Directory.GetFiles(Path.Combine(fixtures, "llama", "policy")))
        {
            File.Copy(f, Path.Combine(_dir, Path.GetFileName(f)));
        }

        File.Copy(Path.Combine(fixtures, "tokenizer.json"), Path.Combine(_dir, "tokenizer.json"));
        using (var model = CausalLM.Load(_dir))
        {
            using var users = UserModel.Create(new UserModelOptions { Kind = UserModelKind.Individual, Tokens = 3 }, ["ann", "bob"], model.Embed(arange(model.Config.VocabSize)).detach(), 2);
            using (no_grad())
            {
                manual_seed(1);
                users.Tensors()["offsets"].add_(randn_like(users.Tensors()["offsets"]) * 3);
            }

            UserModelFiles.Save(_dir, users, softTokensAt: 0);
        }

        TorchEndpoints.Register();
        PersonalizedEndpoints.Register();
        using var client = LlmEndpoints.Create("hf:" + _dir);
        var torchClient = client.GetService<TorchChatClient>()!;
        Assert.NotNull(torchClient.SoftTokens);
        async Task<string> Ask(string? user)
        {
            var options = new ChatOptions { MaxOutputTokens = 8, Temperature = 0 };
            if (user is not null)
            {
                options.AdditionalProperties = new() { ["user"] = user };
            }

            return (await client.GetResponseAsync([new ChatMessage(ChatRole.User, "hello there")], options)).Text;
        }

        var ann = await Ask("ann");
        var bob = await Ask("bob");
        var nobody = await Ask(null);
        Assert.Equal(nobody, await Ask("stranger"));    // unknown → generic
        Assert.NotEqual(ann, bob);

        // The answer is the model's greedy continuation with ann's tokens first.
        var tokenizer = AutoTokenizer.Load(Path.Combine(_dir, "tokenizer.json"));
        var prompt = tokenizer.Encode(torchClient.Template.Format([new ChatTurn("user", "hello there")], addGenerationPrompt: true));
        using var loaded = UserModelFiles.Load(_dir);
        using var soft = loaded.Embed(["ann"]);
        using var model2 = CausalLM.Load(_dir);
        var expected = Generation.Generate(model2, [prompt], new GenerationOptions { MaxNewTokens = 8, Greedy = true }, new SoftPrefix(soft, 0))[0].NewIds;
        var end = torchClient.EndTokenIds;
        Assert.Equal(tokenizer.Decode([.. expected.TakeWhile(id => !end.Contains(id))]), ann);
    }
}

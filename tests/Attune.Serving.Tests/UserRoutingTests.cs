using System.ClientModel;
using System.Text.Json;
using Attune.Torch.Models;
using Microsoft.Extensions.AI;
using OpenAI;
using OpenAI.Chat;
using static TorchSharp.torch;

namespace Attune.Serving.Tests;

/// <summary>
/// <c>user</c> routes a request to that user's soft tokens, the hook a personalised checkpoint's user
/// model fills (Attune.Personalization's <c>PersonalizedEndpoints</c> sets the same <c>SoftTokens</c>).
/// </summary>
public class UserRoutingTests
{
    [Fact]
    public async Task The_request_user_picks_the_soft_tokens_of_chat_and_of_echoed_log_probs()
    {
        var client = Models.Fixture();
        var model = client.GetService<CausalLM>()!;
        var width = model.Config.HiddenSize;
        var table = new Dictionary<string, Tensor>
        {
            ["ann"] = randn([1, 3, width], generator: new Generator(1)) * 3,
            ["bob"] = randn([1, 3, width], generator: new Generator(2)) * 3,
        };
        client.SoftTokensAt = 1;
        client.SoftTokens = user => user is not null && table.TryGetValue(user, out var t) ? t.clone() : null;
        Microsoft.Extensions.AI.ChatMessage[] hello = [new(ChatRole.User, "hello there")];
        async Task<string> InProcess(string? user) => (await client.GetResponseAsync(hello, new ChatOptions
        {
            MaxOutputTokens = 8,
            Temperature = 0,
            AdditionalProperties = user is null ? null : new() { ["user"] = user },
        })).Text;
        var expected = new Dictionary<string, string> { ["ann"] = await InProcess("ann"), ["bob"] = await InProcess("bob"), [""] = await InProcess(null) };
        Assert.NotEqual(expected["ann"], expected["bob"]);

        await using var h = await ServerHarness.StartAsync(client);
        var chat = new ChatClient("tiny", new ApiKeyCredential("unused"), new OpenAIClientOptions { Endpoint = h.V1 });
        foreach (var user in new[] { "ann", "bob" })
        {
            var options = new ChatCompletionOptions { Temperature = 0, MaxOutputTokenCount = 8, EndUserId = user };
            ChatCompletion answer = await chat.CompleteChatAsync([new UserChatMessage("hello there")], options);
            Assert.Equal(expected[user], answer.Content.Count == 0 ? "" : answer.Content[0].Text);
        }

        ChatCompletion generic = await chat.CompleteChatAsync([new UserChatMessage("hello there")], new ChatCompletionOptions { Temperature = 0, MaxOutputTokenCount = 8 });
        Assert.Equal(expected[""], generic.Content.Count == 0 ? "" : generic.Content[0].Text);

        // Echoed log-probs read the prompt with ann's tokens after its first token, as LogProbs.Response does.
        var ids = client.Encode(Attune.Llm.TokenPrompt.Plain("The quick brown fox jumps over the lazy dog."));
        float[] reference;
        using (no_grad())
        using (var soft = table["ann"].clone())
        using (var scored = LogProbs.Response(model, [new SequencePair([.. ids.Take(1)], [.. ids.Skip(1)])], soft, softTokensAt: 1))
        {
            reference = scored.Tokens[0].data<float>().ToArray();
        }

        var (status, body) = await h.PostAsync("/v1/completions", JsonSerializer.Serialize(new { prompt = ids, max_tokens = 0, echo = true, logprobs = 0, user = "ann" }));
        Assert.Equal(200, status);
        var served = body.GetProperty("choices")[0].GetProperty("logprobs").GetProperty("token_logprobs").EnumerateArray().Skip(1).Select(v => v.GetDouble()).ToArray();
        Assert.Equal(reference.Length, served.Length);
        Assert.All(served.Zip(reference), p => Assert.True(Math.Abs(p.First - p.Second) < 1e-4, $"served {p.First}, LogProbs.Response {p.Second}"));
    }
}

using System.ClientModel;
using Attune.Torch.Serving;
using Microsoft.Extensions.AI;
using OpenAI;
using OpenAI.Chat;
using OpenAI.Models;

namespace Attune.Serving.Tests;

/// <summary>The server driven by the official OpenAI .NET client (the one Microsoft.Extensions.AI.OpenAI wraps).</summary>
public class OpenAiClientTests
{
    private static readonly Microsoft.Extensions.AI.ChatMessage[] Hello =
        [new(ChatRole.System, "Be brief."), new(ChatRole.User, "The quick brown fox?")];

    private static OpenAI.Chat.ChatMessage[] HelloForOpenAi => [new SystemChatMessage("Be brief."), new UserChatMessage("The quick brown fox?")];

    private static ChatClient Client(ServerHarness h, string model = "tiny", string key = "unused") =>
        new(model, new ApiKeyCredential(key), new OpenAIClientOptions { Endpoint = h.V1, RetryPolicy = new System.ClientModel.Primitives.ClientRetryPolicy(0) });

    [Fact]
    public async Task Chat_answers_as_the_model_does_in_process()
    {
        using var model = Models.Fixture();
        var expected = await model.GetResponseAsync(Hello, new ChatOptions { Temperature = 0, MaxOutputTokens = 12 });
        await using var h = await ServerHarness.StartAsync(Models.Fixture());

        ChatCompletion answer = await Client(h).CompleteChatAsync(HelloForOpenAi, new ChatCompletionOptions { Temperature = 0, MaxOutputTokenCount = 12 });

        Assert.Equal(expected.Text, answer.Content.Count == 0 ? "" : answer.Content[0].Text);
        Assert.Equal("tiny", answer.Model);
        Assert.Equal(expected.Usage!.InputTokenCount, (long?)answer.Usage.InputTokenCount);
        Assert.Equal(expected.Usage.OutputTokenCount, (long?)answer.Usage.OutputTokenCount);
        Assert.Equal(expected.FinishReason == Microsoft.Extensions.AI.ChatFinishReason.Stop ? OpenAI.Chat.ChatFinishReason.Stop : OpenAI.Chat.ChatFinishReason.Length, answer.FinishReason);
    }

    [Fact]
    public async Task Streaming_pieces_add_up_to_the_whole_answer()
    {
        await using var h = await ServerHarness.StartAsync(Models.Fixture());
        var client = Client(h);
        var options = new ChatCompletionOptions { Temperature = 0, MaxOutputTokenCount = 16 };
        var whole = (await client.CompleteChatAsync(HelloForOpenAi, options)).Value;

        var pieces = new List<string>();
        OpenAI.Chat.ChatFinishReason? finish = null;
        await foreach (var update in client.CompleteChatStreamingAsync(HelloForOpenAi, options))
        {
            pieces.AddRange(update.ContentUpdate.Select(p => p.Text).Where(t => t.Length > 0));
            finish = update.FinishReason ?? finish;
        }

        Assert.Equal(whole.Content[0].Text, string.Concat(pieces));
        Assert.True(pieces.Count > 1, $"one piece only: '{string.Concat(pieces)}'");
        Assert.Equal(whole.FinishReason, finish);
    }

    [Fact]
    public async Task Greedy_log_probs_are_the_top_alternatives_and_spell_the_answer()
    {
        await using var h = await ServerHarness.StartAsync(Models.Fixture());
        var options = new ChatCompletionOptions { Temperature = 0, MaxOutputTokenCount = 10, IncludeLogProbabilities = true, TopLogProbabilityCount = 3 };
        ChatCompletion answer = await Client(h).CompleteChatAsync(HelloForOpenAi, options);

        var tokens = answer.ContentTokenLogProbabilities;
        Assert.Equal(answer.Usage.OutputTokenCount, tokens.Count);
        foreach (var t in tokens)
        {
            Assert.Equal(3, t.TopLogProbabilities.Count);
            Assert.True(t.LogProbability <= 0);
            // Greedy decoding takes the most likely token: it is the first alternative, and no alternative beats it.
            Assert.Equal(t.Token, t.TopLogProbabilities[0].Token);
            Assert.Equal(t.TopLogProbabilities[0].LogProbability, t.LogProbability, 5);
            Assert.True(t.TopLogProbabilities.Zip(t.TopLogProbabilities.Skip(1)).All(p => p.First.LogProbability >= p.Second.LogProbability));
        }

        // The answer's bytes are the tokens' bytes, in order (a character split across tokens included).
        var bytes = tokens.SelectMany(t => t.Utf8Bytes?.ToArray() ?? []).ToArray();
        Assert.Equal(answer.Content.Count == 0 ? "" : answer.Content[0].Text, System.Text.Encoding.UTF8.GetString(bytes));
    }

    [Fact]
    public async Task A_stop_sequence_cuts_the_answer_before_it()
    {
        await using var h = await ServerHarness.StartAsync(Models.Fixture("qwen3"));
        var client = Client(h);
        var full = (await client.CompleteChatAsync(HelloForOpenAi, new ChatCompletionOptions { Temperature = 0, MaxOutputTokenCount = 24 })).Value.Content[0].Text;
        Assert.True(full.Length >= 6, $"answer too short to cut: '{full}'");
        var stop = full.Substring(full.Length / 2, 2);
        var options = new ChatCompletionOptions { Temperature = 0, MaxOutputTokenCount = 24 };
        options.StopSequences.Add(stop);

        ChatCompletion cut = await client.CompleteChatAsync(HelloForOpenAi, options);

        Assert.Equal(full[..full.IndexOf(stop, StringComparison.Ordinal)], cut.Content.Count == 0 ? "" : cut.Content[0].Text);
        Assert.Equal(OpenAI.Chat.ChatFinishReason.Stop, cut.FinishReason);
    }

    [Fact]
    public async Task Seeded_sampling_repeats_and_other_seeds_differ()
    {
        await using var h = await ServerHarness.StartAsync(Models.Fixture());
        var client = Client(h);
#pragma warning disable OPENAI001 // Seed is marked experimental in the OpenAI library
        ChatCompletionOptions Options(long seed) => new() { Temperature = 1, MaxOutputTokenCount = 16, Seed = seed };
#pragma warning restore OPENAI001
        var a = (await client.CompleteChatAsync(HelloForOpenAi, Options(1))).Value.Content[0].Text;
        var again = (await client.CompleteChatAsync(HelloForOpenAi, Options(1))).Value.Content[0].Text;
        var others = await Task.WhenAll(Enumerable.Range(2, 4).Select(async s => (await client.CompleteChatAsync(HelloForOpenAi, Options(s))).Value.Content[0].Text));
        Assert.Equal(a, again);
        Assert.Contains(others, o => o != a);
    }

    [Fact]
    public async Task Models_lists_the_served_name_and_a_wrong_name_is_404()
    {
        await using var h = await ServerHarness.StartAsync(Models.Fixture(), name: "attune-tiny");
        var models = new OpenAIModelClient(new ApiKeyCredential("unused"), new OpenAIClientOptions { Endpoint = h.V1 });
        var listed = (await models.GetModelsAsync()).Value;
        Assert.Equal("attune-tiny", Assert.Single(listed).Id);

        var error = await Assert.ThrowsAsync<ClientResultException>(() => Client(h, model: "gpt-4o").CompleteChatAsync(HelloForOpenAi));
        Assert.Equal(404, error.Status);
    }

    [Fact]
    public async Task With_a_key_only_the_right_key_is_served()
    {
        await using var h = await ServerHarness.StartAsync(Models.Fixture(), apiKey: "s3cret-key");
        var options = new ChatCompletionOptions { Temperature = 0, MaxOutputTokenCount = 4 };
        ChatCompletion ok = await Client(h, key: "s3cret-key").CompleteChatAsync(HelloForOpenAi, options);
        Assert.Equal("tiny", ok.Model);

        var wrong = await Assert.ThrowsAsync<ClientResultException>(() => Client(h, key: "guess").CompleteChatAsync(HelloForOpenAi, options));
        Assert.Equal(401, wrong.Status);

        var (status, body) = await h.PostAsync("/v1/chat/completions", """{"messages":[{"role":"user","content":"hi"}]}""");
        Assert.Equal(401, status);
        Assert.Equal("invalid_api_key", body.GetProperty("error").GetProperty("code").GetString());
        Assert.Equal("invalid_request_error", body.GetProperty("error").GetProperty("type").GetString());

        // Health needs no key (it tells only whether the model is ready).
        Assert.Equal(200, (await h.GetAsync("/health")).Status);
    }
}

using Attune.Core.Errors;
using Attune.Llm;
using Attune.Torch.Models;
using Attune.Torch.Serving;
using Microsoft.Extensions.AI;

namespace Attune.Torch.Tests.Serving;

public class TorchChatClientTests
{
    private static readonly string TokenizerFile = Path.Combine(Fixtures.Root, "hf-tiny", "tokenizer.json");

    private static string Spec(string arch = "qwen2") => $"hf:{Fixtures.Model(arch)}?tokenizer={Uri.EscapeDataString(TokenizerFile)}";

    private static readonly ChatMessage[] Hello = [new(ChatRole.System, "Be brief."), new(ChatRole.User, "The quick brown fox?")];

    [Fact]
    public async Task Greedy_answer_is_the_models_greedy_continuation_of_the_chatml_prompt()
    {
        TorchEndpoints.Register();
        using var client = LlmEndpoints.Create(Spec());
        var options = new ChatOptions { Temperature = 0, MaxOutputTokens = 12 };
        var response = await client.GetResponseAsync(Hello, options);

        var (model, tok) = ModelFolder.Open(Fixtures.Model("qwen2"), TokenizerFile);
        using (model)
        {
            var prompt = tok.Encode("<|im_start|>system\nBe brief.<|im_end|>\n<|im_start|>user\nThe quick brown fox?<|im_end|>\n<|im_start|>assistant\n");
            var ends = ((TorchChatClient)client).EndTokenIds;
            var expected = Generation.Generate(model, [prompt], new GenerationOptions { Greedy = true, MaxNewTokens = 12, StopTokenIds = [.. ends] })[0];
            var ids = expected.NewIds.Where(i => !ends.Contains(i)).ToArray();
            Assert.Equal(tok.Decode(ids), response.Text);
            Assert.Equal(prompt.Length, response.Usage!.InputTokenCount);
            Assert.Equal(ids.Length, response.Usage.OutputTokenCount);
            Assert.Equal(expected.StopReason == "stop_token" ? ChatFinishReason.Stop : ChatFinishReason.Length, response.FinishReason);
        }

        Assert.Equal("policy", response.ModelId);
        Assert.Equal(2, ((TorchChatClient)client).EndTokenIds.Count(id => id is 0 or 2));   // <|endoftext|> and <|im_end|>
    }

    [Fact]
    public async Task Streaming_yields_pieces_that_add_up_to_the_whole_answer()
    {
        TorchEndpoints.Register();
        using var client = LlmEndpoints.Create(Spec("llama"));
        var options = new ChatOptions { Temperature = 0.8f, TopP = 0.9f, TopK = 50, Seed = 7, MaxOutputTokens = 16 };
        var whole = await client.GetResponseAsync(Hello, options);
        var pieces = new List<string>();
        await foreach (var update in client.GetStreamingResponseAsync(Hello, options))
        {
            if (update.Text.Length > 0)
            {
                pieces.Add(update.Text);
            }
        }

        Assert.Equal(whole.Text, string.Concat(pieces));
        Assert.True(pieces.Count > 1, $"one piece only: '{whole.Text}'");
    }

    [Fact]
    public async Task A_stop_sequence_cuts_the_answer_before_it()
    {
        TorchEndpoints.Register();
        using var client = LlmEndpoints.Create(Spec("qwen3"));
        var full = (await client.GetResponseAsync(Hello, new ChatOptions { Temperature = 0, MaxOutputTokens = 24 })).Text;
        Assert.True(full.Length >= 6, $"answer too short to cut: '{full}'");
        var stop = full.Substring(full.Length / 2, 2);
        var cut = await client.GetResponseAsync(Hello, new ChatOptions { Temperature = 0, MaxOutputTokens = 24, StopSequences = [stop] });
        Assert.Equal(full[..full.IndexOf(stop, StringComparison.Ordinal)], cut.Text);
        Assert.Equal(ChatFinishReason.Stop, cut.FinishReason);
    }

    [Fact]
    public async Task Concurrent_calls_decoded_together_answer_as_alone()
    {
        TorchEndpoints.Register();
        using var client = LlmEndpoints.Create(Spec());
        var options = new ChatOptions { Temperature = 0, MaxOutputTokens = 10 };
        var alone = (await client.GetResponseAsync(Hello, options)).Text;
        var together = await Task.WhenAll(Enumerable.Range(0, 4).Select(_ => Task.Run(() => client.GetResponseAsync(Hello, options))));
        Assert.All(together, r => Assert.Equal(alone, r.Text));
    }

    [Fact]
    public void Bad_specs_are_bad_input()
    {
        TorchEndpoints.Register();
        Assert.Contains("field 'temperature'", Assert.Throws<AttuneInputException>(() => LlmEndpoints.Create("hf:/x?temperature=1")).Message, StringComparison.Ordinal);
        Assert.Contains("model folder not found", Assert.Throws<AttuneInputException>(() => LlmEndpoints.Create("hf:/no/such/model")).Message, StringComparison.Ordinal);
        var noTokenizer = Assert.Throws<AttuneInputException>(() => LlmEndpoints.Create("hf:" + Fixtures.Model("llama"))).Message;
        Assert.Contains("no tokenizer.json", noTokenizer, StringComparison.Ordinal);
        Assert.Contains("?tokenizer=FILE in an hf: spec", noTokenizer, StringComparison.Ordinal);   // the way to give one where --tokenizer does not exist
        Assert.Contains("unknown chat template", Assert.Throws<AttuneInputException>(() => LlmEndpoints.Create(Spec() + "&template=alpaca")).Message, StringComparison.Ordinal);
    }
}

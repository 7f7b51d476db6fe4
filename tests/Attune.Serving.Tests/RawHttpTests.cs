using System.Net;
using System.Text;
using System.Text.Json;
using Attune.Llm;
using Attune.Torch.Models;
using Attune.Torch.Serving;
using Microsoft.Extensions.AI;

namespace Attune.Serving.Tests;

/// <summary>The server's wire format, error shapes and limits, over plain HTTP.</summary>
public class RawHttpTests
{
    private const string Messages = """[{"role":"system","content":"Be brief."},{"role":"user","content":"The quick brown fox?"}]""";

    [Fact]
    public async Task Echo_log_probs_of_the_prompt_equal_Attunes_own_log_probs()
    {
        using var client = Models.Fixture();
        var model = client.GetService<CausalLM>()!;
        var tokenizer = ModelFolder.LoadTokenizer(null, Models.TokenizerFile);
        const string Text = "The quick brown fox jumps over the lazy dog. Pack my box with five dozen liquor jugs.";
        var ids = tokenizer.Encode(Text, addSpecialTokens: true);
        float[] expected;
        using (var scored = LogProbs.Response(model, [new SequencePair(ids[..1], ids[1..])]))
        {
            expected = scored.Tokens[0].data<float>().ToArray();
        }

        await using var h = await ServerHarness.StartAsync(client);
        var ((status, body), (idStatus, idBody)) = (
            await h.PostAsync("/v1/completions", JsonSerializer.Serialize(new { model = "tiny", prompt = Text, max_tokens = 0, echo = true, logprobs = 1 })),
            await h.PostAsync("/v1/completions", JsonSerializer.Serialize(new { model = "tiny", prompt = ids, max_tokens = 0, echo = true, logprobs = 1 })));
        Assert.Equal(200, status);
        Assert.Equal(200, idStatus);
        foreach (var (response, text) in new[] { (body, Text), (idBody, tokenizer.Decode(ids)) })
        {
            var choice = Assert.Single(response.GetProperty("choices").EnumerateArray());
            Assert.Equal(text, choice.GetProperty("text").GetString());
            Assert.Equal("length", choice.GetProperty("finish_reason").GetString());
            var logprobs = choice.GetProperty("logprobs");
            var tokens = logprobs.GetProperty("tokens").EnumerateArray().Select(t => t.GetString()!).ToArray();
            var values = logprobs.GetProperty("token_logprobs").EnumerateArray().ToArray();
            var tops = logprobs.GetProperty("top_logprobs").EnumerateArray().ToArray();
            var offsets = logprobs.GetProperty("text_offset").EnumerateArray().Select(o => o.GetInt32()).ToArray();
            Assert.Equal(ids.Length, tokens.Length);
            Assert.Equal(ids.Select(i => tokenizer.Decode([i])), tokens);
            Assert.Equal(JsonValueKind.Null, values[0].ValueKind);
            Assert.Equal(JsonValueKind.Null, tops[0].ValueKind);
            for (var j = 1; j < ids.Length; j++)
            {
                Assert.True(Math.Abs(values[j].GetDouble() - expected[j - 1]) < 1e-4, $"token {j}: served {values[j].GetDouble()}, LogProbs.Response {expected[j - 1]}");
                var best = Assert.Single(tops[j].EnumerateObject());
                Assert.True(best.Value.GetDouble() >= values[j].GetDouble() - 1e-6, $"token {j}: the top alternative is less likely than the token");
            }

            Assert.Equal(0, offsets[0]);
            Assert.True(offsets.Zip(offsets.Skip(1)).All(p => p.First <= p.Second));
            Assert.Equal(ids.Length, response.GetProperty("usage").GetProperty("prompt_tokens").GetInt32());
            Assert.Equal(0, response.GetProperty("usage").GetProperty("completion_tokens").GetInt32());
        }
    }

    [Fact]
    public async Task Completion_continues_the_raw_prompt_as_in_process_generation_does()
    {
        using var client = Models.Fixture();
        var model = client.GetService<CausalLM>()!;
        var tokenizer = ModelFolder.LoadTokenizer(null, Models.TokenizerFile);
        const string Prompt = "The quick brown fox";
        var ids = tokenizer.Encode(Prompt, addSpecialTokens: true);
        var generated = Generation.Generate(model, [ids], new GenerationOptions { Greedy = true, MaxNewTokens = 10 })[0].NewIds;

        await using var h = await ServerHarness.StartAsync(client);
        var (status, body) = await h.PostAsync("/v1/completions", JsonSerializer.Serialize(new { prompt = Prompt, max_tokens = 10, temperature = 0, ignore_eos = true, echo = true }));
        Assert.Equal(200, status);
        var choice = Assert.Single(body.GetProperty("choices").EnumerateArray());
        Assert.Equal(Prompt + tokenizer.Decode(generated), choice.GetProperty("text").GetString());
        Assert.Equal("text_completion", body.GetProperty("object").GetString());
        Assert.Equal(10, body.GetProperty("usage").GetProperty("completion_tokens").GetInt32());
    }

    [Fact]
    public async Task N_samples_are_the_samples_of_seeds_in_a_row()
    {
        await using var h = await ServerHarness.StartAsync(Models.Fixture());
        var (status, body) = await h.PostAsync("/v1/chat/completions", $$"""{"messages":{{Messages}},"n":3,"seed":11,"temperature":1,"max_tokens":8}""");
        Assert.Equal(200, status);
        var choices = body.GetProperty("choices").EnumerateArray().ToArray();
        Assert.Equal(new[] { 0, 1, 2 }, choices.Select(c => c.GetProperty("index").GetInt32()));
        for (var i = 0; i < 3; i++)
        {
            var (_, single) = await h.PostAsync("/v1/chat/completions", $$"""{"messages":{{Messages}},"seed":{{11 + i}},"temperature":1,"max_tokens":8}""");
            Assert.Equal(
                single.GetProperty("choices")[0].GetProperty("message").GetProperty("content").GetString(),
                choices[i].GetProperty("message").GetProperty("content").GetString());
        }

        Assert.NotEqual(choices[0].GetProperty("message").GetProperty("content").GetString(), choices[1].GetProperty("message").GetProperty("content").GetString());
    }

    [Fact]
    public async Task Streams_are_server_sent_events_in_OpenAIs_chunk_format()
    {
        await using var h = await ServerHarness.StartAsync(Models.Fixture());
        var (_, whole) = await h.PostAsync("/v1/chat/completions", $$"""{"messages":{{Messages}},"temperature":0,"max_tokens":12}""");
        var events = await h.StreamAsync("/v1/chat/completions", $$$"""{"messages":{{{Messages}}},"temperature":0,"max_tokens":12,"stream":true,"stream_options":{"include_usage":true}}""");

        Assert.Equal("[DONE]", events[^1]);
        var chunks = events.Take(events.Count - 1).Select(e => JsonDocument.Parse(e).RootElement).ToList();
        Assert.All(chunks, c => Assert.Equal("chat.completion.chunk", c.GetProperty("object").GetString()));
        Assert.Single(chunks.Select(c => c.GetProperty("id").GetString()).Distinct());
        var withChoices = chunks.Where(c => c.GetProperty("choices").GetArrayLength() > 0).Select(c => c.GetProperty("choices")[0]).ToList();
        Assert.Equal("assistant", withChoices[0].GetProperty("delta").GetProperty("role").GetString());
        var text = string.Concat(withChoices.Select(c => c.GetProperty("delta").TryGetProperty("content", out var t) ? t.GetString() : ""));
        Assert.Equal(whole.GetProperty("choices")[0].GetProperty("message").GetProperty("content").GetString(), text);
        Assert.Equal(whole.GetProperty("choices")[0].GetProperty("finish_reason").GetString(), withChoices[^1].GetProperty("finish_reason").GetString());

        // The usage chunk comes last, with no choices.
        var usage = chunks[^1];
        Assert.Equal(0, usage.GetProperty("choices").GetArrayLength());
        Assert.Equal(whole.GetProperty("usage").GetProperty("total_tokens").GetInt32(), usage.GetProperty("usage").GetProperty("total_tokens").GetInt32());

        // Completions stream the same way.
        var completion = await h.StreamAsync("/v1/completions", """{"prompt":"The quick","max_tokens":5,"temperature":0,"ignore_eos":true,"stream":true}""");
        Assert.Equal("[DONE]", completion[^1]);
        Assert.All(completion.Take(completion.Count - 1), e => Assert.Equal("text_completion", JsonDocument.Parse(e).RootElement.GetProperty("object").GetString()));
    }

    [Theory]
    [InlineData("""{"messages":"hi"}""", "messages")]
    [InlineData("""{"messages":[]}""", "messages")]
    [InlineData("""{"messages":[{"role":"wizard","content":"x"}]}""", "messages[0].role")]
    [InlineData("""{"messages":[{"role":"user"}]}""", "messages[0].content")]
    [InlineData("""{"messages":[{"role":"user","content":[{"type":"image_url","image_url":{"url":"x"}}]}]}""", "messages[0].content[0]")]
    [InlineData("""{"messages":M,"max_tokens":"ten"}""", "max_tokens")]
    [InlineData("""{"messages":M,"max_tokens":0}""", "max_tokens")]
    [InlineData("""{"messages":M,"max_tokens":5000}""", "max_tokens")]
    [InlineData("""{"messages":M,"max_completion_tokens":-1}""", "max_completion_tokens")]
    [InlineData("""{"messages":M,"temperature":3}""", "temperature")]
    [InlineData("""{"messages":M,"temperature":"hot"}""", "temperature")]
    [InlineData("""{"messages":M,"top_p":0}""", "top_p")]
    [InlineData("""{"messages":M,"seed":1.5}""", "seed")]
    [InlineData("""{"messages":M,"stop":[1]}""", "stop")]
    [InlineData("""{"messages":M,"stop":["a","b","c","d","e","f","g","h","i","j","k","l","m","n","o","p","q"]}""", "stop")]
    [InlineData("""{"messages":M,"n":0}""", "n")]
    [InlineData("""{"messages":M,"logprobs":"yes"}""", "logprobs")]
    [InlineData("""{"messages":M,"top_logprobs":2}""", "top_logprobs")]
    [InlineData("""{"messages":M,"logprobs":true,"top_logprobs":21}""", "top_logprobs")]
    [InlineData("""{"messages":M,"user":5}""", "user")]
    [InlineData("""{"messages":M,"stream":"no"}""", "stream")]
    [InlineData("""{"messages":M,"stream_options":{"include_usage":1}}""", "stream_options.include_usage")]
    [InlineData("""{"messages":M,"tools":[{"type":"function","function":{"name":"f"}}]}""", "tools")]
    [InlineData("""{"messages":M,"presence_penalty":1}""", "presence_penalty")]
    [InlineData("""{"messages":M,"response_format":{"type":"json_object"}}""", "response_format")]
    [InlineData("""{"messages":M,"model":7}""", "model")]
    public async Task A_malformed_chat_field_is_a_400_naming_it(string json, string param)
    {
        await using var h = await ServerHarness.StartAsync(Models.Fixture());
        await AssertRefused(h, "/v1/chat/completions", json.Replace("M,", Messages + ",", StringComparison.Ordinal), 400, param);
    }

    [Theory]
    [InlineData("""{}""", "prompt")]
    [InlineData("""{"prompt":5}""", "prompt")]
    [InlineData("""{"prompt":[]}""", "prompt")]
    [InlineData("""{"prompt":["a",1]}""", "prompt")]
    [InlineData("""{"prompt":[[1,-2]]}""", "prompt[0]")]
    [InlineData("""{"prompt":[99999]}""", "prompt")]
    [InlineData("""{"prompt":"x","max_tokens":-1}""", "max_tokens")]
    [InlineData("""{"prompt":"x","max_tokens":300}""", "max_tokens")]
    [InlineData("""{"prompt":"x","logprobs":6}""", "logprobs")]
    [InlineData("""{"prompt":"x","echo":1}""", "echo")]
    [InlineData("""{"prompt":"x","suffix":"y"}""", "suffix")]
    [InlineData("""{"prompt":"x","best_of":3}""", "best_of")]
    public async Task A_malformed_completion_field_is_a_400_naming_it(string json, string param)
    {
        // The fixture's context is 256 tokens: 300 more do not fit.
        await using var h = await ServerHarness.StartAsync(Models.Fixture());
        await AssertRefused(h, "/v1/completions", json, 400, param);
    }

    [Fact]
    public async Task Bad_json_a_wrong_model_an_unknown_route_and_a_huge_body_are_refused_in_OpenAIs_shape()
    {
        await using var h = await ServerHarness.StartAsync(Models.Fixture());
        await AssertRefused(h, "/v1/chat/completions", """{"messages":""", 400, null);
        await AssertRefused(h, "/v1/chat/completions", "[1]", 400, null);
        await AssertRefused(h, "/v1/chat/completions", $$"""{"model":"gpt-4o","messages":{{Messages}}}""", 404, "model");
        await AssertRefused(h, "/v1/embeddings", """{"input":"x"}""", 404, null);
        var (status, body) = await h.GetAsync("/v1/chat/completions");   // a known path with the wrong method: no route
        Assert.Equal(404, status);
        Assert.Equal("not_found", body.GetProperty("error").GetProperty("code").GetString());

        // A body declared over 4 MiB is refused before any of it is read (no body is sent here at all).
        using var tcp = new System.Net.Sockets.TcpClient();
        await tcp.ConnectAsync(h.BaseAddress.Host, h.BaseAddress.Port);
        var stream = tcp.GetStream();
        await stream.WriteAsync(Encoding.ASCII.GetBytes(
            $"POST /v1/chat/completions HTTP/1.1\r\nHost: {h.BaseAddress.Authority}\r\nContent-Type: application/json\r\nContent-Length: {5 << 20}\r\n\r\n"));
        var reply = new StringBuilder();
        var buffer = new byte[4096];
        using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(30));
        while (!reply.ToString().Contains("}}", StringComparison.Ordinal) && await stream.ReadAsync(buffer, timeout.Token) is var read and > 0)
        {
            reply.Append(Encoding.UTF8.GetString(buffer, 0, read));
        }

        var text = reply.ToString();
        Assert.StartsWith("HTTP/1.1 413", text, StringComparison.Ordinal);
        var json = JsonDocument.Parse(text[text.IndexOf("\r\n\r\n", StringComparison.Ordinal)..].Trim()).RootElement;
        Assert.Equal("request_too_large", json.GetProperty("error").GetProperty("code").GetString());
    }

    [Fact]
    public async Task Models_and_health_answer_while_loading_and_generation_waits_with_503()
    {
        var loaded = new TaskCompletionSource<IChatClient>();
        await using var h = await ServerHarness.StartAsync(_ => loaded.Task, waitForModel: false);
        var (status, health) = await h.GetAsync("/health");
        Assert.Equal(503, status);
        Assert.Equal("loading", health.GetProperty("status").GetString());
        Assert.Equal("tiny", (await h.GetAsync("/v1/models")).Body.GetProperty("data")[0].GetProperty("id").GetString());
        var (chatStatus, error) = await h.PostAsync("/v1/chat/completions", $$"""{"messages":{{Messages}}}""");
        Assert.Equal(503, chatStatus);
        Assert.Equal("server_error", error.GetProperty("error").GetProperty("type").GetString());

        loaded.SetResult(Models.Fixture());
        await h.Server.Model!;
        (status, health) = await h.GetAsync("/health");
        Assert.Equal(200, status);
        Assert.Equal("ok", health.GetProperty("status").GetString());
        Assert.Equal(200, (await h.PostAsync("/v1/chat/completions", $$"""{"messages":{{Messages}},"max_tokens":2}""")).Status);
    }

    [Fact]
    public async Task A_client_that_disconnects_mid_stream_stops_its_generation()
    {
        await using var h = await ServerHarness.StartAsync(Models.LongContext(size: "small"), maxTokens: 2000);
        var decoder = ((TorchChatClient)await h.Server.Model!).Decoder;
        var before = decoder.GeneratedTokens;
        const int MaxTokens = 1900;
        using (var request = new HttpRequestMessage(HttpMethod.Post, "/v1/chat/completions")
        {
            Content = new StringContent($$"""{"messages":{{Messages}},"max_tokens":{{MaxTokens}},"ignore_eos":true,"temperature":0,"stream":true}""", Encoding.UTF8, "application/json"),
        })
        using (var response = await h.Http.SendAsync(request, HttpCompletionOption.ResponseHeadersRead))
        {
            Assert.Equal(HttpStatusCode.OK, response.StatusCode);
            using var reader = new StreamReader(await response.Content.ReadAsStreamAsync());
            var data = 0;
            while (data < 3 && await reader.ReadLineAsync() is { } line)
            {
                data += line.StartsWith("data: ", StringComparison.Ordinal) ? 1 : 0;
            }

            Assert.Equal(3, data);
            Assert.Equal(1, decoder.ActiveSequences);
        }

        // Leaving closes the connection: the sequence leaves the batch before its 1,900 tokens (the
        // decoder does not wait for readers, so how many it made by then depends on the machine's load).
        var clock = System.Diagnostics.Stopwatch.StartNew();
        while (decoder.ActiveSequences > 0 && clock.Elapsed < TimeSpan.FromSeconds(30))
        {
            await Task.Delay(20);
        }

        Assert.Equal(0, decoder.ActiveSequences);
        var generated = decoder.GeneratedTokens - before;
        Assert.True(generated < MaxTokens, $"all {generated} tokens generated after a disconnect");
        Assert.Equal(0, (await h.GetAsync("/health")).Body.GetProperty("active_requests").GetInt32());
    }

    [Fact]
    public async Task Past_the_concurrency_queue_a_request_is_429()
    {
        await using var h = await ServerHarness.StartAsync(Models.LongContext(), maxConcurrency: 1, maxQueue: 0, maxTokens: 2000);
        using var request = new HttpRequestMessage(HttpMethod.Post, "/v1/chat/completions")
        {
            Content = new StringContent($$"""{"messages":{{Messages}},"max_tokens":1900,"ignore_eos":true,"stream":true}""", Encoding.UTF8, "application/json"),
        };
        using var running = await h.Http.SendAsync(request, HttpCompletionOption.ResponseHeadersRead);
        Assert.Equal(HttpStatusCode.OK, running.StatusCode);

        var (status, body) = await h.PostAsync("/v1/chat/completions", $$"""{"messages":{{Messages}},"max_tokens":2}""");
        Assert.Equal(429, status);
        Assert.Equal("rate_limit_exceeded", body.GetProperty("error").GetProperty("code").GetString());
    }

    [Fact]
    public async Task Concurrent_requests_are_decoded_together_and_answer_as_alone()
    {
        await using var h = await ServerHarness.StartAsync(Models.LongContext());
        string[] questions = ["Hi?", "The quick brown fox jumps over the lazy dog?", "Why?", "Pack my box with five dozen liquor jugs, please."];
        string Body(string q) => JsonSerializer.Serialize(new { messages = new[] { new { role = "user", content = q } }, temperature = 0, max_tokens = 40, ignore_eos = true });
        async Task<string> Ask(string q) => (await h.PostAsync("/v1/chat/completions", Body(q))).Body.GetProperty("choices")[0].GetProperty("message").GetProperty("content").GetString()!;

        var alone = new List<string>();
        foreach (var q in questions)
        {
            alone.Add(await Ask(q));
        }

        var decoder = ((TorchChatClient)await h.Server.Model!).Decoder;
        Assert.Equal(1, decoder.LargestBatch);
        var together = await Task.WhenAll(questions.Select(q => Task.Run(() => Ask(q))));

        Assert.Equal(alone, together);
        Assert.True(decoder.LargestBatch >= 2, $"largest batch {decoder.LargestBatch}: the requests were decoded one at a time");
    }

    private static async Task AssertRefused(ServerHarness h, string path, string json, int expectedStatus, string? param)
    {
        var (status, body) = await h.PostAsync(path, json);
        Assert.True(expectedStatus == status, $"{json[..Math.Min(200, json.Length)]}: status {status}, {body}");
        var error = body.GetProperty("error");
        Assert.False(string.IsNullOrWhiteSpace(error.GetProperty("message").GetString()));
        Assert.Equal(JsonValueKind.String, error.GetProperty("type").ValueKind);
        Assert.True(error.TryGetProperty("code", out _));
        if (param is null)
        {
            Assert.Equal(JsonValueKind.Null, error.GetProperty("param").ValueKind);
        }
        else
        {
            Assert.Equal(param, error.GetProperty("param").GetString());
            Assert.Equal("invalid_request_error", error.GetProperty("type").GetString());
        }
    }
}

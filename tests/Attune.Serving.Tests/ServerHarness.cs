using System.Net.Http.Headers;
using System.Runtime.CompilerServices;
using System.Text;
using System.Text.Json;
using Attune.Llm;
using Attune.Torch.Models;
using Attune.Torch.Native;
using Attune.Torch.Serving;
using Attune.Torch.Tokenizers;
using Microsoft.Extensions.AI;

namespace Attune.Serving.Tests;

internal static class TestSetup
{
#pragma warning disable CA2255 // The test assembly's own start-up: oneMKL's code path before any torch operation (docs/torch.md).
    [ModuleInitializer]
#pragma warning restore CA2255
    internal static void SettleMklCodePath() => MklFastPath.Ensure();
}

/// <summary>The served models: the fixtures' tiny Llama from disk, and one built in code with a long context.</summary>
internal static class Models
{
    public static readonly string FixtureRoot = Path.Combine(AppContext.BaseDirectory, "Fixtures", "hf-tiny");

    public static string TokenizerFile => Path.Combine(FixtureRoot, "tokenizer.json");

    /// <summary><c>hf:</c> spec of a fixture checkpoint with the fixtures' tokenizer.</summary>
    public static string Spec(string arch = "llama") => $"hf:{Path.Combine(FixtureRoot, arch, "policy")}?tokenizer={Uri.EscapeDataString(TokenizerFile)}";

    /// <summary>The fixture checkpoint opened through the <c>hf:</c> scheme, as <c>attune serve --llm hf:…</c> does.</summary>
    public static TorchChatClient Fixture(string arch = "llama")
    {
        TorchEndpoints.Register();
        return (TorchChatClient)LlmEndpoints.Create(Spec(arch));
    }

    /// <summary>A Llama of a built-in size ("tiny" or the slower "small"; context 2048) over the fixtures' tokenizer, random weights of <paramref name="seed"/>.</summary>
    public static TorchChatClient LongContext(int seed = 5, string size = "tiny")
    {
        var tokenizer = ModelFolder.LoadTokenizer(null, TokenizerFile);
        var model = ModelFolder.Initialize(BuiltInModels.Create("llama", size, tokenizer.VocabSize), seed);
        return new TorchChatClient(model, tokenizer, ChatTemplate.ChatMl, "tiny-long", ownsModel: true);
    }
}

/// <summary>A real <see cref="OpenAiServer"/> on a free loopback port, with an <see cref="HttpClient"/> for it.</summary>
internal sealed class ServerHarness : IAsyncDisposable
{
    private ServerHarness(OpenAiServer server, HttpClient http)
    {
        Server = server;
        Http = http;
    }

    public OpenAiServer Server { get; }

    public HttpClient Http { get; }

    public Uri BaseAddress => Http.BaseAddress!;

    /// <summary>The OpenAI-compatible base URL, <c>http://127.0.0.1:PORT/v1</c>.</summary>
    public Uri V1 => new(BaseAddress, "v1");

    public static async Task<ServerHarness> StartAsync(IChatClient client, string name = "tiny", string? apiKey = null, int maxConcurrency = 16, int maxQueue = 64, int maxTokens = 1024, bool waitForModel = true) =>
        await StartAsync(_ => Task.FromResult(client), name, apiKey, maxConcurrency, maxQueue, maxTokens, waitForModel);

    public static async Task<ServerHarness> StartAsync(Func<CancellationToken, Task<IChatClient>> load, string name = "tiny", string? apiKey = null, int maxConcurrency = 16, int maxQueue = 64, int maxTokens = 1024, bool waitForModel = true)
    {
        var server = OpenAiServer.Create(new ServeOptions
        {
            Urls = "http://127.0.0.1:0",
            ModelName = name,
            ApiKey = apiKey,
            MaxConcurrency = maxConcurrency,
            MaxQueue = maxQueue,
            MaxTokens = maxTokens,
        }, load);
        await server.StartAsync();
        if (waitForModel)
        {
            await server.Model!;
        }

        var http = new HttpClient { BaseAddress = new Uri(server.Addresses.Single()), Timeout = TimeSpan.FromMinutes(2) };
        return new ServerHarness(server, http);
    }

    public async Task<(int Status, JsonElement Body)> PostAsync(string path, string json, string? key = null)
    {
        using var request = new HttpRequestMessage(HttpMethod.Post, path) { Content = new StringContent(json, Encoding.UTF8, "application/json") };
        if (key is not null)
        {
            request.Headers.Authorization = new AuthenticationHeaderValue("Bearer", key);
        }

        using var response = await Http.SendAsync(request);
        var text = await response.Content.ReadAsStringAsync();
        return ((int)response.StatusCode, JsonDocument.Parse(text).RootElement.Clone());
    }

    public async Task<(int Status, JsonElement Body)> GetAsync(string path)
    {
        using var response = await Http.GetAsync(new Uri(path, UriKind.Relative));
        return ((int)response.StatusCode, JsonDocument.Parse(await response.Content.ReadAsStringAsync()).RootElement.Clone());
    }

    /// <summary>The <c>data:</c> payloads of a streamed response, in order (the last is <c>[DONE]</c>).</summary>
    public async Task<List<string>> StreamAsync(string path, string json)
    {
        using var request = new HttpRequestMessage(HttpMethod.Post, path) { Content = new StringContent(json, Encoding.UTF8, "application/json") };
        using var response = await Http.SendAsync(request, HttpCompletionOption.ResponseHeadersRead);
        Assert.Equal(200, (int)response.StatusCode);
        Assert.Equal("text/event-stream", response.Content.Headers.ContentType?.MediaType);
        var events = new List<string>();
        using var reader = new StreamReader(await response.Content.ReadAsStreamAsync());
        while (await reader.ReadLineAsync() is { } line)
        {
            if (line.Length == 0)
            {
                continue;
            }

            Assert.StartsWith("data: ", line, StringComparison.Ordinal);
            events.Add(line["data: ".Length..]);
        }

        return events;
    }

    public async ValueTask DisposeAsync()
    {
        Http.Dispose();
        await Server.DisposeAsync();
    }
}

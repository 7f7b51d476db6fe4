using System.Diagnostics;
using System.Globalization;
using System.Text;
using System.Text.Json;
using Attune.Serving;
using Attune.Torch.Models;
using Attune.Torch.Serving;
using Attune.Torch.Tokenizers;
using TorchSharp;

namespace Attune.Benchmarks;

/// <summary>
/// <c>attune serve</c> throughput against Attune's in-process batched generation, on the
/// ~19M-parameter bench Llama (random weights, vocab 8192, a character tokenizer of 8,188 CJK
/// characters so that every token is a character of text). For each number of concurrent clients
/// (1, 4, 16 by default) it runs <c>Generation.Generate</c> on that many prompts at once (greedy,
/// 32 prompt tokens, 128 new tokens) and, against a real server on a loopback port, that many
/// clients each streaming <c>--requests</c> completions in a row (token-id prompts of 32 tokens,
/// <c>max_tokens</c> 128, <c>ignore_eos</c>, greedy). Prints one JSON line per client count:
/// generated tokens per second of both, their ratio, the server's first-token latency
/// (request sent to first streamed token) p50 and p99, and per token: the median gap between a
/// stream's tokens against in-process generation's time per step (prompt reads included).
/// Run: <c>dotnet run -c Release --project bench/Attune.Benchmarks -- serve [--clients 1,4,16] [--requests 4] [--threads 2] [--new-tokens 128] [--rounds 2]</c>.
/// </summary>
public static class ServeBenchmark
{
    public static async Task<int> RunAsync(string[] args)
    {
        var threads = BenchArgs.Int(args, "--threads", 2);
        var requests = BenchArgs.Int(args, "--requests", 4);
        var rounds = BenchArgs.Int(args, "--rounds", 2);
        var newTokens = BenchArgs.Int(args, "--new-tokens", 128);
        const int PromptTokens = 32;
        var clientCounts = (BenchArgs.Value(args, "--clients") ?? "1,4,16").Split(',').Select(s => int.Parse(s, CultureInfo.InvariantCulture)).ToArray();
        Console.Error.WriteLine(Attune.Torch.Native.MklFastPath.Ensure().Message);   // before the first matmul
        torch.set_num_threads(threads);

        var config = BuiltInModels.Create("llama", "bench", 8192);
        var model = ModelFolder.Initialize(config, seed: 1);
        model.eval();
        var alphabet = string.Concat(Enumerable.Range(0x4E00, config.VocabSize - 4).Select(c => (char)c));
        var tokenizer = CharTokenizer.FromAlphabet(alphabet);
        var client = new TorchChatClient(model, tokenizer, ChatTemplate.ChatMl, "bench", ownsModel: true);
        Console.Error.WriteLine($"bench llama: {model.ParameterCount:N0} parameters, {threads} threads, prompt {PromptTokens}, {newTokens} new tokens, greedy; {requests} requests per client, best of {rounds} rounds");

        await using var server = OpenAiServer.Create(new ServeOptions { Urls = "http://127.0.0.1:0", ModelName = "bench", MaxConcurrency = clientCounts.Max(), MaxTokens = newTokens }, _ => Task.FromResult<Microsoft.Extensions.AI.IChatClient>(client));
        await server.StartAsync();
        await server.Model!;
        using var http = new HttpClient(new SocketsHttpHandler { MaxConnectionsPerServer = 1024 }) { BaseAddress = new Uri(server.Addresses.Single()), Timeout = TimeSpan.FromMinutes(10) };
        var random = new Random(7);
        int[] Prompt() => [.. Enumerable.Range(0, PromptTokens).Select(_ => 4 + random.Next(config.VocabSize - 4))];

        // Warm-up: JIT, thread pool, the model's first calls.
        Generation.Generate(model, [Prompt()], new GenerationOptions { Greedy = true, MaxNewTokens = 4 });
        await Stream(http, Prompt(), 4);

        foreach (var clients in clientCounts)
        {
            // In process: `clients` prompts generated together, `requests` times in a row.
            var inProcess = double.MaxValue;
            for (var r = 0; r < rounds; r++)
            {
                var clock = Stopwatch.StartNew();
                for (var q = 0; q < requests; q++)
                {
                    var result = Generation.Generate(model, [.. Enumerable.Range(0, clients).Select(_ => Prompt())], new GenerationOptions { Greedy = true, MaxNewTokens = newTokens });
                    if (result.Any(g => g.NewIds.Length != newTokens))
                    {
                        throw new InvalidOperationException("a row stopped early");
                    }
                }

                inProcess = Math.Min(inProcess, clock.Elapsed.TotalSeconds);
            }

            // Served: `clients` concurrent clients, each streaming `requests` completions in a row.
            var served = double.MaxValue;
            var firstToken = new List<double>();
            var interToken = new List<double>();
            for (var r = 0; r < rounds; r++)
            {
                var clock = Stopwatch.StartNew();
                var latencies = await Task.WhenAll(Enumerable.Range(0, clients).Select(_ => Task.Run(async () =>
                {
                    var mine = new List<(double First, double Inter)>();
                    for (var q = 0; q < requests; q++)
                    {
                        var (first, inter, tokens) = await Stream(http, Prompt(), newTokens);
                        if (tokens != newTokens)
                        {
                            throw new InvalidOperationException($"a stream ended after {tokens} tokens");
                        }

                        mine.Add((first, inter));
                    }

                    return mine;
                })));
                served = Math.Min(served, clock.Elapsed.TotalSeconds);
                firstToken.AddRange(latencies.SelectMany(l => l).Select(l => l.First));
                interToken.AddRange(latencies.SelectMany(l => l).Select(l => l.Inter));
            }

            var total = (double)clients * requests * newTokens;
            var sorted = firstToken.Order().ToArray();
            Console.WriteLine(JsonSerializer.Serialize(new
            {
                clients,
                requests_per_client = requests,
                new_tokens = newTokens,
                threads,
                in_process_tokens_per_second = Math.Round(total / inProcess, 1),
                served_tokens_per_second = Math.Round(total / served, 1),
                ratio = Math.Round(inProcess / served, 3),
                first_token_ms_p50 = Math.Round(Percentile(sorted, 0.50), 1),
                first_token_ms_p99 = Math.Round(Percentile(sorted, 0.99), 1),
                // Per token at one client: the served stream's gap between tokens against in-process generation's time per token.
                served_inter_token_ms_p50 = Math.Round(Percentile([.. interToken.Order()], 0.50), 2),
                in_process_ms_per_step = Math.Round(inProcess * 1000 / (requests * newTokens), 2),
                largest_batch = client.Decoder.LargestBatch,
            }));
        }

        return 0;
    }

    /// <summary>Streams one completion; returns the milliseconds to the first token, the mean milliseconds between later tokens, and the tokens received (the usage chunk's count).</summary>
    private static async Task<(double FirstTokenMs, double InterTokenMs, int Tokens)> Stream(HttpClient http, int[] prompt, int maxTokens)
    {
        var body = JsonSerializer.Serialize(new { model = "bench", prompt, max_tokens = maxTokens, temperature = 0, ignore_eos = true, stream = true, stream_options = new { include_usage = true } });
        var clock = Stopwatch.StartNew();
        using var request = new HttpRequestMessage(HttpMethod.Post, "/v1/completions") { Content = new StringContent(body, Encoding.UTF8, "application/json") };
        using var response = await http.SendAsync(request, HttpCompletionOption.ResponseHeadersRead);
        response.EnsureSuccessStatusCode();
        using var reader = new StreamReader(await response.Content.ReadAsStreamAsync());
        double first = -1;
        double last = -1;
        var tokens = 0;
        while (await reader.ReadLineAsync() is { } line)
        {
            if (!line.StartsWith("data: ", StringComparison.Ordinal) || line == "data: [DONE]")
            {
                continue;
            }

            using var chunk = JsonDocument.Parse(line.AsMemory(6));
            var choices = chunk.RootElement.GetProperty("choices");
            if (choices.GetArrayLength() > 0 && choices[0].GetProperty("text").GetString()!.Length > 0)
            {
                last = clock.Elapsed.TotalMilliseconds;
                first = first < 0 ? last : first;
            }

            if (chunk.RootElement.GetProperty("usage") is { ValueKind: JsonValueKind.Object } usage)
            {
                tokens = usage.GetProperty("completion_tokens").GetInt32();
            }
        }

        return (first, tokens > 1 ? (last - first) / (tokens - 1) : double.NaN, tokens);
    }

    private static double Percentile(double[] sorted, double p) =>
        sorted.Length == 0 ? double.NaN : sorted[Math.Min(sorted.Length - 1, (int)Math.Ceiling(p * sorted.Length) - 1)];
}

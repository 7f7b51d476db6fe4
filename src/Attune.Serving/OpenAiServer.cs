using System.Security.Cryptography;
using System.Text;
using System.Text.Json;
using System.Text.Json.Nodes;
using Attune.Llm;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Hosting.Server;
using Microsoft.AspNetCore.Hosting.Server.Features;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Http.Features;
using Microsoft.Extensions.AI;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;

namespace Attune.Serving;

/// <summary>
/// An OpenAI-compatible HTTP server over one <see cref="IChatClient"/>: <c>POST /v1/chat/completions</c>,
/// <c>POST /v1/completions</c>, <c>GET /v1/models</c>, <c>GET /health</c>. Kestrel starts at once and
/// the model loads behind it (503 until it has). Chat works over any client; completions, log-probs
/// and echo need a client that offers <see cref="ITokenModel"/> (<c>hf:</c>). Errors come in OpenAI's
/// shape <c>{"error": {"message", "type", "param", "code"}}</c>.
/// </summary>
public sealed class OpenAiServer : IAsyncDisposable
{
    private readonly ServeOptions _options;
    private readonly Func<CancellationToken, Task<IChatClient>> _load;
    private readonly RequestGate _gate;
    private readonly CancellationTokenSource _stopping = new();
    private readonly long _created = DateTimeOffset.UtcNow.ToUnixTimeSeconds();
    private readonly byte[]? _keyHash;
    private Task<IChatClient>? _model;
    private bool _disposed;

    private OpenAiServer(ServeOptions options, Func<CancellationToken, Task<IChatClient>> load)
    {
        _options = options;
        _load = load;
        _gate = new RequestGate(options.MaxConcurrency, options.MaxQueue);
        _keyHash = string.IsNullOrEmpty(options.ApiKey) ? null : SHA256.HashData(Encoding.UTF8.GetBytes(options.ApiKey));
        App = Build();
    }

    /// <summary>The ASP.NET Core application (started by <see cref="StartAsync"/>).</summary>
    public WebApplication App { get; }

    /// <summary>The model being loaded, or loaded (null before <see cref="StartAsync"/>).</summary>
    public Task<IChatClient>? Model => _model;

    /// <summary>Requests generating now.</summary>
    public int ActiveRequests => _gate.Running;

    /// <summary>Requests waiting for a slot.</summary>
    public int QueuedRequests => _gate.Waiting;

    /// <summary>The addresses Kestrel listens on (after <see cref="StartAsync"/>; port 0 resolved).</summary>
    public IReadOnlyList<string> Addresses =>
        [.. App.Services.GetRequiredService<IServer>().Features.Get<IServerAddressesFeature>()?.Addresses ?? []];

    /// <summary>
    /// Creates the server; <paramref name="load"/> opens the model when <see cref="StartAsync"/> runs
    /// (the server owns the client and disposes it). A non-loopback address without a key is refused here.
    /// </summary>
    public static OpenAiServer Create(ServeOptions options, Func<CancellationToken, Task<IChatClient>> load)
    {
        ArgumentNullException.ThrowIfNull(options);
        ArgumentNullException.ThrowIfNull(load);
        options.Validate();
        return new OpenAiServer(options, load);
    }

    /// <summary>Starts listening, then loads the model in the background (<see cref="Model"/>).</summary>
    public async Task StartAsync(CancellationToken cancellationToken = default)
    {
        await App.StartAsync(cancellationToken);
        _model = Task.Run(() => _load(_stopping.Token), CancellationToken.None);
    }

    public async ValueTask DisposeAsync()
    {
        if (_disposed)
        {
            return;
        }

        _disposed = true;
        await _stopping.CancelAsync();
        try
        {
            await App.StopAsync(TimeSpan.FromSeconds(5));
        }
        finally
        {
            await App.DisposeAsync();
            if (_model is { IsCompletedSuccessfully: true })
            {
                (await _model).Dispose();
            }

            _stopping.Dispose();
        }
    }

    private WebApplication Build()
    {
        var builder = WebApplication.CreateSlimBuilder();
        builder.Logging.SetMinimumLevel(_options.LogLevel);
        builder.WebHost.UseUrls([.. _options.UrlList]);
        builder.WebHost.ConfigureKestrel(k =>
        {
            k.Limits.MaxRequestBodySize = _options.MaxBodyBytes;
            k.AddServerHeader = false;
        });
        var app = builder.Build();

        app.Use(async (http, next) =>
        {
            if (http.Request.ContentLength > _options.MaxBodyBytes)
            {
                await Write(http, TooLarge());
                return;
            }

            if (_keyHash is not null && http.Request.Path.StartsWithSegments("/v1", StringComparison.Ordinal) && !Authorized(http))
            {
                await Write(http, new OpenAiError(401, "Incorrect or missing API key: send it as 'Authorization: Bearer KEY'", OpenAiError.InvalidRequest, null, "invalid_api_key"));
                return;
            }

            await next(http);
        });

        app.MapGet("/health", () =>
        {
            var (status, code) = _model switch
            {
                { IsCompletedSuccessfully: true } => ("ok", 200),
                { IsFaulted: true } or { IsCanceled: true } => ("failed", 503),
                _ => ("loading", 503),
            };
            var body = new JsonObject
            {
                ["status"] = status,
                ["model"] = _options.ModelName,
                ["active_requests"] = _gate.Running,
                ["queued_requests"] = _gate.Waiting,
            };
            if (_model is { IsFaulted: true } failed)
            {
                body["error"] = failed.Exception!.GetBaseException().Message;
            }

            return Results.Json(body, statusCode: code);
        });

        app.MapGet("/v1/models", () => Results.Json(new JsonObject
        {
            ["object"] = "list",
            ["data"] = new JsonArray(ModelObject()),
        }));
        app.MapGet("/v1/models/{id}", (string id) => id == _options.ModelName
            ? Results.Json(ModelObject())
            : ErrorResult(NoSuchModel(id)));

        app.MapPost("/v1/chat/completions", (HttpContext http) => Handle(http, ChatAsync));
        app.MapPost("/v1/completions", (HttpContext http) => Handle(http, CompletionAsync));
        app.MapFallback((HttpContext http) => ErrorResult(new OpenAiError(404, $"no route {http.Request.Method} {http.Request.Path}", OpenAiError.InvalidRequest, null, "not_found")));
        return app;
    }

    private JsonObject ModelObject() => new()
    {
        ["id"] = _options.ModelName,
        ["object"] = "model",
        ["created"] = _created,
        ["owned_by"] = "attune",
    };

    private static OpenAiError NoSuchModel(string name) =>
        new(404, $"The model '{name}' does not exist", OpenAiError.InvalidRequest, "model", "model_not_found");

    private static OpenAiError TooLarge() => new(413, "request body too large", OpenAiError.InvalidRequest, null, "request_too_large");

    private bool Authorized(HttpContext http)
    {
        var header = http.Request.Headers.Authorization.ToString();
        const string Bearer = "Bearer ";
        if (!header.StartsWith(Bearer, StringComparison.OrdinalIgnoreCase))
        {
            return false;
        }

        var given = SHA256.HashData(Encoding.UTF8.GetBytes(header[Bearer.Length..].Trim()));
        return CryptographicOperations.FixedTimeEquals(given, _keyHash);
    }

    /// <summary>Reads the body, waits for the model, runs <paramref name="handler"/>; every refusal is written in OpenAI's shape.</summary>
    private async Task Handle(HttpContext http, Func<HttpContext, JsonElement, IChatClient, Task> handler)
    {
        var ct = http.RequestAborted;
        try
        {
            JsonDocument body;
            try
            {
                body = await JsonDocument.ParseAsync(http.Request.Body, default, ct);
            }
            catch (JsonException ex)
            {
                throw new OpenAiError(400, $"the request body is not valid JSON: {ex.Message}", OpenAiError.InvalidRequest, null, "invalid_json");
            }
            catch (BadHttpRequestException ex) when (ex.StatusCode == StatusCodes.Status413PayloadTooLarge)
            {
                throw TooLarge();
            }

            using (body)
            {
                var client = _model is { IsCompletedSuccessfully: true } ? await _model
                    : throw new OpenAiError(503, _model is { IsFaulted: true } ? "the model failed to load" : "the model is loading; try again shortly", "server_error", null, "model_unavailable");
                await handler(http, body.RootElement, client);
            }
        }
#pragma warning disable CA1031 // whatever failed, nobody is left to answer
        catch (Exception) when (ct.IsCancellationRequested)
#pragma warning restore CA1031
        {
            // The client left: its generation has stopped (it shared the request's abort token); nothing to answer.
        }
        catch (OpenAiError error) when (!http.Response.HasStarted)
        {
            await Write(http, error);
        }
        catch (ArgumentException ex) when (!http.Response.HasStarted)
        {
            await Write(http, new OpenAiError(400, ex.Message));
        }
    }

    private async Task ChatAsync(HttpContext http, JsonElement body, IChatClient client)
    {
        var request = OpenAiRequests.Chat(body);
        CheckModel(request.Model);
        var tokens = client.GetService<ITokenModel>();
        if (request.LogProbs && tokens is null)
        {
            throw OpenAiError.Bad("logprobs", $"the model '{_options.ModelName}' does not report log-probabilities");
        }

        var sampling = request.Sampling;
        var prompt = TokenPrompt.Chat(request.Messages, sampling.User);
        var maxTokens = MaxTokens(sampling.MaxTokens, "max_tokens", tokens, prompt);
        using var lease = await Enter(http.RequestAborted);
        var runs = Enumerable.Range(0, sampling.N).Select(i => Generate(client, tokens,
            Sample(prompt, maxTokens, sampling, i, request.LogProbs, request.TopLogProbs), http.RequestAborted)).ToList();
        var id = "chatcmpl-" + Guid.NewGuid().ToString("N");
        if (sampling.Stream)
        {
            await StreamAsync(http, runs, sampling.N, sampling.IncludeUsage, (index, piece, first) =>
            {
                var delta = new JsonObject();
                if (first)
                {
                    delta["role"] = "assistant";
                }

                if (piece.Text.Length > 0 || first)
                {
                    delta["content"] = piece.Text;
                }

                return Chunk(id, "chat.completion.chunk", new JsonObject
                {
                    ["index"] = index,
                    ["delta"] = delta,
                    ["logprobs"] = request.LogProbs && piece.Tokens.Count > 0 ? ChatLogProbs(piece.Tokens) : null,
                    ["finish_reason"] = piece.FinishReason,
                });
            }, usage => Chunk(id, "chat.completion.chunk", null, usage));
            return;
        }

        var results = await CollectAsync(runs);
        var choices = new JsonArray();
        foreach (var (r, index) in results.Select((r, i) => (r, i)))
        {
            choices.Add(new JsonObject
            {
                ["index"] = index,
                ["message"] = new JsonObject { ["role"] = "assistant", ["content"] = r.Text, ["refusal"] = null },
                ["logprobs"] = request.LogProbs ? ChatLogProbs(r.Tokens) : null,
                ["finish_reason"] = r.Finish,
            });
        }

        await Write(http, Response(id, "chat.completion", choices, Usage(results, sampling.N)));
    }

    private async Task CompletionAsync(HttpContext http, JsonElement body, IChatClient client)
    {
        var request = OpenAiRequests.Completion(body);
        CheckModel(request.Model);
        var tokens = client.GetService<ITokenModel>() ?? throw OpenAiError.Bad(
            "prompt", $"the model '{_options.ModelName}' serves chat only: /v1/completions needs a model whose tokens Attune reads (hf:DIR)");
        var sampling = request.Sampling;
        var maxTokens = request.Prompts.Select((p, i) => MaxTokens(sampling.MaxTokens, "max_tokens", tokens, p, request.Prompts.Count > 1 ? i : null)).Min();
        using var lease = await Enter(http.RequestAborted);
        var ct = http.RequestAborted;

        // One run per prompt and sample, in OpenAI's order (prompt-major): the echoed prompt first, then the answer.
        var runs = new List<IAsyncEnumerable<TokenPiece>>();
        foreach (var prompt in request.Prompts)
        {
            for (var i = 0; i < sampling.N; i++)
            {
                var generation = Generate(client, tokens, Sample(prompt, maxTokens, sampling, i, request.LogProbs is not null, request.LogProbs ?? 0), ct);
                runs.Add(request.Echo ? Echo(tokens, prompt, request.LogProbs, generation, ct) : generation);
            }
        }

        var id = "cmpl-" + Guid.NewGuid().ToString("N");
        if (sampling.Stream)
        {
            await StreamAsync(http, runs, sampling.N, sampling.IncludeUsage,
                (index, piece, _) => Chunk(id, "text_completion", CompletionChoice(index, piece.Text, request.LogProbs is not null ? piece.Tokens : null, piece.FinishReason)),
                usage => Chunk(id, "text_completion", null, usage));
            return;
        }

        var results = await CollectAsync(runs);
        var choices = new JsonArray();
        foreach (var (r, index) in results.Select((r, i) => (r, i)))
        {
            choices.Add(CompletionChoice(index, r.Text, request.LogProbs is not null ? r.Tokens : null, r.Finish));
        }

        await Write(http, Response(id, "text_completion", choices, Usage(results, sampling.N)));
    }

    /// <summary>The prompt as a first piece (scored when log-probs are asked for), then the generation's pieces.</summary>
    private static async IAsyncEnumerable<TokenPiece> Echo(ITokenModel tokens, TokenPrompt prompt, int? logProbs, IAsyncEnumerable<TokenPiece> generation,
        [System.Runtime.CompilerServices.EnumeratorCancellation] CancellationToken cancellationToken)
    {
        var text = prompt.Text ?? tokens.Decode(prompt.Ids ?? []);
        IReadOnlyList<ScoredToken> scored = logProbs is { } k ? await tokens.ScoreAsync(prompt, k, cancellationToken) : [];
        yield return new TokenPiece(text, scored);
        await foreach (var piece in generation.WithCancellation(cancellationToken))
        {
            // Offsets of the answer's tokens count from the start of the echoed prompt.
            yield return piece with { Tokens = [.. piece.Tokens.Select(t => t with { Offset = t.Offset + text.Length })] };
        }
    }

    /// <summary>The seed of sample <paramref name="i"/> of <c>n</c>: seed + i; without a seed, the model's default for the first and i after.</summary>
    /// <summary>The <paramref name="i"/>-th of a request's n samples of <paramref name="prompt"/>: its sampling settings, seed + i.</summary>
    private static TokenRequest Sample(TokenPrompt prompt, int maxTokens, Sampling sampling, int i, bool logProbs, int topLogProbs) => new()
    {
        Prompt = prompt,
        MaxTokens = maxTokens,
        Temperature = sampling.Temperature,
        TopP = sampling.TopP,
        Seed = SampleSeed(sampling.Seed, i),
        Stop = sampling.Stop,
        IgnoreEos = sampling.IgnoreEos,
        LogProbs = logProbs,
        TopLogProbs = topLogProbs,
    };

    private static long? SampleSeed(long? seed, int i) => seed is { } s ? s + i : i == 0 ? null : i;

    /// <summary>A generation as pieces: the token model's own, or a chat client's stream.</summary>
    private static IAsyncEnumerable<TokenPiece> Generate(IChatClient client, ITokenModel? tokens, TokenRequest request, CancellationToken ct) =>
        tokens is not null ? tokens.GenerateAsync(request, ct) : FromChat(client, request, ct);

    private static async IAsyncEnumerable<TokenPiece> FromChat(IChatClient client, TokenRequest request, [System.Runtime.CompilerServices.EnumeratorCancellation] CancellationToken ct)
    {
        var options = new ChatOptions
        {
            MaxOutputTokens = request.MaxTokens,
            Temperature = (float)request.Temperature,
            TopP = (float)request.TopP,
            Seed = request.Seed,
            StopSequences = request.Stop.Count > 0 ? [.. request.Stop] : null,
        };
        if (request.Prompt.User is { } user)
        {
            options.AdditionalProperties = new AdditionalPropertiesDictionary { ["user"] = user };
        }

        ChatFinishReason? finish = null;
        UsageDetails? usage = null;
        await foreach (var update in client.GetStreamingResponseAsync(request.Prompt.Messages ?? [], options, ct))
        {
            finish = update.FinishReason ?? finish;
            usage = update.Contents.OfType<UsageContent>().LastOrDefault()?.Details ?? usage;
            if (update.Text.Length > 0)
            {
                yield return new TokenPiece(update.Text, []);
            }
        }

        yield return new TokenPiece("", [])
        {
            FinishReason = finish == ChatFinishReason.Length ? "length" : "stop",
            PromptTokens = (int)(usage?.InputTokenCount ?? 0),
            CompletionTokens = (int)(usage?.OutputTokenCount ?? 0),
        };
    }

    /// <summary>A generation's whole text, tokens, finish reason and counts.</summary>
    private sealed record Collected(string Text, IReadOnlyList<ScoredToken> Tokens, string Finish, int PromptTokens, int CompletionTokens);

    private static async Task<Collected[]> CollectAsync(IReadOnlyList<IAsyncEnumerable<TokenPiece>> runs) =>
        await Task.WhenAll(runs.Select(async run =>
        {
            var text = new StringBuilder();
            var tokens = new List<ScoredToken>();
            TokenPiece? last = null;
            await foreach (var piece in run)
            {
                text.Append(piece.Text);
                tokens.AddRange(piece.Tokens);
                last = piece.FinishReason is null ? last : piece;
            }

            return new Collected(text.ToString(), tokens, last?.FinishReason ?? "stop", last?.PromptTokens ?? 0, last?.CompletionTokens ?? 0);
        }));

    /// <summary>
    /// Writes server-sent events: one chunk per piece of every run as it comes (runs interleave),
    /// the usage chunk when asked for, then <c>data: [DONE]</c>.
    /// </summary>
    private static async Task StreamAsync(HttpContext http, IReadOnlyList<IAsyncEnumerable<TokenPiece>> runs, int n, bool includeUsage,
        Func<int, TokenPiece, bool, JsonObject> chunk, Func<JsonObject, JsonObject> usageChunk)
    {
        var ct = http.RequestAborted;
        var channel = System.Threading.Channels.Channel.CreateUnbounded<(int Index, TokenPiece Piece)>();
        var pumps = runs.Select(async (run, index) =>
        {
            await foreach (var piece in run.WithCancellation(ct))
            {
                await channel.Writer.WriteAsync((index, piece), ct);
            }
        }).ToList();
        var all = Task.WhenAll(pumps);
        _ = all.ContinueWith(t => channel.Writer.TryComplete(t.Exception?.GetBaseException()), TaskScheduler.Default);

        // The first piece decides the status: a refusal before it is still an ordinary error response.
        var reader = channel.Reader;
        var first = new bool[runs.Count];
        Array.Fill(first, true);
        var prompt = 0;
        var completion = 0;
        var started = false;
        await foreach (var (index, piece) in reader.ReadAllAsync(ct))
        {
            if (!started)
            {
                started = true;
                http.Response.StatusCode = 200;
                http.Response.ContentType = "text/event-stream; charset=utf-8";
                http.Response.Headers.CacheControl = "no-cache";
                http.Features.Get<IHttpResponseBodyFeature>()?.DisableBuffering();
            }

            await WriteEvent(http, chunk(index, piece, first[index]).ToJsonString(), ct);
            first[index] = false;
            if (piece.FinishReason is not null)
            {
                prompt += index % n == 0 ? piece.PromptTokens : 0;   // each prompt once, not once per sample
                completion += piece.CompletionTokens;
            }
        }

        await all;
        if (includeUsage)
        {
            await WriteEvent(http, usageChunk(UsageObject(prompt, completion)).ToJsonString(), ct);
        }

        await WriteEvent(http, "[DONE]", ct);
    }

    private static async Task WriteEvent(HttpContext http, string data, CancellationToken ct)
    {
        await http.Response.WriteAsync("data: " + data + "\n\n", ct);
        await http.Response.Body.FlushAsync(ct);
    }

    private JsonObject Chunk(string id, string kind, JsonObject? choice, JsonObject? usage = null) => new()
    {
        ["id"] = id,
        ["object"] = kind,
        ["created"] = DateTimeOffset.UtcNow.ToUnixTimeSeconds(),
        ["model"] = _options.ModelName,
        ["choices"] = choice is null ? new JsonArray() : new JsonArray(choice),
        ["usage"] = usage,
    };

    private JsonObject Response(string id, string kind, JsonArray choices, JsonObject usage) => new()
    {
        ["id"] = id,
        ["object"] = kind,
        ["created"] = DateTimeOffset.UtcNow.ToUnixTimeSeconds(),
        ["model"] = _options.ModelName,
        ["choices"] = choices,
        ["usage"] = usage,
    };

    /// <summary>Usage of runs of <paramref name="n"/> samples per prompt: each prompt counted once.</summary>
    private static JsonObject Usage(Collected[] results, int n) =>
        UsageObject(results.Where((_, i) => i % n == 0).Sum(r => r.PromptTokens), results.Sum(r => r.CompletionTokens));

    private static JsonObject UsageObject(int prompt, int completion) => new()
    {
        ["prompt_tokens"] = prompt,
        ["completion_tokens"] = completion,
        ["total_tokens"] = prompt + completion,
    };

    private static JsonObject ChatLogProbs(IReadOnlyList<ScoredToken> tokens)
    {
        var content = new JsonArray();
        foreach (var t in tokens)
        {
            var top = new JsonArray();
            foreach (var a in t.Top)
            {
                top.Add(new JsonObject { ["token"] = a.Text, ["logprob"] = a.LogProb, ["bytes"] = Bytes(a.Bytes, a.Text) });
            }

            content.Add(new JsonObject { ["token"] = t.Text, ["logprob"] = t.LogProb ?? 0, ["bytes"] = Bytes(t.Bytes, t.Text), ["top_logprobs"] = top });
        }

        return new JsonObject { ["content"] = content, ["refusal"] = null };
    }

    private static JsonArray Bytes(IReadOnlyList<byte>? bytes, string text) => new([.. (bytes ?? Encoding.UTF8.GetBytes(text)).Select(b => (JsonNode)(int)b)]);

    private static JsonObject CompletionChoice(int index, string text, IReadOnlyList<ScoredToken>? tokens, string? finish)
    {
        JsonObject? logprobs = null;
        if (tokens is not null)
        {
            var top = new JsonArray();
            foreach (var t in tokens)
            {
                if (t.LogProb is null)
                {
                    top.Add(null);
                    continue;
                }

                var alternatives = new JsonObject();
                foreach (var a in t.Top)
                {
                    alternatives.TryAdd(a.Text, a.LogProb);
                }

                top.Add(alternatives);
            }

            logprobs = new JsonObject
            {
                ["tokens"] = new JsonArray([.. tokens.Select(t => (JsonNode)t.Text)]),
                ["token_logprobs"] = new JsonArray([.. tokens.Select(t => t.LogProb is { } lp ? (JsonNode)lp : null)]),
                ["top_logprobs"] = top,
                ["text_offset"] = new JsonArray([.. tokens.Select(t => (JsonNode)t.Offset)]),
            };
        }

        return new JsonObject
        {
            ["index"] = index,
            ["text"] = text,
            ["logprobs"] = logprobs,
            ["finish_reason"] = finish,
        };
    }

    private void CheckModel(string? model)
    {
        if (model is not null && model != _options.ModelName)
        {
            throw NoSuchModel(model);
        }
    }

    /// <summary>The request's token limit (the server's when it sets none), refused past the server's or the context's.</summary>
    private int MaxTokens(int? requested, string param, ITokenModel? tokens, TokenPrompt prompt, int? promptIndex = null)
    {
        if (requested > _options.MaxTokens)
        {
            throw OpenAiError.Bad(param, $"{requested} is above this server's limit of {_options.MaxTokens} tokens (--max-tokens)");
        }

        var max = requested ?? _options.MaxTokens;
        if (tokens is null)
        {
            return max;
        }

        int length;
        try
        {
            length = tokens.Encode(prompt).Count;
        }
        catch (ArgumentException ex)
        {
            throw OpenAiError.Bad(promptIndex is { } i ? $"prompt[{i}]" : prompt.Messages is null ? "prompt" : "messages", ex.Message);
        }

        if (length == 0)
        {
            throw OpenAiError.Bad(prompt.Messages is null ? "prompt" : "messages", "encodes to no tokens");
        }

        if (length + (requested ?? 0) > tokens.ContextLength)
        {
            throw OpenAiError.Bad(requested is null ? (prompt.Messages is null ? "prompt" : "messages") : param,
                $"this model's context is {tokens.ContextLength} tokens; the prompt has {length} and {requested ?? 0} more were asked for");
        }

        // Without a request's own limit, the answer may fill what the context leaves.
        return requested ?? Math.Min(max, tokens.ContextLength - length);
    }

    private async Task<IDisposable> Enter(CancellationToken ct) =>
        await _gate.EnterAsync(ct) ?? throw new OpenAiError(429,
            $"too many requests: {_options.MaxConcurrency} running and {_options.MaxQueue} waiting (--max-concurrency, --max-queue); try again shortly",
            "requests", null, "rate_limit_exceeded");

    private static IResult ErrorResult(OpenAiError error) => Results.Json(ErrorBody(error), statusCode: error.Status);

    private static JsonObject ErrorBody(OpenAiError error) => new()
    {
        ["error"] = new JsonObject
        {
            ["message"] = error.Message,
            ["type"] = error.Type,
            ["param"] = error.Param,
            ["code"] = error.Code,
        },
    };

    private static Task Write(HttpContext http, OpenAiError error) => Write(http, ErrorBody(error), error.Status);

    private static async Task Write(HttpContext http, JsonObject body, int status = 200)
    {
        var bytes = Encoding.UTF8.GetBytes(body.ToJsonString());
        http.Response.StatusCode = status;
        http.Response.ContentType = "application/json";
        http.Response.ContentLength = bytes.Length;
        await http.Response.Body.WriteAsync(bytes, http.RequestAborted);
    }

    /// <summary>At most <c>running</c> requests at once and <c>queue</c> more waiting; past that, none (429).</summary>
    private sealed class RequestGate(int running, int queue)
    {
        private readonly SemaphoreSlim _slots = new(running, running);
        private int _inside;
        private int _running;

        public int Running => Volatile.Read(ref _running);

        public int Waiting => Math.Max(0, Volatile.Read(ref _inside) - Volatile.Read(ref _running));

        public async Task<IDisposable?> EnterAsync(CancellationToken ct)
        {
            if (Interlocked.Increment(ref _inside) > running + queue)
            {
                Interlocked.Decrement(ref _inside);
                return null;
            }

            try
            {
                await _slots.WaitAsync(ct);
            }
            catch
            {
                Interlocked.Decrement(ref _inside);
                throw;
            }

            Interlocked.Increment(ref _running);
            return new Lease(this);
        }

        private sealed class Lease(RequestGate gate) : IDisposable
        {
            private int _done;

            public void Dispose()
            {
                if (Interlocked.Exchange(ref _done, 1) == 0)
                {
                    Interlocked.Decrement(ref gate._running);
                    Interlocked.Decrement(ref gate._inside);
                    gate._slots.Release();
                }
            }
        }
    }
}

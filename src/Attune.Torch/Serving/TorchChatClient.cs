using System.Runtime.CompilerServices;
using Attune.Core.Errors;
using Attune.Core.Randomness;
using Attune.Llm;
using Attune.Torch.Models;
using Attune.Torch.Tokenizers;
using Microsoft.Extensions.AI;
using TorchSharp;
using static TorchSharp.torch;

namespace Attune.Torch.Serving;

/// <summary>
/// An <see cref="IChatClient"/> over a local checkpoint run in process: the conversation is
/// formatted with the model's chat template, encoded, and continued token by token with a KV
/// cache until the template's end-of-turn token, an end-of-sequence token, a stop sequence or
/// the token limit. <see cref="ChatOptions"/> sets temperature, top-p, top-k, the token limit,
/// stop sequences and the seed. Concurrent calls are decoded together, one token of each per
/// step (<see cref="BatchDecoder"/>). It is also an <see cref="ITokenModel"/>: raw-text completion,
/// per-token log-probs and prompt scoring, for the OpenAI-compatible server.
/// </summary>
public sealed class TorchChatClient : IChatClient, ITokenModel
{
    /// <summary>The answer length when neither <c>ChatOptions.MaxOutputTokens</c> nor <c>?max_tokens=</c> says.</summary>
    public const int DefaultMaxTokens = 256;

    private readonly CausalLM _model;
    private readonly ITokenizer _tokenizer;
    private readonly bool _ownsModel;
    private readonly int _defaultMaxTokens;
    private readonly int[] _endIds;
    private readonly BatchDecoder _decoder;
    private readonly ChatClientMetadata _metadata;
    private bool _disposed;

    public TorchChatClient(CausalLM model, ITokenizer tokenizer, ChatTemplate template, string modelId, bool ownsModel = false, int defaultMaxTokens = DefaultMaxTokens, Uri? location = null)
    {
        ArgumentNullException.ThrowIfNull(model);
        ArgumentNullException.ThrowIfNull(tokenizer);
        ArgumentNullException.ThrowIfNull(template);
        _model = model;
        _tokenizer = tokenizer;
        Template = template;
        _ownsModel = ownsModel;
        _defaultMaxTokens = defaultMaxTokens;
        _metadata = new ChatClientMetadata("attune-torch", location, modelId);
        _endIds = [.. new[] { tokenizer.SpecialTokenId(template.EndOfTurn), tokenizer.EosTokenId }
            .Concat(model.Config.EosTokenIds.Select(i => (int?)i)).OfType<int>().Distinct()];
        model.eval();
        _decoder = new BatchDecoder(model);
    }

    public ChatTemplate Template { get; }

    /// <summary>
    /// Soft tokens [1, P, E] for a user (a personalised model's user model), spliced into the prompt after
    /// its first <see cref="SoftTokensAt"/> tokens. The user comes from <c>ChatOptions.AdditionalProperties["user"]</c>;
    /// null (or no user) is passed on as null, for the generic user.
    /// </summary>
    public Func<string?, Tensor?>? SoftTokens { get; set; }

    /// <summary>How many leading prompt tokens come before the soft tokens (1: after BOS).</summary>
    public int SoftTokensAt { get; set; } = 1;

    /// <summary>The folder the model was opened from (null when built in memory).</summary>
    public string? Folder { get; private init; }

    /// <summary>Token ids that end the answer (the template's end of turn and the end-of-sequence ids); left out of the text.</summary>
    public IReadOnlyList<int> EndTokenIds => _endIds;

    /// <summary>
    /// Opens <c>hf:DIR[?tokenizer=FILE&amp;template=chatml|llama3&amp;device=cpu&amp;max_tokens=N&amp;precision=fp32|bf16|bf16-pure]</c>:
    /// the checkpoint in DIR with DIR/tokenizer.json (or FILE), loaded once.
    /// </summary>
    public static TorchChatClient Open(LlmSpec spec)
    {
        ArgumentNullException.ThrowIfNull(spec);
        spec.RequireOnlyParameters("tokenizer", "template", "device", "max_tokens", "precision");
        var p = spec.Parameters;
        var dir = spec.Target;
        if (File.Exists(dir))
        {
            throw new AttuneInputException("is a file; hf: wants a checkpoint folder (config.json + model.safetensors + tokenizer.json)", dir);
        }

        var tokenizerPath = p.GetValueOrDefault("tokenizer");
        var precision = p.TryGetValue("precision", out var name) ? Precisions.Parse(name, "precision") : Precision.Fp32;
        var (model, tokenizer) = ModelFolder.Open(dir, tokenizerPath, ModelFolder.ParseDevice(p.GetValueOrDefault("device")), precision);
        try
        {
            var template = ChatTemplate.Select(tokenizer, model.Config.ModelType, p.GetValueOrDefault("template"), tokenizerPath);
            var full = Path.GetFullPath(dir);
            var client = new TorchChatClient(model, tokenizer, template, Path.GetFileName(full.TrimEnd(Path.DirectorySeparatorChar)), ownsModel: true, spec.IntParameter("max_tokens", DefaultMaxTokens), new Uri(full))
            {
                Folder = full,
            };
            foreach (var hook in TorchEndpoints.OnOpen)
            {
                hook(client);
            }

            return client;
        }
        catch
        {
            model.Dispose();
            throw;
        }
    }

    public async Task<ChatResponse> GetResponseAsync(IEnumerable<ChatMessage> messages, ChatOptions? options = null, CancellationToken cancellationToken = default)
    {
        var text = new System.Text.StringBuilder();
        ChatFinishReason? finish = null;
        UsageDetails? usage = null;
        await foreach (var update in GetStreamingResponseAsync(messages, options, cancellationToken).ConfigureAwait(false))
        {
            text.Append(update.Text);
            finish = update.FinishReason ?? finish;
            foreach (var u in update.Contents.OfType<UsageContent>())
            {
                usage = u.Details;
            }
        }

        return new ChatResponse(new ChatMessage(ChatRole.Assistant, text.ToString()))
        {
            ModelId = _metadata.DefaultModelId,
            FinishReason = finish,
            Usage = usage,
            CreatedAt = DateTimeOffset.UtcNow,
        };
    }

    public async IAsyncEnumerable<ChatResponseUpdate> GetStreamingResponseAsync(
        IEnumerable<ChatMessage> messages, ChatOptions? options = null, [EnumeratorCancellation] CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(messages);
        ObjectDisposedException.ThrowIf(_disposed, this);
        var user = options?.AdditionalProperties?.TryGetValue("user", out var u) == true && u is not null ? u.ToString() : null;
        var request = Request(TokenPrompt.Chat([.. messages], string.IsNullOrEmpty(user) ? null : user), options);
        await foreach (var piece in GenerateAsync(request, cancellationToken).ConfigureAwait(false))
        {
            if (piece.Text.Length > 0)
            {
                yield return Update(piece.Text);
            }

            if (piece.FinishReason is { } finish)
            {
                yield return new ChatResponseUpdate(ChatRole.Assistant, [new UsageContent(new UsageDetails
                {
                    InputTokenCount = piece.PromptTokens,
                    OutputTokenCount = piece.CompletionTokens,
                    TotalTokenCount = piece.PromptTokens + piece.CompletionTokens,
                })])
                {
                    FinishReason = finish == "stop" ? ChatFinishReason.Stop : ChatFinishReason.Length,
                    ModelId = _metadata.DefaultModelId,
                };
            }
        }
    }

    /// <summary>The decoder that batches this client's generations (its counters show how many ran together).</summary>
    public BatchDecoder Decoder => _decoder;

    /// <inheritdoc/>
    public int ContextLength => _model.Config.MaxPositionEmbeddings;

    /// <inheritdoc/>
    public IReadOnlyList<int> Encode(TokenPrompt prompt) => PromptIds(prompt);

    /// <inheritdoc/>
    public string Decode(IReadOnlyList<int> ids) => _tokenizer.Decode(ids, skipSpecialTokens: false);

    /// <inheritdoc/>
    public async IAsyncEnumerable<TokenPiece> GenerateAsync(TokenRequest request, [EnumeratorCancellation] CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(request);
        ObjectDisposedException.ThrowIf(_disposed, this);
        var prompt = PromptIds(request.Prompt);
        var settings = Settings(request);
        var stops = request.Stop.Where(s => s.Length > 0).ToArray();
        var topLogProbs = request.LogProbs ? Math.Max(0, request.TopLogProbs) : -1;
        if (settings.MaxNewTokens == 0)
        {
            yield return new TokenPiece("", []) { FinishReason = "length", PromptTokens = prompt.Length };
            yield break;
        }

        // The sequence stops when the caller does, and when a stop sequence ends the text here.
        using var stop = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        var reader = _decoder.Start(prompt, settings, SoftPrefixFor(request.Prompt.User, prompt.Length), topLogProbs, request.IgnoreEos ? [] : _endIds, stop.Token);
        try
        {
            var ids = new List<int>();
            var tokens = new List<ScoredToken>();   // generated since the last piece
            var emitted = 0;                        // characters of the answer already sent
            var decoded = 0;                        // characters of the answer decoded so far
            var finish = "length";
            await foreach (var token in reader.ReadAllAsync(cancellationToken).ConfigureAwait(false))
            {
                if (token.IsEnd)
                {
                    finish = "stop";
                    break;
                }

                ids.Add(token.Id);
                var text = _tokenizer.Decode(ids, skipSpecialTokens: false);
                if (topLogProbs >= 0)
                {
                    tokens.Add(Scored(token.Id, token.LogProb, token.TopIds, token.TopLogProbs, decoded));
                }

                decoded = text.Length;
                var stopAt = StopIndex(text, stops);
                if (stopAt >= 0)
                {
                    yield return new TokenPiece(stopAt > emitted ? text[emitted..stopAt] : "", tokens);
                    tokens = [];
                    emitted = stopAt;
                    finish = "stop";
                    break;
                }

                // Hold back an incomplete UTF-8 character and anything that may begin a stop sequence.
                var safe = text.Length - HeldBack(text, stops);
                if (safe > emitted)
                {
                    yield return new TokenPiece(text[emitted..safe], tokens);
                    tokens = [];
                    emitted = safe;
                }

                if (token.IsLast)
                {
                    break;
                }
            }

            // What was held back, once the answer is over (up to a stop sequence, if one completed).
            var all = _tokenizer.Decode(ids, skipSpecialTokens: false);
            var end = StopIndex(all, stops) is var at and >= 0 ? at : all.Length;
            yield return new TokenPiece(end > emitted ? all[emitted..end] : "", tokens)
            {
                FinishReason = finish,
                PromptTokens = prompt.Length,
                CompletionTokens = ids.Count,
            };
        }
        finally
        {
            // Ends the sequence in the decoder if it still runs (a stop sequence, or the caller left).
            await stop.CancelAsync().ConfigureAwait(false);
        }
    }

    /// <inheritdoc/>
    public Task<IReadOnlyList<ScoredToken>> ScoreAsync(TokenPrompt prompt, int topLogProbs, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(prompt);
        ObjectDisposedException.ThrowIf(_disposed, this);
        var ids = PromptIds(prompt);
        var top = Math.Max(0, topLogProbs);
        return _decoder.RunAsync<IReadOnlyList<ScoredToken>>(() =>
        {
            var result = new List<ScoredToken>(ids.Length);
            if (ids.Length == 0)
            {
                return result;
            }

            var offsets = Offsets(ids);
            result.Add(new ScoredToken(ids[0], TokenText(ids[0]), null, [], 0) { Bytes = TokenBytes(ids[0]) });
            if (ids.Length == 1)
            {
                return result;
            }

            // The hidden state that predicts token j (j ≥ 1) is the one just before it; soft tokens sit after the first At.
            var soft = SoftPrefixFor(prompt.User, ids.Length);
            var hidden = BatchDecoder.PromptHidden(_model, ids, soft, cache: null)[0];                         // [L (+P), E]
            var p = soft is null ? 0 : (int)soft.Tokens.shape[1];
            var at = soft?.At ?? 0;
            soft?.Tokens.Dispose();
            var rows = Enumerable.Range(1, ids.Length - 1).Select(j => (long)((j < at || p == 0 ? j : j + p) - 1)).ToArray();
            var picked = hidden.index_select(0, tensor(rows, device: _model.Device));                         // [L-1, E]
            var targets = tensor(ids[1..].Select(i => (long)i).ToArray(), device: _model.Device);
            var chunk = (int)Math.Max(1, LogProbs.ChunkLogitBytes / (_model.Config.VocabSize * sizeof(float)));
            for (var start = 0; start < rows.Length; start += chunk)
            {
                var length = Math.Min(chunk, rows.Length - start);
                var logp = _model.Head(picked.narrow(0, start, length)).log_softmax(-1);                     // [m, V]
                var chosen = logp.gather(1, targets.narrow(0, start, length).unsqueeze(-1)).squeeze(-1).to_type(ScalarType.Float32).data<float>().ToArray();
                int[]? topIds = null;
                float[]? topValues = null;
                if (top > 0)
                {
                    var (values, indices) = logp.topk((int)Math.Min(top, logp.shape[1]), dim: -1);
                    topValues = values.to_type(ScalarType.Float32).data<float>().ToArray();
                    topIds = [.. indices.data<long>().ToArray().Select(x => (int)x)];
                }

                for (var i = 0; i < length; i++)
                {
                    var j = start + i + 1;
                    var width = topIds is null ? 0 : topIds.Length / length;
                    result.Add(Scored(ids[j], chosen[i], topIds?[(i * width)..((i + 1) * width)], topValues?[(i * width)..((i + 1) * width)], offsets[j]));
                }
            }

            return result;
        }, cancellationToken);
    }

    public object? GetService(Type serviceType, object? serviceKey = null)
    {
        ArgumentNullException.ThrowIfNull(serviceType);
        return serviceKey is not null ? null
            : serviceType == typeof(ChatClientMetadata) ? _metadata
            : serviceType.IsInstanceOfType(this) ? this
            : serviceType.IsInstanceOfType(_model) ? _model
            : null;
    }

    public void Dispose()
    {
        if (_disposed)
        {
            return;
        }

        _disposed = true;
        _decoder.Dispose();
        if (_ownsModel)
        {
            _model.Dispose();
        }
    }

    private ChatResponseUpdate Update(string text) => new(ChatRole.Assistant, text) { ModelId = _metadata.DefaultModelId };

    private int[] PromptIds(TokenPrompt prompt)
    {
        ArgumentNullException.ThrowIfNull(prompt);
        if (prompt.Messages is { } messages)
        {
            var turns = messages.Select(m => new ChatTurn(m.Role.Value, m.Text)).ToList();
            return _tokenizer.Encode(Template.Format(turns, addGenerationPrompt: true));
        }

        if (prompt.Ids is { } ids)
        {
            var vocab = _model.Config.VocabSize;
            return ids.All(i => i >= 0 && i < vocab) ? [.. ids] : throw new ArgumentException($"token ids must be in [0, {vocab})");
        }

        // Plain text as Hugging Face servers read it: with the tokenizer's special tokens (BOS, where it adds one).
        return _tokenizer.Encode(prompt.Text ?? "", addSpecialTokens: true);
    }

    /// <summary>The soft tokens of <paramref name="user"/> (null: the generic user) for a prompt of <paramref name="length"/> tokens, or null when the model has none.</summary>
    private SoftPrefix? SoftPrefixFor(string? user, int length)
    {
        var soft = SoftTokens?.Invoke(string.IsNullOrEmpty(user) ? null : user);
        return soft is null ? null : new SoftPrefix(soft, Math.Min(SoftTokensAt, length));
    }

    /// <summary>Where each token's text begins in the text of all of them.</summary>
    private int[] Offsets(int[] ids)
    {
        var offsets = new int[ids.Length];
        for (var i = 1; i < ids.Length; i++)
        {
            offsets[i] = _tokenizer.Decode(ids[..i], skipSpecialTokens: false).Length;
        }

        return offsets;
    }

    private string TokenText(int id) => _tokenizer.Decode([id], skipSpecialTokens: false);

    private ScoredToken Scored(int id, float logProb, int[]? topIds, float[]? topLogProbs, int offset) =>
        new(id, TokenText(id), logProb, topIds is null ? [] : [.. topIds.Select((t, k) => new TokenAlternative(t, TokenText(t), topLogProbs![k]) { Bytes = TokenBytes(t) })], offset)
        {
            Bytes = TokenBytes(id),
        };

    private byte[] TokenBytes(int id) => _tokenizer is BpeTokenizer bpe ? bpe.TokenBytes(id) : System.Text.Encoding.UTF8.GetBytes(TokenText(id));

    private static int StopIndex(string text, string[] stops) =>
        stops.Select(s => text.IndexOf(s, StringComparison.Ordinal)).Where(i => i >= 0).DefaultIfEmpty(-1).Min();

    private TokenRequest Request(TokenPrompt prompt, ChatOptions? options) => new()
    {
        Prompt = prompt,
        MaxTokens = options?.MaxOutputTokens ?? _defaultMaxTokens,
        Temperature = (double?)options?.Temperature ?? 1.0,
        TopP = (double?)options?.TopP ?? 1.0,
        TopK = options?.TopK ?? 0,
        Seed = options?.Seed,
        Stop = [.. options?.StopSequences ?? []],
    };

    private static GenerationOptions Settings(TokenRequest request)
    {
        if (request.MaxTokens < 0 || request.Temperature < 0 || request.TopK < 0 || request.TopP is <= 0 or > 1)
        {
            throw new ArgumentException("MaxOutputTokens, TopK and Temperature must be >= 0 and TopP in (0, 1]");
        }

        return new GenerationOptions
        {
            MaxNewTokens = request.MaxTokens,
            Temperature = request.Temperature,
            TopP = request.TopP,
            TopK = request.TopK,
            Seed = request.Seed is { } seed ? unchecked((int)seed) : Seeds.Default,
        };
    }

    /// <summary>How many characters at the end of <paramref name="text"/> not to send yet.</summary>
    private static int HeldBack(string text, string[] stops)
    {
        var hold = text.EndsWith('\uFFFD') ? 1 : 0;
        foreach (var stop in stops)
        {
            for (var n = Math.Min(stop.Length - 1, text.Length); n > hold; n--)
            {
                if (text.AsSpan(text.Length - n).SequenceEqual(stop.AsSpan(0, n)))
                {
                    hold = n;
                    break;
                }
            }
        }

        return hold;
    }
}

/// <summary>Registers the <c>hf:</c> scheme of <see cref="LlmEndpoints"/>: <c>--llm hf:DIR</c> runs a local checkpoint in process.</summary>
public static class TorchEndpoints
{
    public const string Scheme = "hf";

    /// <summary>Makes <c>LlmEndpoints.Create("hf:DIR…")</c> open a <see cref="TorchChatClient"/>; calling it again changes nothing.</summary>
    public static void Register() => LlmEndpoints.Register(Scheme, TorchChatClient.Open);

    /// <summary>
    /// Adds a hook called with every client <c>hf:DIR</c> opens, before it is used: modules that add to a
    /// checkpoint folder (a personalised model's user model) attach themselves here. Adding the same
    /// hook twice changes nothing.
    /// </summary>
    public static void AddOpenHook(Action<TorchChatClient> hook)
    {
        ArgumentNullException.ThrowIfNull(hook);
        lock (Hooks)
        {
            if (!Hooks.Contains(hook))
            {
                Hooks.Add(hook);
            }
        }
    }

    /// <summary>The hooks added so far (a snapshot).</summary>
    internal static IReadOnlyList<Action<TorchChatClient>> OnOpen
    {
        get
        {
            lock (Hooks)
            {
                return [.. Hooks];
            }
        }
    }

    private static readonly List<Action<TorchChatClient>> Hooks = [];
}

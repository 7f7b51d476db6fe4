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
/// stop sequences and the seed. One generation runs at a time (calls wait their turn).
/// </summary>
public sealed class TorchChatClient : IChatClient
{
    /// <summary>The answer length when neither <c>ChatOptions.MaxOutputTokens</c> nor <c>?max_tokens=</c> says.</summary>
    public const int DefaultMaxTokens = 256;

    private readonly CausalLM _model;
    private readonly ITokenizer _tokenizer;
    private readonly bool _ownsModel;
    private readonly int _defaultMaxTokens;
    private readonly int[] _endIds;
    private readonly SemaphoreSlim _gate = new(1, 1);
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
        var turns = messages.Select(m => new ChatTurn(m.Role.Value, m.Text)).ToList();
        var prompt = _tokenizer.Encode(Template.Format(turns, addGenerationPrompt: true));
        var settings = Settings(options);
        var stops = (options?.StopSequences ?? []).Where(s => s.Length > 0).ToArray();

        var user = options?.AdditionalProperties?.TryGetValue("user", out var u) == true && u is not null ? u.ToString() : null;
        await _gate.WaitAsync(cancellationToken).ConfigureAwait(false);
        try
        {
            using var soft = SoftTokens?.Invoke(string.IsNullOrEmpty(user) ? null : user);
            using var run = new Run(_model, prompt, settings, soft is null ? null : new SoftPrefix(soft, Math.Min(SoftTokensAt, prompt.Length)));
            var ids = new List<int>();
            var emitted = 0;                    // characters of the answer already sent
            var finish = ChatFinishReason.Length;
            while (ids.Count < settings.MaxNewTokens)
            {
                cancellationToken.ThrowIfCancellationRequested();
                var next = run.Next();
                if (_endIds.Contains(next))
                {
                    finish = ChatFinishReason.Stop;
                    break;
                }

                ids.Add(next);
                var text = _tokenizer.Decode(ids, skipSpecialTokens: false);
                var stopAt = stops.Select(s => text.IndexOf(s, StringComparison.Ordinal)).Where(i => i >= 0).DefaultIfEmpty(-1).Min();
                if (stopAt >= 0)
                {
                    if (stopAt > emitted)
                    {
                        yield return Update(text[emitted..stopAt]);
                    }

                    emitted = stopAt;
                    finish = ChatFinishReason.Stop;
                    break;
                }

                // Hold back an incomplete UTF-8 character and anything that may begin a stop sequence.
                var safe = text.Length - HeldBack(text, stops);
                if (safe > emitted)
                {
                    yield return Update(text[emitted..safe]);
                    emitted = safe;
                }

                // Let the caller see the token before the next step.
                await Task.Yield();
            }

            // What was held back, once the answer is over (up to a stop sequence, if one completed).
            var all = _tokenizer.Decode(ids, skipSpecialTokens: false);
            var end = stops.Select(s => all.IndexOf(s, StringComparison.Ordinal)).Where(i => i >= 0).DefaultIfEmpty(all.Length).Min();
            if (end > emitted)
            {
                yield return Update(all[emitted..end]);
            }

            var last = new ChatResponseUpdate(ChatRole.Assistant, [new UsageContent(new UsageDetails
            {
                InputTokenCount = prompt.Length,
                OutputTokenCount = ids.Count,
                TotalTokenCount = prompt.Length + ids.Count,
            })])
            {
                FinishReason = finish,
                ModelId = _metadata.DefaultModelId,
            };
            yield return last;
        }
        finally
        {
            _gate.Release();
        }
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
        if (_ownsModel)
        {
            _model.Dispose();
        }

        _gate.Dispose();
    }

    private ChatResponseUpdate Update(string text) => new(ChatRole.Assistant, text) { ModelId = _metadata.DefaultModelId };

    private GenerationOptions Settings(ChatOptions? options)
    {
        var max = options?.MaxOutputTokens ?? _defaultMaxTokens;
        var temperature = (double?)options?.Temperature ?? 1.0;
        var topP = (double?)options?.TopP ?? 1.0;
        var topK = options?.TopK ?? 0;
        if (max < 0 || temperature < 0 || topK < 0 || topP is <= 0 or > 1)
        {
            throw new ArgumentException("MaxOutputTokens, TopK and Temperature must be >= 0 and TopP in (0, 1]");
        }

        return new GenerationOptions
        {
            MaxNewTokens = max,
            Temperature = temperature,
            TopP = topP,
            TopK = topK,
            Seed = options?.Seed is { } seed ? unchecked((int)seed) : Seeds.Default,
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

    /// <summary>
    /// One generation: the prompt, then one token per <see cref="Next"/>. Each step opens and closes
    /// its own no-grad and dispose scopes (both are per thread, and an async caller may resume on another).
    /// </summary>
    private sealed class Run : IDisposable
    {
        private readonly CausalLM _model;
        private readonly GenerationOptions _options;
        private readonly KvCache _cache;
        private readonly Generator _generator;
        private Tensor _input;
        private Tensor? _prefill;

        public Run(CausalLM model, int[] prompt, GenerationOptions options, SoftPrefix? prefix = null)
        {
            if (prompt.Length == 0)
            {
                throw new ArgumentException("the formatted prompt encodes to no tokens");
            }

            _model = model;
            _options = options;
            _cache = new KvCache(model.Config.NumLayers);
            _generator = new Generator((ulong)options.Seed, model.Device);
            _input = tensor(prompt.Select(i => (long)i).ToArray(), [1, prompt.Length], device: model.Device);
            if (prefix is { Tokens.shape: [1, > 0, _] })
            {
                // The first step reads [prompt[..at], soft tokens, prompt[at..]] as embeddings; the cache carries them on.
                using var noGrad = no_grad();
                using var embedded = model.Embed(_input);
                _prefill = cat([embedded[.., ..prefix.At], prefix.Tokens.to_type(embedded.dtype), embedded[.., prefix.At..]], 1).detach();
            }
        }

        public int Next()
        {
            using var noGrad = no_grad();
            using var scope = NewDisposeScope();
            var logits = (_prefill is not null ? _model.Head(_model.HiddenFromEmbeddings(_prefill, cache: _cache)) : _model.Forward(_input, cache: _cache))[.., -1];   // [1, V]
            _prefill?.Dispose();
            _prefill = null;
            var next = Generation.Pick(logits, _options, _generator);             // [1]
            var id = next.item<long>();
            _input.Dispose();
            _input = next.unsqueeze(1).DetachFromDisposeScope();
            return (int)id;
        }

        public void Dispose()
        {
            _prefill?.Dispose();
            _input.Dispose();
            _cache.Dispose();
            _generator.Dispose();
        }
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

using Attune.Core.Errors;
using LLama;
using LLama.Abstractions;
using LLama.Common;
using LLama.Exceptions;
using LLama.Native;
using LLama.Transformers;
using Microsoft.Extensions.AI;

namespace Attune.Llm.Endpoints;

/// <summary>
/// <c>gguf:PATH[?ctx=N&amp;threads=N&amp;gpu_layers=N]</c>: a GGUF model run in process by
/// LLamaSharp (CPU backend), as an <see cref="IChatClient"/>. Each call is stateless: the whole
/// conversation is formatted with the model's chat template and evaluated afresh.
/// </summary>
public static class GgufEndpoint
{
    private static int _logsQuieted;

    // Held in a static field: llama.cpp keeps the function pointer, so the delegate must stay alive.
    private static readonly NativeLogConfig.LLamaLogCallback ErrorsOnly = (level, message) =>
    {
        if (level == LLamaLogLevel.Error)
        {
            Console.Error.Write("llama.cpp: " + message);
        }
    };

    /// <summary>Loads the model; a missing file or one that is not GGUF is an <see cref="AttuneInputException"/>.</summary>
    public static IChatClient Create(LlmSpec spec)
    {
        ArgumentNullException.ThrowIfNull(spec);
        QuietNativeLogs();
        spec.RequireOnlyParameters("ctx", "threads", "gpu_layers");
        var path = Path.GetFullPath(spec.Target);
        if (!File.Exists(path))
        {
            throw new AttuneInputException(
                Directory.Exists(path) ? "is a directory; gguf: wants a .gguf model file" : "GGUF model file not found", spec.Target);
        }

        CheckMagic(spec.Target, path);
        var parameters = new ModelParams(path)
        {
            ContextSize = (uint)spec.IntParameter("ctx", 2048),
            GpuLayerCount = spec.IntParameter("gpu_layers", 0),
        };
        var threads = spec.IntParameter("threads", 0);
        if (threads > 0)
        {
            parameters.Threads = threads;
        }

        LLamaWeights weights;
        try
        {
            weights = LLamaWeights.LoadFromFile(parameters);
        }
        catch (LoadWeightsFailedException ex)
        {
            throw new AttuneInputException($"llama.cpp could not load this GGUF model ({ex.Message})", spec.Target, inner: ex);
        }

        var executor = new StatelessExecutor(weights, parameters);

        // Prompts follow the model's own chat template when it has one (llama.cpp formats it);
        // otherwise LLamaSharp's plain "User: …\nAssistant: " transcript.
        var hasTemplate = weights.Metadata.ContainsKey("tokenizer.chat_template");
        var chat = hasTemplate ? executor.AsChatClient(new PromptTemplateTransformer(weights, withAssistant: true)) : executor.AsChatClient();
        return new GgufChatClient(chat, weights, path);
    }

    /// <summary>llama.cpp logs every tensor to stderr; keep only its errors (stdout stays clean for --json).</summary>
    private static void QuietNativeLogs()
    {
        if (Interlocked.Exchange(ref _logsQuieted, 1) == 0)
        {
            NativeLogConfig.llama_log_set(ErrorsOnly);
        }
    }

    private static void CheckMagic(string shown, string path)
    {
        Span<byte> magic = stackalloc byte[4];
        using var stream = File.OpenRead(path);
        if (stream.ReadAtLeast(magic, 4, throwOnEndOfStream: false) < 4 || !magic.SequenceEqual("GGUF"u8))
        {
            throw new AttuneInputException("not a GGUF file (it does not start with the bytes 'GGUF')", shown);
        }
    }

    /// <summary>Owns the loaded weights and reports the file name as the model.</summary>
    private sealed class GgufChatClient(IChatClient inner, LLamaWeights weights, string path) : DelegatingChatClient(inner)
    {
        private readonly ChatClientMetadata _metadata = new("llamasharp", new Uri(path), Path.GetFileName(path));

        public override async Task<ChatResponse> GetResponseAsync(
            IEnumerable<ChatMessage> messages, ChatOptions? options = null, CancellationToken cancellationToken = default)
        {
            var response = await base.GetResponseAsync(messages, options, cancellationToken).ConfigureAwait(false);
            response.ModelId ??= _metadata.DefaultModelId;
            return response;
        }

        public override async IAsyncEnumerable<ChatResponseUpdate> GetStreamingResponseAsync(
            IEnumerable<ChatMessage> messages, ChatOptions? options = null, [System.Runtime.CompilerServices.EnumeratorCancellation] CancellationToken cancellationToken = default)
        {
            await foreach (var update in base.GetStreamingResponseAsync(messages, options, cancellationToken).ConfigureAwait(false))
            {
                update.ModelId ??= _metadata.DefaultModelId;
                yield return update;
            }
        }

        public override object? GetService(Type serviceType, object? serviceKey = null) =>
            serviceKey is null && serviceType == typeof(ChatClientMetadata) ? _metadata : base.GetService(serviceType, serviceKey);

        protected override void Dispose(bool disposing)
        {
            base.Dispose(disposing);
            if (disposing)
            {
                weights.Dispose();
            }
        }
    }
}

using Attune.Core.Errors;
using LLama;
using LLama.Abstractions;
using LLama.Common;
using LLama.Exceptions;
using Microsoft.Extensions.AI;

namespace Attune.Llm.Endpoints;

/// <summary>
/// <c>gguf:PATH[?ctx=N&amp;threads=N&amp;gpu_layers=N]</c>: a GGUF model run in process by
/// LLamaSharp (CPU backend), as an <see cref="IChatClient"/>. Each call is stateless: the whole
/// conversation is formatted with the model's chat template and evaluated afresh.
/// </summary>
public static class GgufEndpoint
{
    /// <summary>Loads the model; a missing file or one that is not GGUF is an <see cref="AttuneInputException"/>.</summary>
    public static IChatClient Create(LlmSpec spec)
    {
        ArgumentNullException.ThrowIfNull(spec);
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
        return new GgufChatClient(executor.AsChatClient(), weights, path);
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

    /// <summary>Owns the loaded weights and reports the file as the model.</summary>
    private sealed class GgufChatClient(IChatClient inner, LLamaWeights weights, string path) : DelegatingChatClient(inner)
    {
        private readonly ChatClientMetadata _metadata = new("llamasharp", new Uri(path), Path.GetFileName(path));

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

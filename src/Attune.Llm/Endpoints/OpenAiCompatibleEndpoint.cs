using System.ClientModel;
using System.ClientModel.Primitives;
using Microsoft.Extensions.AI;
using OpenAI;

namespace Attune.Llm.Endpoints;

/// <summary>
/// <c>http(s)://host:port/v1?model=NAME</c>: any server that speaks the OpenAI chat-completions
/// API (vLLM, Ollama, llama.cpp server, OpenAI), through Microsoft.Extensions.AI.OpenAI.
/// </summary>
public static class OpenAiCompatibleEndpoint
{
    /// <summary>The key sent when <c>OPENAI_API_KEY</c> is unset; local servers ignore it.</summary>
    public const string DummyApiKey = "attune-no-key";

    /// <summary>
    /// Creates the client. The OpenAI library's own retries (3 by default) and its 100 s network
    /// timeout are turned off: retries and timeouts are explicit middleware
    /// (<c>UseRetry</c>, <c>UseTimeout</c>), so one request on the wire is one call.
    /// </summary>
    public static IChatClient Create(LlmSpec spec) => Create(spec, Environment.GetEnvironmentVariable("OPENAI_API_KEY"));

    /// <summary>As <see cref="Create(LlmSpec)"/>, with the key given (null or empty: a dummy key).</summary>
    public static IChatClient Create(LlmSpec spec, string? apiKey)
    {
        ArgumentNullException.ThrowIfNull(spec);
        spec.RequireOnlyParameters("model");
        var options = new OpenAIClientOptions
        {
            Endpoint = spec.Endpoint,
            RetryPolicy = new ClientRetryPolicy(maxRetries: 0),
            NetworkTimeout = Timeout.InfiniteTimeSpan,
        };
        var client = new OpenAIClient(new ApiKeyCredential(string.IsNullOrEmpty(apiKey) ? DummyApiKey : apiKey), options);
        return client.GetChatClient(spec.Model).AsIChatClient();
    }
}

using System.Net;
using Attune.Core.Errors;
using Microsoft.Extensions.Logging;

namespace Attune.Serving;

/// <summary>Options of <c>attune serve</c> (<see cref="OpenAiServer"/>).</summary>
public sealed class ServeOptions
{
    public const string DefaultUrls = "http://127.0.0.1:8000";

    /// <summary>Addresses to listen on, separated by <c>;</c>; port 0 picks a free one. Loopback unless <see cref="ApiKey"/> is set.</summary>
    public string Urls { get; init; } = DefaultUrls;

    /// <summary>The model's name in <c>/v1/models</c> and responses; requests naming another model get 404.</summary>
    public required string ModelName { get; init; }

    /// <summary>The key clients must send as <c>Authorization: Bearer KEY</c> on <c>/v1/…</c>; null: no key.</summary>
    public string? ApiKey { get; init; }

    /// <summary>Generation requests running at once (decoded together by a batching model).</summary>
    public int MaxConcurrency { get; init; } = 16;

    /// <summary>Requests that may wait for a running slot; past that a request gets 429.</summary>
    public int MaxQueue { get; init; } = 64;

    /// <summary>The most tokens one answer may have; also the chat default when a request sets none.</summary>
    public int MaxTokens { get; init; } = 1024;

    /// <summary>The largest request body accepted (413 past it).</summary>
    public long MaxBodyBytes { get; init; } = 4L << 20;

    public LogLevel LogLevel { get; init; } = LogLevel.Warning;

    /// <summary>The addresses of <see cref="Urls"/>.</summary>
    public IReadOnlyList<string> UrlList => [.. Urls.Split(';', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries)];

    /// <summary>Refuses bad values and a non-loopback address without a key, naming the option.</summary>
    public void Validate()
    {
        if (string.IsNullOrWhiteSpace(ModelName))
        {
            throw new AttuneInputException("--model-name: empty");
        }

        if (MaxConcurrency < 1 || MaxQueue < 0 || MaxTokens < 1 || MaxBodyBytes < 1024)
        {
            throw new AttuneInputException("--max-concurrency and --max-tokens must be at least 1, --max-queue at least 0");
        }

        if (UrlList.Count == 0)
        {
            throw new AttuneInputException("--urls: no address");
        }

        foreach (var url in UrlList)
        {
            if (!IsLoopback(url) && string.IsNullOrEmpty(ApiKey))
            {
                throw new AttuneInputException(
                    $"--urls: '{url}' is not a loopback address: serving beyond this machine needs an API key (--api-key-env VAR, the name of a variable that holds it)");
            }
        }
    }

    /// <summary>
    /// Whether <paramref name="url"/> listens on this machine only: <c>localhost</c> or a loopback IP.
    /// Wildcards (<c>*</c>, <c>+</c>, <c>0.0.0.0</c>, <c>[::]</c>) and other hosts are not.
    /// </summary>
    public static bool IsLoopback(string url)
    {
        ArgumentNullException.ThrowIfNull(url);
        var scheme = url.IndexOf("://", StringComparison.Ordinal);
        if (scheme < 0)
        {
            throw new AttuneInputException($"--urls: '{url}' is not an address (expected http://HOST:PORT)");
        }

        var rest = url[(scheme + 3)..];
        var end = rest.IndexOf('/', StringComparison.Ordinal);
        var authority = end >= 0 ? rest[..end] : rest;
        string host;
        if (authority.StartsWith('['))
        {
            var close = authority.IndexOf(']', StringComparison.Ordinal);
            host = close > 0 ? authority[1..close] : authority;
        }
        else
        {
            var colon = authority.LastIndexOf(':');
            host = colon >= 0 ? authority[..colon] : authority;
        }

        return host.Equals("localhost", StringComparison.OrdinalIgnoreCase)
            || (IPAddress.TryParse(host, out var ip) && IPAddress.IsLoopback(ip));
    }
}

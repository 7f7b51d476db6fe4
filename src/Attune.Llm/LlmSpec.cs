using System.Text.RegularExpressions;
using Attune.Core.Errors;

namespace Attune.Llm;

/// <summary>
/// A parsed language-model endpoint spec, the one syntax every command takes with
/// <c>--llm SPEC</c> or <c>ATTUNE_LLM</c>: <c>http(s)://host:port/v1?model=NAME</c>,
/// <c>gguf:PATH</c>, <c>replay:FILE</c>, or <c>SCHEME:TARGET</c> for a scheme another assembly
/// registered with <see cref="LlmEndpoints.Register"/> (e.g. <c>hf:DIR</c>).
/// Parameters may follow a <c>?</c> as <c>name=value</c> pairs joined by <c>&amp;</c>.
/// </summary>
public sealed partial record LlmSpec
{
    private LlmSpec(string text, string scheme, string target, Uri? endpoint, IReadOnlyDictionary<string, string> parameters)
    {
        Text = text;
        Scheme = scheme;
        Target = target;
        Endpoint = endpoint;
        Parameters = parameters;
    }

    /// <summary>The spec as given (trimmed).</summary>
    public string Text { get; }

    /// <summary>The scheme, lower case: <c>http</c>, <c>https</c>, <c>gguf</c>, <c>replay</c>, <c>hf</c>, …</summary>
    public string Scheme { get; }

    /// <summary>What follows <c>SCHEME:</c> up to any <c>?</c>: a path for file schemes; the URL without its query for http(s).</summary>
    public string Target { get; }

    /// <summary>For http(s): the base URL of the OpenAI-compatible API (e.g. <c>http://127.0.0.1:8000/v1</c>); else null.</summary>
    public Uri? Endpoint { get; }

    /// <summary>The <c>?name=value</c> parameters, unescaped.</summary>
    public IReadOnlyDictionary<string, string> Parameters { get; }

    /// <summary>The <c>model</c> parameter, required for http(s).</summary>
    public string? Model => Parameters.TryGetValue("model", out var model) ? model : null;

    /// <summary>True for <c>http</c> and <c>https</c>.</summary>
    public bool IsHttp => Scheme is "http" or "https";

    public override string ToString() => Text;

    /// <summary>Parses <paramref name="spec"/>; a malformed spec is an <see cref="AttuneInputException"/>.</summary>
    public static LlmSpec Parse(string? spec)
    {
        if (string.IsNullOrWhiteSpace(spec))
        {
            throw new AttuneInputException(
                "no language model given: pass --llm SPEC or set ATTUNE_LLM (" + SyntaxHint + ")");
        }

        var text = spec.Trim();
        var colon = text.IndexOf(':', StringComparison.Ordinal);
        var scheme = colon > 0 ? text[..colon].ToLowerInvariant() : "";
        if (!SchemePattern().IsMatch(scheme))
        {
            throw new AttuneInputException(
                $"llm spec '{text}': expected SCHEME:TARGET with a scheme of {string.Join(", ", LlmEndpoints.KnownSchemes)} ({SyntaxHint})");
        }

        var rest = text[(colon + 1)..];
        var question = rest.IndexOf('?', StringComparison.Ordinal);
        var target = question >= 0 ? rest[..question] : rest;
        var parameters = ParseParameters(text, question >= 0 ? rest[(question + 1)..] : "");

        if (scheme is "http" or "https")
        {
            if (!Uri.TryCreate(text[..(colon + 1 + (question >= 0 ? question : rest.Length))], UriKind.Absolute, out var endpoint)
                || string.IsNullOrEmpty(endpoint.Host))
            {
                throw new AttuneInputException($"llm spec '{text}': not a valid URL (expected {scheme}://host:port/v1?model=NAME)");
            }

            if (!parameters.TryGetValue("model", out var model) || string.IsNullOrWhiteSpace(model))
            {
                throw new AttuneInputException(
                    $"llm spec '{text}': field 'model': missing; an OpenAI-compatible endpoint needs ?model=NAME (e.g. {scheme}://{endpoint.Authority}{endpoint.AbsolutePath.TrimEnd('/')}?model=qwen2.5-0.5b-instruct)");
            }

            return new LlmSpec(text, scheme, endpoint.GetLeftPart(UriPartial.Path), endpoint, parameters);
        }

        if (string.IsNullOrWhiteSpace(target))
        {
            throw new AttuneInputException($"llm spec '{text}': empty path (expected {scheme}:PATH)");
        }

        return new LlmSpec(text, scheme, target, null, parameters);
    }

    /// <summary>Rejects parameters other than <paramref name="allowed"/>, naming the spec and the parameter.</summary>
    public void RequireOnlyParameters(params string[] allowed)
    {
        foreach (var name in Parameters.Keys)
        {
            if (!allowed.Contains(name, StringComparer.Ordinal))
            {
                var known = allowed.Length == 0 ? "none" : string.Join(", ", allowed);
                throw new AttuneInputException($"llm spec '{Text}': field '{name}': unknown parameter for {Scheme}: (known: {known})");
            }
        }
    }

    /// <summary>An integer parameter, or <paramref name="fallback"/> when absent; a non-integer is bad input.</summary>
    public int IntParameter(string name, int fallback)
    {
        if (!Parameters.TryGetValue(name, out var value))
        {
            return fallback;
        }

        if (!int.TryParse(value, System.Globalization.NumberStyles.Integer, System.Globalization.CultureInfo.InvariantCulture, out var parsed) || parsed < 0)
        {
            throw new AttuneInputException($"llm spec '{Text}': field '{name}': '{value}' is not a non-negative integer");
        }

        return parsed;
    }

    /// <summary>The accepted forms, for help and error messages.</summary>
    public static string SyntaxHintText => SyntaxHint;

    internal const string SyntaxHint = "http(s)://host:port/v1?model=NAME, gguf:PATH, hf:DIR or replay:FILE";

    private static Dictionary<string, string> ParseParameters(string text, string query)
    {
        var parameters = new Dictionary<string, string>(StringComparer.Ordinal);
        foreach (var pair in query.Split('&', StringSplitOptions.RemoveEmptyEntries))
        {
            var eq = pair.IndexOf('=', StringComparison.Ordinal);
            var name = Uri.UnescapeDataString(eq >= 0 ? pair[..eq] : pair);
            var value = eq >= 0 ? Uri.UnescapeDataString(pair[(eq + 1)..].Replace('+', ' ')) : "";
            if (name.Length == 0 || !parameters.TryAdd(name, value))
            {
                throw new AttuneInputException($"llm spec '{text}': parameter '{pair}' is empty or repeated");
            }
        }

        return parameters;
    }

    [GeneratedRegex("^[a-z][a-z0-9+.-]*$")]
    private static partial Regex SchemePattern();
}

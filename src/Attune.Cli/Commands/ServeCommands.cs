using System.CommandLine;
using Attune.Core.Errors;
using Attune.Llm;
using Attune.Serving;

namespace Attune.Cli.Commands;

/// <summary><c>attune serve</c>: an OpenAI-compatible endpoint for the <c>--llm</c> model (docs/serving.md).</summary>
public sealed class ServeCommands : ICommandModule
{
    public void AddCommands(CliApp app)
    {
        ArgumentNullException.ThrowIfNull(app);
        var urls = new Option<string>("--urls") { Description = "Addresses to listen on, ';'-separated (loopback unless --api-key-env is given).", DefaultValueFactory = _ => ServeOptions.DefaultUrls };
        var modelName = new Option<string?>("--model-name") { Description = "The model's name in /v1/models and responses (default: the checkpoint folder's or file's name, or the URL's model)." };
        var apiKeyEnv = new Option<string?>("--api-key-env") { Description = "The name of an environment variable holding the API key clients must send (Authorization: Bearer KEY)." };
        var maxConcurrency = new Option<int>("--max-concurrency") { Description = "Requests generating at once (an hf: model decodes them together).", DefaultValueFactory = _ => 16 };
        var maxQueue = new Option<int>("--max-queue") { Description = "Requests that may wait for a slot; past that 429.", DefaultValueFactory = _ => 64 };
        var maxTokens = new Option<int>("--max-tokens") { Description = "The most tokens one answer may have (and the chat default).", DefaultValueFactory = _ => 1024 };
        var serve = new Command("serve", "Serve the --llm model over an OpenAI-compatible HTTP API: /v1/chat/completions, /v1/completions, /v1/models, /health.")
        {
            urls, modelName, apiKeyEnv, maxConcurrency, maxQueue, maxTokens,
        };
        app.Root.Subcommands.Add(serve);
        app.SetAction(serve, async (ctx, ct) =>
        {
            var text = ctx.LlmSpec ?? throw new AttuneInputException(
                "attune serve needs a language model: pass --llm SPEC or set ATTUNE_LLM (" + LlmSpec.SyntaxHintText + ")");
            var spec = LlmSpec.Parse(text);
            string? key = null;
            if (ctx.Get(apiKeyEnv) is { Length: > 0 } variable)
            {
                key = ctx.App.Environment(variable);
                if (string.IsNullOrEmpty(key))
                {
                    throw new AttuneInputException($"--api-key-env {variable}: the variable is unset or empty");
                }
            }

            var options = new ServeOptions
            {
                Urls = ctx.Get(urls) ?? ServeOptions.DefaultUrls,
                ModelName = ctx.Get(modelName) is { Length: > 0 } name ? name : DefaultModelName(spec),
                ApiKey = key,
                MaxConcurrency = ctx.Get(maxConcurrency),
                MaxQueue = ctx.Get(maxQueue),
                MaxTokens = ctx.Get(maxTokens),
            };
            await using var server = OpenAiServer.Create(options, _ => Task.FromResult(LlmEndpoints.Create(spec)));
            await server.StartAsync(ct);
            ctx.Log($"listening on {string.Join(", ", server.Addresses)}; loading {spec} as '{options.ModelName}' …");
            try
            {
                await server.Model!.WaitAsync(ct);
                ctx.Log($"model '{options.ModelName}' ready" + (key is null ? " (no API key: loopback only)" : " (API key required)"));
                await Task.Delay(Timeout.Infinite, ct);
            }
            catch (OperationCanceledException) when (ct.IsCancellationRequested)
            {
                // Ctrl-C or SIGTERM: stop serving (requests in flight are cancelled); exit 130 as every long-running verb does.
            }

            return CliApp.Cancelled;
        });
    }

    /// <summary>The served name when --model-name is not given: the URL's model, else the folder's or file's name.</summary>
    public static string DefaultModelName(LlmSpec spec)
    {
        ArgumentNullException.ThrowIfNull(spec);
        return spec.IsHttp ? spec.Model! : Path.GetFileName(Path.GetFullPath(spec.Target).TrimEnd(Path.DirectorySeparatorChar, Path.AltDirectorySeparatorChar));
    }
}

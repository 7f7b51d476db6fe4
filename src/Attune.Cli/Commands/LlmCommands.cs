using System.CommandLine;
using System.Diagnostics;
using System.Globalization;
using System.Text.Json.Serialization;
using Attune.Core.Errors;
using Attune.Llm;
using Microsoft.Extensions.AI;

namespace Attune.Cli.Commands;

/// <summary><c>attune llm …</c>: check a language-model endpoint.</summary>
public sealed class LlmCommands : ICommandModule
{
    public const string DefaultPrompt = "Reply with one word: pong.";

    public const int DefaultMaxTokens = 64;

    public void AddCommands(CliApp app)
    {
        ArgumentNullException.ThrowIfNull(app);
        var group = app.AddGroup("llm", "Language-model endpoints (--llm SPEC or ATTUNE_LLM).");

        var prompt = new Option<string>("--prompt") { Description = "The prompt to send.", DefaultValueFactory = _ => DefaultPrompt };
        var timeout = new Option<double>("--timeout")
        {
            Description = "Give up after this many seconds (at most a day).",
            DefaultValueFactory = _ => 120,
        }.Above(0, 86_400);
        var maxTokens = new Option<int>("--max-tokens")
        {
            Description = "The most tokens the reply may have (a model that never ends its turn stops there).",
            DefaultValueFactory = _ => DefaultMaxTokens,
        };
        var ping = new Command("ping", "Send one prompt to the --llm endpoint; print the reply and the latency.") { prompt, timeout, maxTokens };
        group.Subcommands.Add(ping);
        app.SetAction(ping, async (ctx, ct) =>
        {
            var spec = ctx.LlmSpec ?? throw new AttuneInputException(
                "attune llm ping needs a language model: pass --llm SPEC or set ATTUNE_LLM (" + LlmSpec.SyntaxHintText + ")");
            var seconds = ctx.Get(timeout);

            using var client = LlmEndpoints.Create(spec).AsBuilder().UseTimeout(TimeSpan.FromSeconds(seconds)).Build();
            var text = ctx.Get(prompt) ?? DefaultPrompt;
            if (!ctx.Json)
            {
                ctx.Log($"asking {spec} …");
            }

            var clock = Stopwatch.StartNew();
            ChatResponse response;
            try
            {
                response = await client.GetResponseAsync([new ChatMessage(ChatRole.User, text)], PingOptions(ctx.Get(maxTokens)), ct);
            }
            catch (Exception ex) when (ex is System.ClientModel.ClientResultException or HttpRequestException or TimeoutException)
            {
                // The endpoint is unreachable, refused the request, or too slow: say so in one line (exit 1).
                await ctx.Err.WriteLineAsync($"error: {spec}: {ex.Message}");
                return CliApp.InternalFailure;
            }

            var latency = Math.Round(clock.Elapsed.TotalMilliseconds, 1);
            var model = response.ModelId ?? client.GetService<ChatClientMetadata>()?.DefaultModelId ?? LlmSpec.Parse(spec).Model;
            if (ctx.Json)
            {
                ctx.WriteJson(new PingResult(spec, model, response.Text, latency));
            }
            else
            {
                await ctx.Out.WriteLineAsync(response.Text);
                await ctx.Out.WriteLineAsync(string.Create(CultureInfo.InvariantCulture, $"model: {model ?? "(unknown)"}, latency: {latency} ms"));
            }

            return CliApp.Success;
        });
    }

    /// <summary>The options of a ping: only the token limit (so replay logs key on it).</summary>
    public static ChatOptions PingOptions(int maxTokens) =>
        maxTokens > 0 ? new ChatOptions { MaxOutputTokens = maxTokens } : throw new AttuneInputException($"--max-tokens: {maxTokens} is not a positive number");

    /// <summary>The <c>--json</c> document of <c>attune llm ping</c>.</summary>
    public sealed record PingResult(
        [property: JsonPropertyName("spec")] string Spec,
        [property: JsonPropertyName("model")] string? Model,
        [property: JsonPropertyName("reply")] string Reply,
        [property: JsonPropertyName("latency_ms")] double LatencyMs);
}

using System.CommandLine;
using System.Text.Json;
using Attune.Core.Errors;

namespace Attune.Cli.Tests;

public class CliAppTests
{
    [Fact]
    public async Task Version_prints_the_assembly_version()
    {
        var (code, stdout, _) = await CliHarness.Run("--version");
        Assert.Equal(0, code);
        Assert.StartsWith("0.1.0", stdout.Trim(), StringComparison.Ordinal);
    }

    [Fact]
    public async Task Help_lists_global_options_and_module_verbs()
    {
        var (code, stdout, _) = await CliHarness.Run("--help");
        Assert.Equal(0, code);
        foreach (var word in new[] { "--json", "--verbose", "--seed", "--llm", "repro" })
        {
            Assert.Contains(word, stdout, StringComparison.Ordinal);
        }
    }

    [Fact]
    public async Task Unknown_verb_is_bad_input_with_one_line()
    {
        var (code, stdout, stderr) = await CliHarness.Run("frobnicate");
        Assert.Equal(2, code);
        Assert.Equal("", stdout);
        var lines = stderr.Split('\n', StringSplitOptions.RemoveEmptyEntries);
        Assert.Single(lines);
        Assert.Contains("frobnicate", lines[0], StringComparison.Ordinal);
    }

    [Fact]
    public async Task Unknown_option_is_bad_input()
    {
        var (code, _, stderr) = await CliHarness.Run("repro", "list", "--no-such-option");
        Assert.Equal(2, code);
        Assert.Contains("--no-such-option", stderr, StringComparison.Ordinal);
    }

    [Fact]
    public void Every_module_class_is_discovered_once()
    {
        var app = new CliApp(TextWriter.Null, TextWriter.Null);
        var moduleTypes = typeof(CliApp).Assembly.GetTypes()
            .Where(t => t is { IsClass: true, IsAbstract: false } && typeof(ICommandModule).IsAssignableFrom(t))
            .ToList();
        Assert.NotEmpty(moduleTypes);
        Assert.Equal(moduleTypes.Count, app.Modules.Count);
        Assert.Equal(app.Root.Subcommands.Count, app.Root.Subcommands.Select(c => c.Name).Distinct().Count());
    }

    [Fact]
    public async Task Input_errors_exit_2_with_the_message_and_no_stack_trace()
    {
        var app = Guarded(new AttuneInputException("not valid JSON", "log.jsonl", 3), out var stdout, out var stderr);
        var code = await app.RunAsync(["boom"]);
        Assert.Equal(2, code);
        Assert.Equal("error: log.jsonl:3: not valid JSON", stderr.ToString().Trim());
        Assert.Equal("", stdout.ToString());
    }

    [Fact]
    public async Task Input_errors_show_the_stack_trace_only_with_verbose()
    {
        var app = Guarded(new AttuneInputException("bad"), out _, out var stderr);
        Assert.Equal(2, await app.RunAsync(["boom", "--verbose"]));
        Assert.Contains(" at ", stderr.ToString(), StringComparison.Ordinal);
    }

    [Fact]
    public async Task Internal_failures_exit_1()
    {
        var app = Guarded(new InvalidOperationException("broken invariant"), out _, out var stderr);
        Assert.Equal(1, await app.RunAsync(["boom"]));
        Assert.Contains("broken invariant", stderr.ToString(), StringComparison.Ordinal);
        Assert.DoesNotContain(" at ", stderr.ToString(), StringComparison.Ordinal);
    }

    [Fact]
    public async Task Global_options_reach_verbs_and_ATTUNE_LLM_is_the_default_endpoint()
    {
        using var stdout = new StringWriter();
        var app = new CliApp(stdout, TextWriter.Null, name => name == "ATTUNE_LLM" ? "replay:env.jsonl" : null);
        var probe = new Command("probe");
        app.SetAction(probe, (ctx, _) =>
        {
            ctx.WriteJson(new { seed = ctx.Seed, llm = ctx.LlmSpec, json = ctx.Json });
            return Task.FromResult(0);
        });
        app.Root.Subcommands.Add(probe);

        Assert.Equal(0, await app.RunAsync(["probe", "--json", "--seed", "7"]));
        using var doc = JsonDocument.Parse(stdout.ToString());
        Assert.Equal(7, doc.RootElement.GetProperty("seed").GetInt32());
        Assert.Equal("replay:env.jsonl", doc.RootElement.GetProperty("llm").GetString());
        Assert.True(doc.RootElement.GetProperty("json").GetBoolean());

        stdout.GetStringBuilder().Clear();
        Assert.Equal(0, await app.RunAsync(["probe", "--llm", "replay:flag.jsonl"]));
        Assert.Contains("replay:flag.jsonl", stdout.ToString(), StringComparison.Ordinal);
    }

    private static CliApp Guarded(Exception toThrow, out StringWriter stdout, out StringWriter stderr)
    {
        stdout = new StringWriter();
        stderr = new StringWriter();
        var app = new CliApp(stdout, stderr, _ => null);
        var boom = new Command("boom");
        app.SetAction(boom, (_, _) => throw toThrow);
        app.Root.Subcommands.Add(boom);
        return app;
    }
}

using System.CommandLine;
using System.CommandLine.Parsing;
using System.Reflection;
using Attune.Core.Errors;
using Attune.Core.Reproductions;
using Attune.Torch.Native;

namespace Attune.Cli;

/// <summary>
/// The <c>attune</c> command: the root, the global options every verb shares, the modules'
/// verbs, and one place that turns failures into exit codes (0 success, 1 internal failure,
/// 2 bad input, 130 cancelled).
/// </summary>
public sealed class CliApp
{
    public const int Success = 0;
    public const int InternalFailure = 1;
    public const int BadInput = 2;
    public const int Cancelled = 130;

    private readonly Func<string, string?> _environment;

    public CliApp(TextWriter? stdout = null, TextWriter? stderr = null, Func<string, string?>? environment = null)
    {
        Out = stdout ?? Console.Out;
        Err = stderr ?? Console.Error;
        _environment = environment ?? System.Environment.GetEnvironmentVariable;

        Root = new RootCommand("Attune: align, evaluate and study AI systems with people.");
        foreach (var option in new Option[] { JsonOption, VerboseOption, SeedOption, LlmOption })
        {
            option.Recursive = true;
            Root.Options.Add(option);
        }

        // The default --version reports the entry assembly, which is the test host under tests.
        var version = Root.Options.OfType<VersionOption>().Single();
        version.Action = new PrintVersion(this);

        Modules = DiscoverModules();
        foreach (var module in Modules)
        {
            module.AddCommands(this);
        }
    }

    public TextWriter Out { get; }

    public TextWriter Err { get; }

    public RootCommand Root { get; }

    public IReadOnlyList<ICommandModule> Modules { get; }

    public Option<bool> JsonOption { get; } = new("--json") { Description = "Print one JSON document on stdout and nothing else there." };

    public Option<bool> VerboseOption { get; } = new("--verbose", "-v") { Description = "Show stack traces and detailed logs." };

    public Option<int?> SeedOption { get; } = new("--seed") { Description = "Seed for every random choice (default 20261127)." };

    public Option<string?> LlmOption { get; } = new("--llm")
    {
        Description = "Language model: http(s)://host:port/v1?model=NAME, gguf:PATH, hf:DIR or replay:FILE (default: $ATTUNE_LLM).",
    };

    /// <summary>Every reproduction the modules register, by name.</summary>
    public IReadOnlyList<IReproduction> Reproductions =>
        [.. Modules.SelectMany(m => m.Reproductions).Concat(AddedReproductions).OrderBy(r => r.Name, StringComparer.Ordinal)];

    /// <summary>Reproductions added beside the modules' (tests add ones that fail on purpose).</summary>
    internal List<IReproduction> AddedReproductions { get; } = [];

    internal string? Environment(string name) => _environment(name);

    /// <summary>Adds <paramref name="command"/> under the root, or merges into a same-named group.</summary>
    public Command AddGroup(string name, string description)
    {
        var existing = Root.Subcommands.FirstOrDefault(c => c.Name == name);
        if (existing is not null)
        {
            return existing;
        }

        var group = new Command(name, description);
        Root.Subcommands.Add(group);
        return group;
    }

    /// <summary>Sets the action of <paramref name="command"/>; failures become exit codes here.</summary>
    public void SetAction(Command command, Func<CommandContext, CancellationToken, Task<int>> action) =>
        command.SetAction((parse, ct) => RunGuarded(parse, ct, action));

    /// <summary>Parses and runs <paramref name="args"/>; returns the exit code.</summary>
    public async Task<int> RunAsync(string[] args, CancellationToken cancellationToken = default)
    {
        var parse = Root.Parse(args.Length == 0 ? ["--help"] : args);
        if (parse.Errors.Count > 0)
        {
            // One line: an unrecognised word says more than the "required command" that follows from
            // it, and a bad value that was given more than an option still missing.
            var error = parse.Errors.FirstOrDefault(e => e.Message.StartsWith("Unrecognized", StringComparison.Ordinal))
                        ?? parse.Errors.FirstOrDefault(e => e.SymbolResult is OptionResult { Tokens.Count: > 0 } or ArgumentResult { Tokens.Count: > 0 })
                        ?? parse.Errors[0];
            await Err.WriteLineAsync($"error: {OptionChecks.Reword(error) ?? error.Message} (see 'attune --help')");
            return BadInput;
        }

        var config = new InvocationConfiguration { Output = Out, Error = Err, EnableDefaultExceptionHandler = false };
        Core.Reports.Report.UseCommandLine(CommandLine(args));   // shown at the top of every report.html this command writes
        return await parse.InvokeAsync(config, cancellationToken);
    }

    private async Task<int> RunGuarded(ParseResult parse, CancellationToken ct, Func<CommandContext, CancellationToken, Task<int>> action)
    {
        var context = new CommandContext(this, parse);
        try
        {
            return await action(context, ct);
        }
        catch (AttuneInputException ex)
        {
            await Err.WriteLineAsync($"error: {ex.Message}");
            if (context.Verbose)
            {
                await Err.WriteLineAsync(ex.ToString());
            }

            return BadInput;
        }
        catch (OperationCanceledException) when (ct.IsCancellationRequested)
        {
            await Err.WriteLineAsync("cancelled");
            return Cancelled;
        }
#pragma warning disable CA1031 // The command line's last line of defence reports every failure as exit 1.
        catch (Exception ex)
#pragma warning restore CA1031
        {
            await Err.WriteLineAsync($"internal error: {ex.GetType().Name}: {ex.Message}");
            await Err.WriteLineAsync(context.Verbose ? ex.ToString() : "(run with --verbose for the stack trace)");
            return InternalFailure;
        }
        finally
        {
            // Whether oneMKL's AVX-512 path was set (docs/torch.md), once, for commands that loaded libtorch.
            if (context.Verbose && MklFastPath.Report() is { } line)
            {
                await Err.WriteLineAsync(line);
            }
        }
    }

    /// <summary>Attune's version, e.g. <c>0.1.0+commit</c>.</summary>
    public static string Version =>
        typeof(CliApp).Assembly.GetCustomAttribute<AssemblyInformationalVersionAttribute>()?.InformationalVersion
        ?? typeof(CliApp).Assembly.GetName().Version?.ToString() ?? "unknown";

    private sealed class PrintVersion(CliApp app) : System.CommandLine.Invocation.SynchronousCommandLineAction
    {
        public override int Invoke(ParseResult parseResult)
        {
            app.Out.WriteLine(Version);
            return Success;
        }
    }

    /// <summary><c>attune</c> and the arguments as a shell would take them back (arguments with spaces or quotes quoted).</summary>
    internal static string CommandLine(IEnumerable<string> args) =>
        string.Join(' ', new[] { "attune" }.Concat(args.Select(a =>
            a.Length > 0 && a.All(c => char.IsLetterOrDigit(c) || "-_./:=,+@%".Contains(c, StringComparison.Ordinal)) ? a : "'" + a.Replace("'", "'\\''", StringComparison.Ordinal) + "'")));

    private static List<ICommandModule> DiscoverModules() =>
        [.. typeof(CliApp).Assembly.GetTypes()
            .Where(t => t is { IsClass: true, IsAbstract: false } && typeof(ICommandModule).IsAssignableFrom(t)
                        && t.GetConstructor(Type.EmptyTypes) is not null)
            .OrderBy(t => t.FullName, StringComparer.Ordinal)
            .Select(t => (ICommandModule)Activator.CreateInstance(t)!)];
}

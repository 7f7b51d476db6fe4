using System.CommandLine;
using System.Text.Json;
using Attune.Core.Randomness;

namespace Attune.Cli;

/// <summary>What a verb's action sees: its parsed values, the global options and the two streams.</summary>
public sealed class CommandContext
{
    private static readonly JsonSerializerOptions PrettyJson = new(JsonSerializerDefaults.Web)
    {
        WriteIndented = true,
        Encoder = System.Text.Encodings.Web.JavaScriptEncoder.UnsafeRelaxedJsonEscaping,
    };

    internal CommandContext(CliApp app, ParseResult parse)
    {
        App = app;
        Parse = parse;
    }

    public CliApp App { get; }

    public ParseResult Parse { get; }

    /// <summary>Results only: with <c>--json</c>, exactly one JSON document and nothing else.</summary>
    public TextWriter Out => App.Out;

    /// <summary>Progress, logs and warnings.</summary>
    public TextWriter Err => App.Err;

    public bool Json => Parse.GetValue(App.JsonOption);

    public bool Verbose => Parse.GetValue(App.VerboseOption);

    /// <summary>The <c>--seed</c> value, or <see cref="Seeds.Default"/>.</summary>
    public int Seed => Parse.GetValue(App.SeedOption) ?? Seeds.Default;

    /// <summary>The <c>--llm</c> value, else the <c>ATTUNE_LLM</c> variable, else null.</summary>
    public string? LlmSpec
    {
        get
        {
            var spec = Parse.GetValue(App.LlmOption);
            if (string.IsNullOrWhiteSpace(spec))
            {
                spec = App.Environment("ATTUNE_LLM");
            }

            return string.IsNullOrWhiteSpace(spec) ? null : spec;
        }
    }

    public T? Get<T>(Option<T> option) => Parse.GetValue(option);

    public T? Get<T>(Argument<T> argument) => Parse.GetValue(argument);

    /// <summary>Writes <paramref name="value"/> as the one JSON document of this command.</summary>
    public void WriteJson<T>(T value) => Out.WriteLine(JsonSerializer.Serialize(value, PrettyJson));

    /// <summary>A progress or log line, on stderr.</summary>
    public void Log(string line) => Err.WriteLine(line);
}

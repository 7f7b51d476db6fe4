using System.Text.Json.Serialization;
using Attune.Core.Reports;

namespace Attune.Core.Reproductions;

/// <summary>
/// One experiment of a paper, run at small scale: it states the paper's claims and says, with
/// evidence, which of them the measured result reproduces.
/// </summary>
public interface IReproduction
{
    /// <summary>Short, unique, kebab-case name used on the command line (e.g. <c>stats-calibration</c>).</summary>
    string Name { get; }

    /// <summary>The paper (or method) the experiment comes from, as a citation line.</summary>
    string Paper { get; }

    /// <summary>One sentence on what the experiment does.</summary>
    string Summary { get; }

    /// <summary>Runs the experiment, writing plots and sections into <see cref="ReproductionContext.Report"/>.</summary>
    Task<ReproductionResult> RunAsync(ReproductionContext context, CancellationToken cancellationToken);
}

/// <summary>What a reproduction is given: scale, seed, where to write, how to report progress.</summary>
public sealed class ReproductionContext
{
    public required bool Quick { get; init; }

    public required int Seed { get; init; }

    /// <summary>The report being written for this run (report.md, metrics.json, PNG plots).</summary>
    public required Report Report { get; init; }

    /// <summary>Progress and log lines; never stdout.</summary>
    public TextWriter Log { get; init; } = TextWriter.Null;
}

/// <summary>One claim of the paper and whether this run reproduced it.</summary>
public sealed record Claim(
    [property: JsonPropertyName("claim")] string Text,
    [property: JsonPropertyName("reproduced")] bool Reproduced,
    [property: JsonPropertyName("evidence")] string Evidence);

/// <summary>The outcome of a reproduction: its claims and the numbers behind them.</summary>
public sealed class ReproductionResult
{
    public List<Claim> Claims { get; } = [];

    /// <summary>Named scalar results; written to metrics.json.</summary>
    public SortedDictionary<string, double> Metrics { get; } = new(StringComparer.Ordinal);
}

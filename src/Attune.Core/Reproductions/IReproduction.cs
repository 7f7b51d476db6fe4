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

    /// <summary>
    /// The numeric precision asked for with <c>repro run --precision</c> (<c>fp32</c> or <c>bf16</c>), or null
    /// for each reproduction's own choice. Reproductions that train say in their report which one they used.
    /// </summary>
    public string? Precision { get; init; }
}

/// <summary>
/// What a run says of one claim. <see cref="NotMeasured"/> is for a claim whose evidence comes from a
/// scripted stand-in (a replay of a program playing the model) or that needs a model, data or
/// hardware the run did not have: the run neither supports nor refutes it.
/// </summary>
[JsonConverter(typeof(JsonStringEnumConverter<Verdict>))]
public enum Verdict
{
    [JsonStringEnumMemberName("reproduced")]
    Reproduced,

    [JsonStringEnumMemberName("not reproduced")]
    NotReproduced,

    [JsonStringEnumMemberName("not measured")]
    NotMeasured,
}

/// <summary>One claim of the paper and this run's verdict on it.</summary>
public sealed record Claim
{
    [JsonConstructor]
    public Claim(string text, Verdict verdict, string evidence)
    {
        Text = text;
        Verdict = verdict;
        Evidence = evidence;
    }

    /// <summary>A measured claim: reproduced when <paramref name="reproduced"/>, else not reproduced.</summary>
    public Claim(string text, bool reproduced, string evidence)
        : this(text, reproduced ? Verdict.Reproduced : Verdict.NotReproduced, evidence)
    {
    }

    /// <summary>The paper's claim, in words.</summary>
    [JsonPropertyName("claim")]
    public string Text { get; init; }

    [JsonPropertyName("verdict")]
    public Verdict Verdict { get; init; }

    /// <summary>The measured numbers behind the verdict, or what was missing.</summary>
    [JsonPropertyName("evidence")]
    public string Evidence { get; init; }

    /// <summary>Whether the verdict is <see cref="Verdict.Reproduced"/>.</summary>
    [JsonIgnore]
    public bool Reproduced => Verdict == Verdict.Reproduced;

    /// <summary>A claim the run could not measure; <paramref name="why"/> says what was missing or stood in.</summary>
    public static Claim NotMeasured(string text, string why) => new(text, Verdict.NotMeasured, why);

    /// <summary>The verdict in the report's words ("reproduced", "not reproduced", "not measured").</summary>
    public static string Words(Verdict verdict) => verdict switch
    {
        Verdict.Reproduced => "reproduced",
        Verdict.NotReproduced => "not reproduced",
        _ => "not measured",
    };
}

/// <summary>How many claims got each verdict.</summary>
public sealed record VerdictCounts(
    [property: JsonPropertyName("reproduced")] int Reproduced,
    [property: JsonPropertyName("not_reproduced")] int NotReproduced,
    [property: JsonPropertyName("not_measured")] int NotMeasured)
{
    public static VerdictCounts Of(IEnumerable<Claim> claims)
    {
        var list = claims.ToList();
        return new(list.Count(c => c.Verdict == Verdict.Reproduced), list.Count(c => c.Verdict == Verdict.NotReproduced),
            list.Count(c => c.Verdict == Verdict.NotMeasured));
    }

    public static VerdictCounts operator +(VerdictCounts a, VerdictCounts b) =>
        new(a.Reproduced + b.Reproduced, a.NotReproduced + b.NotReproduced, a.NotMeasured + b.NotMeasured);

    /// <summary>"N reproduced, M not reproduced, K not measured".</summary>
    public override string ToString() => $"{Reproduced} reproduced, {NotReproduced} not reproduced, {NotMeasured} not measured";
}

/// <summary>The outcome of a reproduction: its claims and the numbers behind them.</summary>
public sealed class ReproductionResult
{
    public List<Claim> Claims { get; } = [];

    /// <summary>Named scalar results; written to metrics.json.</summary>
    public SortedDictionary<string, double> Metrics { get; } = new(StringComparer.Ordinal);
}

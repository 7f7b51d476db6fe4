using System.Diagnostics;
using System.Text.Json.Serialization;
using Attune.Core.Errors;
using Microsoft.Extensions.AI;

namespace Attune.Optimization;

/// <summary>correct/total for one cell of the table.</summary>
public sealed class Tally
{
    [JsonPropertyName("correct")]
    public int Correct { get; set; }

    [JsonPropertyName("total")]
    public int Total { get; set; }

    [JsonIgnore]
    public double Accuracy => Total == 0 ? double.NaN : (double)Correct / Total;
}

/// <summary>Per-pair time of a method, in milliseconds.</summary>
public sealed record Timing(
    [property: JsonPropertyName("mean_ms")] double Mean,
    [property: JsonPropertyName("median_ms")] double Median,
    [property: JsonPropertyName("p95_ms")] double P95);

/// <summary>One method's results: correct/total per kind (LP, MILP) and transformation, and time per pair.</summary>
public sealed class MethodResult
{
    [JsonPropertyName("method")]
    public required string Method { get; init; }

    /// <summary>kind → transformation → tally.</summary>
    [JsonPropertyName("accuracy")]
    public SortedDictionary<string, SortedDictionary<string, Tally>> Accuracy { get; } = new(StringComparer.Ordinal);

    [JsonPropertyName("correct")]
    public int Correct => Accuracy.Values.SelectMany(d => d.Values).Sum(t => t.Correct);

    [JsonPropertyName("total")]
    public int Total => Accuracy.Values.SelectMany(d => d.Values).Sum(t => t.Total);

    [JsonPropertyName("time_per_pair")]
    public Timing? Time { get; set; }

    /// <summary>Pairs the method got wrong: directory and why.</summary>
    [JsonPropertyName("errors")]
    public List<string> Errors { get; } = [];

    public Tally Cell(string kind, string transformation)
    {
        if (!Accuracy.TryGetValue(kind, out var byT))
        {
            Accuracy[kind] = byT = new SortedDictionary<string, Tally>(StringComparer.Ordinal);
        }

        if (!byT.TryGetValue(transformation, out var tally))
        {
            byT[transformation] = tally = new Tally();
        }

        return tally;
    }
}

/// <summary>The benchmark of <c>attune equiv bench</c>: every method on every pair of a data set.</summary>
public static class EquivaBench
{
    /// <summary>
    /// <c>equivamap-structural</c> and <c>equivamap-llm</c> (EquivaMap with each finder), <c>true-map</c>
    /// (the checker given the generator's map: a sanity check), and the baselines <c>value</c>
    /// (optimal-value comparison), <c>wl</c> and <c>declaration</c>.
    /// </summary>
    public static readonly IReadOnlyList<string> Methods = ["equivamap-structural", "equivamap-llm", "true-map", "value", "wl", "declaration"];

    public static async Task<IReadOnlyList<MethodResult>> RunAsync(IReadOnlyList<EquivaPair> pairs, IReadOnlyList<string> methods, IChatClient? llm,
        int seed, TextWriter? log = null, CancellationToken cancellationToken = default)
    {
        foreach (var m in methods)
        {
            if (!Methods.Contains(m))
            {
                throw new AttuneInputException($"--methods: '{m}' is not one of {string.Join(", ", Methods)}");
            }
        }

        if (methods.Contains("equivamap-llm") && llm is null)
        {
            throw new AttuneInputException("--methods equivamap-llm needs a language model: pass --llm SPEC or set ATTUNE_LLM");
        }

        var options = new CheckerOptions { Seed = seed };
        var results = new List<MethodResult>();
        foreach (var method in methods)
        {
            var result = new MethodResult { Method = method };
            var times = new List<double>();
            for (var p = 0; p < pairs.Count; p++)
            {
                cancellationToken.ThrowIfCancellationRequested();
                var pair = pairs[p];
                var clock = Stopwatch.StartNew();
                var (predicted, why) = method switch
                {
                    "equivamap-structural" => Verdict(await EquivalenceChecker.CheckAsync(pair.Original, pair.Transformed, "structural", null, null, options, cancellationToken).ConfigureAwait(false)),
                    "equivamap-llm" => Verdict(await EquivalenceChecker.CheckAsync(pair.Original, pair.Transformed, "llm", llm, null, options, cancellationToken).ConfigureAwait(false)),
                    "true-map" => Verdict(QuasiKarpChecker.Check(pair.Original, pair.Transformed, pair.TrueMap ?? StructuralMapFinder.Find(pair.Original, pair.Transformed), options)),
                    "value" => (Baselines.OptimalValue(pair.Original, pair.Transformed), "optimal values compared"),
                    "wl" => (Baselines.WeisfeilerLehman(pair.Original, pair.Transformed), "WL colour histograms compared"),
                    _ => (Baselines.DeclarationMatch(pair.Original, pair.Transformed), "declarations compared"),
                };
                times.Add(clock.Elapsed.TotalMilliseconds);
                var cell = result.Cell(pair.Label.Kind, pair.Label.Transformation);
                cell.Total++;
                if (predicted == pair.Label.Equivalent)
                {
                    cell.Correct++;
                }
                else if (result.Errors.Count < 200)
                {
                    result.Errors.Add($"{pair.Directory}: said {(predicted ? "equivalent" : "not equivalent")} ({why})");
                }
            }

            result.Time = Summarize(times);
            log?.WriteLine($"{method}: {result.Correct}/{result.Total} correct, median {result.Time.Median:F2} ms per pair");
            results.Add(result);
        }

        return results;
    }

    private static (bool, string) Verdict(EquivalenceReport r) => (r.Equivalent, r.Verdict + ": " + r.Reason);

    private static (bool, string) Verdict(CheckOutcome r) => (r.Equivalent, r.Verdict + ": " + r.Reason);

    public static Timing Summarize(List<double> times)
    {
        if (times.Count == 0)
        {
            return new Timing(0, 0, 0);
        }

        var sorted = times.Order().ToList();
        double Q(double q) => sorted[Math.Min(sorted.Count - 1, (int)Math.Ceiling(q * sorted.Count) - 1)];
        return new Timing(Math.Round(sorted.Average(), 3), Math.Round(Q(0.5), 3), Math.Round(Q(0.95), 3));
    }
}

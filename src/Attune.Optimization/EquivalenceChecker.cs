using System.Text.Json.Nodes;
using System.Text.Json.Serialization;
using Attune.Core.Errors;
using Microsoft.Extensions.AI;

namespace Attune.Optimization;

/// <summary>The result of <c>attune equiv check</c>.</summary>
public sealed record EquivalenceReport(
    [property: JsonPropertyName("equivalent")] bool Equivalent,
    [property: JsonPropertyName("verdict")] string Verdict,
    [property: JsonPropertyName("reason")] string Reason,
    [property: JsonPropertyName("finder")] string Finder,
    [property: JsonPropertyName("mapping")] JsonObject? Mapping,
    [property: JsonPropertyName("original_objective")] double? OriginalObjective,
    [property: JsonPropertyName("mapped_objective")] double? MappedObjective);

/// <summary>
/// EquivaMap end to end: find a linear map (a given one, the structural finder, the LLM finder, or
/// structural first then the LLM for <c>auto</c>) and verify it with <see cref="QuasiKarpChecker"/>.
/// </summary>
public static class EquivalenceChecker
{
    public static readonly IReadOnlyList<string> Mappers = ["auto", "structural", "llm"];

    public static async Task<EquivalenceReport> CheckAsync(Formulation original, Formulation transformed, string mapper = "auto",
        IChatClient? llm = null, LinearMap? map = null, CheckerOptions? options = null, CancellationToken cancellationToken = default)
    {
        if (!Mappers.Contains(mapper))
        {
            throw new AttuneInputException($"--mapper: '{mapper}' is not one of {string.Join(", ", Mappers)}");
        }

        if (mapper == "llm" && llm is null && map is null)
        {
            throw new AttuneInputException("--mapper llm needs a language model: pass --llm SPEC or set ATTUNE_LLM");
        }

        var a = OrToolsSolver.Solve(original);
        var b = OrToolsSolver.Solve(transformed);
        EquivalenceReport Run(LinearMap? m, string finder)
        {
            var o = QuasiKarpChecker.Check(original, transformed, m, options, a, b);
            return new EquivalenceReport(o.Equivalent, o.Verdict, o.Reason, finder, m?.ToJson(), o.OriginalObjective, o.MappedObjective);
        }

        if (map is not null)
        {
            return Run(map, "given");
        }

        if (!a.IsOptimal || !b.IsOptimal)
        {
            return Run(null, "none");
        }

        EquivalenceReport? structural = null;
        if (mapper is "auto" or "structural")
        {
            structural = Run(StructuralMapFinder.Find(original, transformed), "structural");
            if (structural.Equivalent || mapper == "structural" || llm is null)
            {
                return structural;
            }
        }

        var found = await new LlmMapFinder(llm!).FindAsync(original, transformed, cancellationToken).ConfigureAwait(false);
        var viaLlm = Run(found, "llm");
        return viaLlm.Equivalent || structural is null ? viaLlm : structural with { Reason = structural.Reason + "; the LLM finder's map failed too: " + viaLlm.Reason };
    }
}

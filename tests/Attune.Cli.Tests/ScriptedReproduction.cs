using Attune.Core.Reproductions;

namespace Attune.Cli.Tests;

/// <summary>A reproduction that returns fixed claims (or breaks when given none) and records the contexts it ran with.</summary>
internal sealed class ScriptedReproduction(string name, IReadOnlyList<Claim>? claims) : IReproduction
{
    public List<ReproductionContext> Contexts { get; } = [];

    public string Name => name;

    public string Paper => "A test double";

    public string Summary => "Returns fixed claims, or breaks.";

    public Task<ReproductionResult> RunAsync(ReproductionContext context, CancellationToken cancellationToken)
    {
        Contexts.Add(context);
        if (claims is null)
        {
            throw new InvalidOperationException("the experiment broke");
        }

        var result = new ReproductionResult();
        result.Claims.AddRange(claims);
        return Task.FromResult(result);
    }
}

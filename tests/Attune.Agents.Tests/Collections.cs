namespace Attune.Agents.Tests;

/// <summary>
/// Tests that start server processes or assert wall-clock bounds run alone, after the parallel ones,
/// so that the red-team suite's CPU-bound hostile tools do not starve them on a small machine.
/// </summary>
[CollectionDefinition(Name, DisableParallelization = true)]
public sealed class ProcessTests
{
    public const string Name = "process tests";
}

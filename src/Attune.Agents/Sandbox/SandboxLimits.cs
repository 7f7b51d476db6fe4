namespace Attune.Agents.Sandbox;

/// <summary>Resource limits of one tool call in the tool host.</summary>
public sealed record SandboxLimits
{
    /// <summary>Wall-clock time of one call (the host is killed past it).</summary>
    public TimeSpan WallClock { get; init; } = TimeSpan.FromSeconds(5);

    /// <summary>CPU time the host may spend on one call (the host is killed past it).</summary>
    public TimeSpan CpuTime { get; init; } = TimeSpan.FromSeconds(4);

    /// <summary>The host's GC heap cap (DOTNET_GCHeapHardLimit): allocations beyond it fail with OutOfMemoryException.</summary>
    public long HeapBytes { get; init; } = 256L << 20;

    /// <summary>The host's working set: the watchdog kills it past this (native memory, stacks).</summary>
    public long WorkingSetBytes { get; init; } = 768L << 20;

    /// <summary>The most characters of JSON a call may return.</summary>
    public int OutputChars { get; init; } = 64 * 1024;

    public static SandboxLimits Default { get; } = new();
}

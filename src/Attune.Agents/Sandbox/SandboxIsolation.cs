namespace Attune.Agents.Sandbox;

/// <summary>
/// The operating-system layers around the tool host: the same for every host this process starts,
/// decided once by probing the platform (<see cref="Current"/>). Tests and <c>attune mcp check</c>
/// report it; docs/agents.md says what each layer promises.
/// </summary>
public sealed record SandboxIsolation
{
    /// <summary>The uid and gid the host drops to when the server runs as root (<c>nobody</c>/<c>nogroup</c>).</summary>
    public const int UnprivilegedId = 65534;

    /// <summary>The host starts with an empty environment plus the few variables the .NET host needs (never the server's).</summary>
    public bool EmptyEnvironment { get; init; }

    /// <summary>The host runs in a network namespace of its own (Linux, <c>unshare --net</c>): no interface but a loopback that is down.</summary>
    public bool NetworkNamespace { get; init; }

    /// <summary>The server runs as root and the host does not: it runs as uid/gid <see cref="UnprivilegedId"/>, no supplementary groups, no capabilities.</summary>
    public bool UnprivilegedUser { get; init; }

    /// <summary>Whether the server itself runs as root (uid 0).</summary>
    public bool ServerIsRoot { get; init; }

    /// <summary>The user id the host runs as; null where there are no Unix user ids.</summary>
    public int? HostUserId { get; init; }

    /// <summary>One line per layer that is missing here, saying why (empty when every layer is active).</summary>
    public IReadOnlyList<string> Unavailable { get; init; } = [];

    /// <summary>The layers in one line for people, e.g. "empty environment; own network namespace; user 65534 (the server runs as root)".</summary>
    public string Summary
    {
        get
        {
            var parts = new List<string>();
            parts.Add(EmptyEnvironment ? "empty environment" : "inherited environment");
            parts.Add(NetworkNamespace ? "own network namespace" : "shared network");
            parts.Add(UnprivilegedUser ? $"user {HostUserId} (the server runs as root)"
                : ServerIsRoot ? "user root"
                : HostUserId is { } uid ? $"user {uid} (the server's own; it is not root)" : "the server's user");
            return string.Join("; ", parts);
        }
    }

    /// <summary>The isolation of the tool hosts this process starts (probed on first use).</summary>
    public static SandboxIsolation Current => HostLauncher.Plan.Isolation;
}

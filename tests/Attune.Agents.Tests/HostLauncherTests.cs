using Attune.Agents.Sandbox;
using static Attune.Agents.Sandbox.HostLauncher;

namespace Attune.Agents.Tests;

/// <summary>
/// How the tool host is launched on platforms this machine is not: without unshare or setpriv, where
/// they are not permitted, when the server is not root, off Linux. (SandboxIsolationTests checks the
/// real launch on this machine at the process level.)
/// </summary>
public sealed class HostLauncherTests
{
    private const string Unshare = "/usr/bin/unshare";
    private const string Setpriv = "/usr/bin/setpriv";
    private const string Dotnet = "/opt/dotnet/dotnet";
    private const string Host = "/srv/attune/Attune.Agents.ToolHost.dll";

    private static Platform Linux(int uid, bool unshare = true, bool setpriv = true, bool unsharePermitted = true, bool setprivPermitted = true,
        (string?, string?)? prepared = null, List<string>? probes = null) =>
        new(Host, Dotnet, Linux: true, Unix: true, uid,
            name => name switch { "unshare" when unshare => Unshare, "setpriv" when setpriv => Setpriv, _ => null },
            (program, args) =>
            {
                probes?.Add(program + " " + string.Join(' ', args));
                return program == Unshare ? unsharePermitted : setprivPermitted;
            },
            (dll, _) => prepared ?? (dll, null));

    [Fact]
    public void As_root_on_linux_the_host_gets_its_own_network_and_drops_to_nobody()
    {
        var probes = new List<string>();
        var plan = Decide(Linux(0, probes: probes));
        Assert.Equal(Unshare, plan.Program);
        Assert.Equal(["--net", "--", Setpriv, "--reuid=65534", "--regid=65534", "--clear-groups", "--inh-caps=-all", "--bounding-set=-all", "--no-new-privs", "--", Dotnet, Host],
            plan.Arguments);
        Assert.Contains(probes, p => p.StartsWith(Unshare + " --net -- ", StringComparison.Ordinal));
        var isolation = plan.Isolation;
        Assert.True(isolation is { EmptyEnvironment: true, NetworkNamespace: true, UnprivilegedUser: true, ServerIsRoot: true, HostUserId: 65534 });
        Assert.Empty(isolation.Unavailable);
        Assert.Equal("empty environment; own network namespace; user 65534 (the server runs as root)", isolation.Summary);
    }

    [Fact]
    public void The_environment_is_built_from_nothing()
    {
        Environment.SetEnvironmentVariable("ATTUNE_LAUNCHER_TEST_SECRET", "x");
        try
        {
            var env = Decide(Linux(0)).Environment;
            Assert.Equal("/usr/bin:/bin", env["PATH"]);
            Assert.Equal("0", env["DOTNET_EnableDiagnostics"]);
            Assert.All(env.Keys, k => Assert.True(k == "PATH" || k.StartsWith("DOTNET_", StringComparison.Ordinal), k));
            Assert.DoesNotContain("ATTUNE_LAUNCHER_TEST_SECRET", env.Keys);
            Assert.DoesNotContain("HOME", env.Keys);
            var start = StartInfo(new SandboxLimits { HeapBytes = 1L << 28 });
            Assert.Equal("0x10000000", start.Environment["DOTNET_GCHeapHardLimit"]);
            Assert.DoesNotContain("ATTUNE_LAUNCHER_TEST_SECRET", start.Environment.Keys);
        }
        finally
        {
            Environment.SetEnvironmentVariable("ATTUNE_LAUNCHER_TEST_SECRET", null);
        }
    }

    [Fact]
    public void Where_unshare_is_not_permitted_the_host_still_drops_to_nobody_and_the_reason_is_given()
    {
        var plan = Decide(Linux(0, unsharePermitted: false));
        Assert.Equal(Setpriv, plan.Program);
        Assert.Equal(Host, plan.Arguments[^1]);
        Assert.False(plan.Isolation.NetworkNamespace);
        Assert.True(plan.Isolation.UnprivilegedUser);
        Assert.Equal(["no network namespace for tool hosts: 'unshare --net' is not permitted here"], plan.Isolation.Unavailable);
        Assert.StartsWith("empty environment; shared network;", plan.Isolation.Summary, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData(false, true, null, "setpriv (util-linux) is not installed")]
    [InlineData(true, false, null, "setpriv cannot switch to uid 65534 here")]
    [InlineData(true, true, "the .NET runtime is not readable by other users (/root/.dotnet)", "the .NET runtime is not readable by other users (/root/.dotnet)")]
    public void Without_a_way_to_drop_privileges_the_host_runs_as_root_and_says_why(bool setpriv, bool permitted, string? prepareFails, string reason)
    {
        var plan = Decide(Linux(0, setpriv: setpriv, setprivPermitted: permitted, prepared: prepareFails is null ? null : (null, prepareFails)));
        Assert.False(plan.Isolation.UnprivilegedUser);
        Assert.True(plan.Isolation.NetworkNamespace);
        Assert.Equal(0, plan.Isolation.HostUserId);
        Assert.Equal(["tool hosts run as root: " + reason], plan.Isolation.Unavailable);
        Assert.DoesNotContain(Setpriv, plan.Arguments);
        Assert.EndsWith("user root", plan.Isolation.Summary, StringComparison.Ordinal);
    }

    [Fact]
    public void A_private_host_folder_is_replaced_by_the_staged_copy()
    {
        var plan = Decide(Linux(0, prepared: ("/tmp/attune-toolhost-1/Attune.Agents.ToolHost.dll", null)));
        Assert.Equal("/tmp/attune-toolhost-1/Attune.Agents.ToolHost.dll", plan.HostDll);
        Assert.Equal(plan.HostDll, plan.Arguments[^1]);
        Assert.True(plan.Isolation.UnprivilegedUser);
    }

    [Fact]
    public void A_server_that_is_not_root_uses_a_user_namespace_for_the_network_and_keeps_its_user()
    {
        var probes = new List<string>();
        var plan = Decide(Linux(1000, probes: probes));
        Assert.Equal(Unshare, plan.Program);
        Assert.Equal(["--user", "--net", "--", Dotnet, Host], plan.Arguments);
        Assert.DoesNotContain(probes, p => p.StartsWith(Setpriv, StringComparison.Ordinal));
        Assert.True(plan.Isolation is { NetworkNamespace: true, UnprivilegedUser: false, ServerIsRoot: false, HostUserId: 1000 });
        Assert.Empty(plan.Isolation.Unavailable);
        Assert.EndsWith("user 1000 (the server's own; it is not root)", plan.Isolation.Summary, StringComparison.Ordinal);

        var denied = Decide(Linux(1000, unsharePermitted: false));
        Assert.Equal(Dotnet, denied.Program);
        Assert.Equal(["no network namespace for tool hosts: 'unshare --user --net' is not permitted here"], denied.Isolation.Unavailable);
    }

    [Fact]
    public void Off_linux_the_host_starts_directly_and_both_missing_layers_are_named()
    {
        var plan = Decide(new Platform(Host, Dotnet, Linux: false, Unix: true, 0, _ => Unshare, (_, _) => true, (dll, _) => (dll, null)));
        Assert.Equal(Dotnet, plan.Program);
        Assert.Equal([Host], plan.Arguments);
        Assert.Equal(2, plan.Isolation.Unavailable.Count);
        Assert.False(plan.Isolation.NetworkNamespace || plan.Isolation.UnprivilegedUser);
        Assert.True(plan.Isolation.EmptyEnvironment);
    }
}

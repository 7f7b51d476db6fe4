using System.ComponentModel;
using System.Diagnostics;
using System.Runtime.InteropServices;

namespace Attune.Agents.Sandbox;

/// <summary>
/// How the tool host is started, decided once per process: the host's files, the program and
/// arguments (on Linux wrapped in util-linux's <c>unshare --net</c> and, when the server runs as
/// root, <c>setpriv</c> down to uid/gid 65534; both exec in place, so the host keeps the pid the
/// sandbox watches) and the environment (empty but for what the .NET host needs). Each layer is
/// probed on this machine first; one that does not work here is reported once on stderr and in
/// <see cref="SandboxIsolation.Unavailable"/>, and the host starts without it.
/// </summary>
internal static partial class HostLauncher
{
    private const string HostFileName = "Attune.Agents.ToolHost";

    private static readonly string[] SystemDirectories = ["/usr/bin", "/bin", "/usr/sbin", "/sbin"];

    private static readonly Lazy<LaunchPlan> Lazy = new(() => Report(Decide(Platform.Here())));

    /// <summary>The plan of this process (probed, and any missing layer reported on stderr, on first use).</summary>
    public static LaunchPlan Plan => Lazy.Value;

    /// <summary>The tool host's program, arguments and environment.</summary>
    internal sealed record LaunchPlan(string HostDll, string Program, IReadOnlyList<string> Arguments, IReadOnlyDictionary<string, string> Environment, SandboxIsolation Isolation);

    /// <summary>
    /// What the plan is decided from: the host's files, the <c>dotnet</c> muxer, the platform and
    /// user, and the probes (a util-linux tool's path, whether a command runs, whether the
    /// unprivileged user can run the host — which returns the host assembly to use, or why not).
    /// </summary>
    internal sealed record Platform(string HostDll, string Dotnet, bool Linux, bool Unix, int? EffectiveUserId,
        Func<string, string?> Tool, Func<string, string[], bool> Runs, Func<string, string, (string? Dll, string? Why)> PrepareForUnprivileged)
    {
        /// <summary>This machine.</summary>
        public static Platform Here()
        {
            var dll = Path.Combine(AppContext.BaseDirectory, HostFileName + ".dll");
            if (!File.Exists(dll))
            {
                dll = Path.Combine(Path.GetDirectoryName(typeof(ToolSandbox).Assembly.Location)!, HostFileName + ".dll");
            }

            var unix = OperatingSystem.IsLinux() || OperatingSystem.IsMacOS() || OperatingSystem.IsFreeBSD();
            return new Platform(dll, Absolute(DotnetHost.Path), OperatingSystem.IsLinux(), unix, unix ? (int)GetEffectiveUserId() : null,
                FindTool, RunsHere, (host, dotnet) => OperatingSystem.IsWindows() ? (null, "not a Unix system") : Prepare(host, dotnet));
        }
    }

    /// <summary>A start for the host with <paramref name="limits"/>' runtime settings added to the plan's environment.</summary>
    public static ProcessStartInfo StartInfo(SandboxLimits limits)
    {
        var plan = Plan;
        var start = new ProcessStartInfo(plan.Program)
        {
            RedirectStandardInput = true,
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            UseShellExecute = false,
            StandardOutputEncoding = new System.Text.UTF8Encoding(false),
            // Somewhere every user may enter; the host reads and writes no files.
            WorkingDirectory = OperatingSystem.IsWindows() ? Path.GetTempPath() : "/",
        };
        foreach (var a in plan.Arguments)
        {
            start.ArgumentList.Add(a);
        }

        start.Environment.Clear();
        foreach (var (name, value) in plan.Environment)
        {
            start.Environment[name] = value;
        }

        start.Environment["DOTNET_GCHeapHardLimit"] = "0x" + limits.HeapBytes.ToString("X", System.Globalization.CultureInfo.InvariantCulture);
        return start;
    }

    /// <summary>The plan on <paramref name="platform"/>: every layer that works there, and why each other one does not.</summary>
    internal static LaunchPlan Decide(Platform platform)
    {
        var dll = platform.HostDll;
        var unavailable = new List<string>();
        var prefix = new List<string>();
        bool netns = false, dropped = false;
        var uid = platform.EffectiveUserId;
        var root = uid == 0;
        if (!platform.Linux)
        {
            unavailable.Add("no network namespace for tool hosts: namespaces are Linux-only");
            if (root)
            {
                unavailable.Add("tool hosts run as root: the switch to an unprivileged user uses Linux's setpriv");
            }
        }
        else
        {
            // The network namespace first (creating one needs root, or a user namespace of its own when
            // the server is not root), then the user switch inside it.
            if (platform.Tool("unshare") is not { } unshare)
            {
                unavailable.Add("no network namespace for tool hosts: unshare (util-linux) is not installed");
            }
            else
            {
                string[] flags = root ? ["--net"] : ["--user", "--net"];
                if (platform.Runs(unshare, [.. flags, "--", unshare, "--version"]))
                {
                    netns = true;
                    prefix.AddRange([unshare, .. flags, "--"]);
                }
                else
                {
                    unavailable.Add($"no network namespace for tool hosts: 'unshare {string.Join(' ', flags)}' is not permitted here");
                }
            }

            if (root)
            {
                string? why;
                if (platform.Tool("setpriv") is not { } setpriv)
                {
                    why = "setpriv (util-linux) is not installed";
                }
                else if (!platform.Runs(setpriv, [.. SetprivArguments, "--", setpriv, "--version"]))
                {
                    why = $"setpriv cannot switch to uid {SandboxIsolation.UnprivilegedId} here";
                }
                else
                {
                    (var usable, why) = platform.PrepareForUnprivileged(dll, platform.Dotnet);
                    if (usable is not null)
                    {
                        dll = usable;
                        dropped = true;
                        uid = SandboxIsolation.UnprivilegedId;
                        prefix.AddRange([setpriv, .. SetprivArguments, "--"]);
                    }
                }

                if (!dropped)
                {
                    unavailable.Add("tool hosts run as root: " + why);
                }
            }
        }

        var isolation = new SandboxIsolation
        {
            EmptyEnvironment = true, NetworkNamespace = netns, UnprivilegedUser = dropped, ServerIsRoot = root, HostUserId = uid, Unavailable = unavailable,
        };
        var env = BaseEnvironment(platform.Unix);
        return prefix.Count == 0
            ? new LaunchPlan(dll, platform.Dotnet, [dll], env, isolation)
            : new LaunchPlan(dll, prefix[0], [.. prefix.Skip(1), platform.Dotnet, dll], env, isolation);
    }

    /// <summary>Says once, on stderr, which layers are missing here.</summary>
    private static LaunchPlan Report(LaunchPlan plan)
    {
        if (plan.Isolation.Unavailable.Count > 0)
        {
            Console.Error.WriteLine("attune: tool sandbox: " + string.Join("; ", plan.Isolation.Unavailable));
        }

        return plan;
    }

    /// <summary>
    /// setpriv's switch to nobody: real, effective and saved ids, no supplementary groups, no
    /// capabilities left in any set, and no way back up through set-uid programs.
    /// </summary>
    private static readonly string[] SetprivArguments =
    [
        $"--reuid={SandboxIsolation.UnprivilegedId}", $"--regid={SandboxIsolation.UnprivilegedId}", "--clear-groups",
        "--inh-caps=-all", "--bounding-set=-all", "--no-new-privs",
    ];

    /// <summary>
    /// The host assembly the unprivileged user can run (the given one, or a copy of the host's files
    /// when their folder is private), or why there is none.
    /// </summary>
    [System.Runtime.Versioning.UnsupportedOSPlatform("windows")]
    private static (string? Dll, string? Why) Prepare(string dll, string dotnet)
    {
        // The unprivileged user must be able to run the .NET runtime and read the host's files.
        var muxer = new FileInfo(dotnet).ResolveLinkTarget(returnFinalTarget: true)?.FullName ?? dotnet;
        var runtime = Path.GetDirectoryName(muxer)!;
        if ((Blocked(muxer, execute: true) ?? Blocked(Path.Combine(runtime, "shared", "Microsoft.NETCore.App"), execute: true)
             ?? Blocked(Path.Combine(runtime, "host", "fxr"), execute: true)) is { } runtimeBlock)
        {
            return (null, $"the .NET runtime is not readable by other users ({runtimeBlock})");
        }

        if (HostFiles(dll).Select(f => Blocked(f, execute: false)).FirstOrDefault(b => b is not null) is null)
        {
            return (dll, null);
        }

        // The host's own folder is private (e.g. under /root): copy its files to a folder of their own
        // that everyone may read and only this user may write, removed when this process exits.
        try
        {
            var stage = Path.Combine(Directory.Exists("/tmp") ? "/tmp" : Path.GetTempPath(), "attune-toolhost-" + Guid.NewGuid().ToString("N")[..12]);
            Directory.CreateDirectory(stage, UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.UserExecute);
            foreach (var file in HostFiles(dll))
            {
                var copy = Path.Combine(stage, Path.GetFileName(file));
                File.Copy(file, copy);
                File.SetUnixFileMode(copy, UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.GroupRead | UnixFileMode.OtherRead);
            }

            File.SetUnixFileMode(stage, UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.UserExecute
                                        | UnixFileMode.GroupRead | UnixFileMode.GroupExecute | UnixFileMode.OtherRead | UnixFileMode.OtherExecute);
            AppDomain.CurrentDomain.ProcessExit += (_, _) => TryDelete(stage);
            var staged = Path.Combine(stage, Path.GetFileName(dll));
            if (Blocked(staged, execute: false) is { } stagedBlock)
            {
                TryDelete(stage);
                return (null, $"the tool host's files are not readable by other users, even copied to {stage} ({stagedBlock})");
            }

            return (staged, null);
        }
        catch (Exception ex) when (ex is IOException or UnauthorizedAccessException)
        {
            return (null, $"the tool host's files are not readable by other users and could not be copied ({ex.Message})");
        }
    }

    /// <summary>The host's assembly and the runtime and dependency files beside it.</summary>
    private static IEnumerable<string> HostFiles(string dll)
    {
        var dir = Path.GetDirectoryName(dll)!;
        return new[] { dll, Path.Combine(dir, HostFileName + ".runtimeconfig.json"), Path.Combine(dir, HostFileName + ".deps.json") }.Where(File.Exists);
    }

    /// <summary>
    /// Null when a user that is neither the owner nor in the group can read <paramref name="path"/>
    /// (and run it, with <paramref name="execute"/>) and pass through every folder above it; else the
    /// first place that stops them.
    /// </summary>
    [System.Runtime.Versioning.UnsupportedOSPlatform("windows")]
    private static string? Blocked(string path, bool execute)
    {
        if (!Path.Exists(path))
        {
            return null; // nothing to read there (e.g. a runtime laid out differently): the start itself will tell
        }

        var mode = File.GetUnixFileMode(path);
        var need = UnixFileMode.OtherRead | (execute || Directory.Exists(path) ? UnixFileMode.OtherExecute : 0);
        if ((mode & need) != need)
        {
            return path;
        }

        for (var dir = Path.GetDirectoryName(Path.GetFullPath(path)); dir is not null; dir = Path.GetDirectoryName(dir))
        {
            if ((File.GetUnixFileMode(dir) & UnixFileMode.OtherExecute) == 0)
            {
                return dir;
            }
        }

        return null;
    }

    private static void TryDelete(string dir)
    {
        try
        {
            Directory.Delete(dir, recursive: true);
        }
        catch (Exception ex) when (ex is IOException or UnauthorizedAccessException)
        {
        }
    }

    /// <summary>
    /// What the host gets of an environment: nothing of the server's (no keys, no tokens, no HOME),
    /// a minimal PATH, DOTNET_ROOT where the server has one, and the runtime settings of the
    /// sandbox (no debugger or diagnostics port, no dumps, workstation GC, no dynamic PGO).
    /// </summary>
    private static Dictionary<string, string> BaseEnvironment(bool unix)
    {
        var env = new Dictionary<string, string>(StringComparer.Ordinal)
        {
            ["DOTNET_gcServer"] = "0",
            ["DOTNET_TieredPGO"] = "0",
            ["DOTNET_DbgEnableMiniDump"] = "0",
            ["DOTNET_EnableCrashReport"] = "0",
            // No diagnostics IPC socket: hosts run as one user, and one could otherwise attach to another.
            ["DOTNET_EnableDiagnostics"] = "0",
        };
        if (!unix)
        {
            foreach (var name in new[] { "SystemRoot", "windir", "TEMP", "TMP" })
            {
                if (Environment.GetEnvironmentVariable(name) is { Length: > 0 } value)
                {
                    env[name] = value;
                }
            }
        }
        else
        {
            env["PATH"] = "/usr/bin:/bin";
        }

        if (Environment.GetEnvironmentVariable("DOTNET_ROOT") is { Length: > 0 } root)
        {
            env["DOTNET_ROOT"] = root;
        }

        return env;
    }

    /// <summary>A util-linux tool from the system folders (not from PATH), or null.</summary>
    private static string? FindTool(string name) => SystemDirectories.Select(d => Path.Combine(d, name)).FirstOrDefault(File.Exists);

    /// <summary><paramref name="program"/> as an absolute path (looked up on PATH when it is a bare name).</summary>
    private static string Absolute(string program)
    {
        if (Path.IsPathRooted(program))
        {
            return program;
        }

        var found = (Environment.GetEnvironmentVariable("PATH") ?? "").Split(Path.PathSeparator, StringSplitOptions.RemoveEmptyEntries)
            .Select(d => Path.Combine(d, program)).FirstOrDefault(File.Exists);
        return found is null ? program : Path.GetFullPath(found);
    }

    /// <summary>Whether <paramref name="program"/> runs with these arguments and an empty environment, exiting 0 within 10 s.</summary>
    private static bool RunsHere(string program, string[] arguments)
    {
        var start = new ProcessStartInfo(program) { RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false, WorkingDirectory = "/" };
        foreach (var a in arguments)
        {
            start.ArgumentList.Add(a);
        }

        start.Environment.Clear();
        try
        {
            using var p = Process.Start(start);
            if (p is null)
            {
                return false;
            }

            var output = p.StandardOutput.ReadToEndAsync();
            var error = p.StandardError.ReadToEndAsync();
            if (!p.WaitForExit(10_000))
            {
                p.Kill();
                return false;
            }

            Task.WaitAll(output, error);
            return p.ExitCode == 0;
        }
        catch (Win32Exception)
        {
            return false;
        }
    }

    [LibraryImport("libc", EntryPoint = "geteuid")]
    private static partial uint GetEffectiveUserId();
}

namespace Attune.Agents.Tests;

/// <summary>Where the repository's files are, found from the test binaries' folder.</summary>
internal static class Paths
{
    public static string Repo { get; } = FindRepo();

    public static string ExampleBox => Path.Combine(Repo, "examples", "boxes", "game24");

    /// <summary>The Game-of-24 data, from ../shared/data beside the repository (or ATTUNE_DATA_MIRROR); null when absent.</summary>
    public static string? Game24Data
    {
        get
        {
            foreach (var root in new[] { Environment.GetEnvironmentVariable("ATTUNE_DATA_MIRROR"), Path.Combine(Repo, "..", "shared", "data") })
            {
                if (root is { Length: > 0 } && File.Exists(Path.Combine(root, "gameof24", "data.json")))
                {
                    return Path.Combine(root, "gameof24", "data.json");
                }
            }

            return null;
        }
    }

    /// <summary>The Game-of-24 data file; fails the test (with what to do) when it is not on this machine.</summary>
    public static string RequireGame24Data() =>
        Game24Data ?? throw new InvalidOperationException("the Game-of-24 data is not at ../shared/data/gameof24/data.json beside the repository (or under ATTUNE_DATA_MIRROR)");

    /// <summary>The built attune.dll beside the tests.</summary>
    public static string AttuneDll => Path.Combine(AppContext.BaseDirectory, "attune.dll");

    public static string TempDir()
    {
        var dir = Path.Combine(Path.GetTempPath(), "attune-agents-tests", Guid.NewGuid().ToString("N")[..10]);
        Directory.CreateDirectory(dir);
        return dir;
    }

    private static string FindRepo()
    {
        var dir = new DirectoryInfo(AppContext.BaseDirectory);
        while (dir is not null && !File.Exists(Path.Combine(dir.FullName, "Attune.slnx")))
        {
            dir = dir.Parent;
        }

        return dir?.FullName ?? throw new InvalidOperationException("repository root (Attune.slnx) not found above " + AppContext.BaseDirectory);
    }
}

/// <summary>
/// A fact that needs the Game-of-24 data: skipped with a reason when it is not on this machine,
/// never skipped in CI (<c>CI=true</c>), where its absence fails the run.
/// </summary>
internal sealed class Game24DataFactAttribute : FactAttribute
{
    public Game24DataFactAttribute()
    {
        if (Paths.Game24Data is null && !string.Equals(Environment.GetEnvironmentVariable("CI"), "true", StringComparison.OrdinalIgnoreCase))
        {
            Skip = "needs the Game-of-24 data at ../shared/data/gameof24/data.json beside the repository (or ATTUNE_DATA_MIRROR)";
        }
    }
}

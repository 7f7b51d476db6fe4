namespace Attune.Core.Tests.Data;

/// <summary>Locates the repository root and the shared reference data beside it.</summary>
internal static class TestData
{
    /// <summary>The folder holding Attune.slnx, found by walking up from the test's base directory.</summary>
    public static string? RepositoryRoot { get; } = FindRoot();

    /// <summary><c>../shared/data</c> relative to the repository root, or null when it does not exist.</summary>
    public static string? SharedData { get; } = RepositoryRoot is { } root && Directory.Exists(Path.Combine(root, "..", "shared", "data"))
        ? Path.GetFullPath(Path.Combine(root, "..", "shared", "data"))
        : null;

    private static string? FindRoot()
    {
        for (var dir = new DirectoryInfo(AppContext.BaseDirectory); dir is not null; dir = dir.Parent)
        {
            if (File.Exists(Path.Combine(dir.FullName, "Attune.slnx")))
            {
                return dir.FullName;
            }
        }

        return null;
    }
}

/// <summary>
/// A fact that is skipped, with a reason, when <c>../shared/data</c> is not beside the repository;
/// in CI (<c>CI=true</c>) it never skips, so a missing folder fails the run.
/// </summary>
internal sealed class SharedDataFactAttribute : FactAttribute
{
    public SharedDataFactAttribute()
    {
        if (TestData.SharedData is null && !string.Equals(Environment.GetEnvironmentVariable("CI"), "true", StringComparison.OrdinalIgnoreCase))
        {
            Skip = "needs the shared reference data at ../shared/data relative to the repository root";
        }
    }
}

/// <summary>A temporary folder deleted on dispose.</summary>
internal sealed class TempDir : IDisposable
{
    public TempDir()
    {
        Path = System.IO.Path.Combine(System.IO.Path.GetTempPath(), "attune-test-" + Guid.NewGuid().ToString("N"));
        Directory.CreateDirectory(Path);
    }

    public string Path { get; }

    /// <summary>Every file under the folder, as relative paths with '/'.</summary>
    public IReadOnlyList<string> Files(string? under = null)
    {
        var root = under is null ? Path : System.IO.Path.Combine(Path, under);
        return Directory.Exists(root)
            ? [.. Directory.EnumerateFiles(root, "*", SearchOption.AllDirectories)
                .Select(f => System.IO.Path.GetRelativePath(root, f).Replace('\\', '/')).Order(StringComparer.Ordinal)]
            : [];
    }

    public string Write(string relative, byte[] bytes)
    {
        var full = System.IO.Path.Combine(Path, relative);
        Directory.CreateDirectory(System.IO.Path.GetDirectoryName(full)!);
        File.WriteAllBytes(full, bytes);
        return full;
    }

    public void Dispose()
    {
        try
        {
            Directory.Delete(Path, recursive: true);
        }
        catch (IOException)
        {
        }
    }
}

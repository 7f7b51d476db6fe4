namespace Attune.Cli.Tests;

/// <summary>Runs the real <c>attune</c> command in process with captured streams and a given environment.</summary>
internal static class CliHarness
{
    public static async Task<(int Code, string Out, string Err)> Run(IReadOnlyDictionary<string, string?>? env, params string[] args)
    {
        using var stdout = new StringWriter();
        using var stderr = new StringWriter();
        var app = new CliApp(stdout, stderr, name => env is not null && env.TryGetValue(name, out var v) ? v : null);
        var code = await app.RunAsync(args);
        return (code, stdout.ToString(), stderr.ToString());
    }

    public static Task<(int Code, string Out, string Err)> Run(params string[] args) => Run(null, args);

    /// <summary>The repository root: the folder holding Attune.slnx above the test's base directory.</summary>
    public static string RepoRoot
    {
        get
        {
            var dir = new DirectoryInfo(AppContext.BaseDirectory);
            while (dir is not null && !File.Exists(Path.Combine(dir.FullName, "Attune.slnx")))
            {
                dir = dir.Parent;
            }

            return dir?.FullName ?? throw new InvalidOperationException("repository root (Attune.slnx) not found above " + AppContext.BaseDirectory);
        }
    }

    /// <summary>A fresh temporary folder, deleted when disposed.</summary>
    public sealed class TempDir : IDisposable
    {
        public TempDir() => Directory.CreateDirectory(Path);

        public string Path { get; } = System.IO.Path.Combine(System.IO.Path.GetTempPath(), "attune-test-" + Guid.NewGuid().ToString("N"));

        public void Dispose()
        {
            if (Directory.Exists(Path))
            {
                Directory.Delete(Path, recursive: true);
            }
        }
    }
}

using System.Diagnostics;

namespace Attune.Tests.Shared;

/// <summary>
/// Runs a Node.js script of a test folder that holds a <c>package.json</c> and <c>package-lock.json</c>
/// (an official SDK client), installing its packages with <c>npm ci</c> when they are missing.
/// Linked into the test projects that drive Attune's servers from JavaScript.
/// </summary>
internal static class NodeScripts
{
    private static readonly SemaphoreSlim InstallGate = new(1, 1);

    /// <summary>Runs <c>node SCRIPT ARGS…</c> in <paramref name="folder"/> after making sure <paramref name="package"/> is installed there; returns exit code and both streams.</summary>
    public static async Task<(int Code, string Out, string Err)> RunAsync(string folder, string package, string script, IEnumerable<string> args, TimeSpan timeout)
    {
        var node = Which("node") ?? throw new InvalidOperationException(
            "node (Node.js) is not on PATH: the JavaScript SDK client tests need it (install Node.js 18 or later; .ci/run does)");
        await InstallGate.WaitAsync();
        try
        {
            if (!Directory.Exists(Path.Combine(folder, "node_modules", package)))
            {
                var npm = Which("npm") ?? throw new InvalidOperationException($"npm is not on PATH: needed to install {package} for the JavaScript client test");
                var (code, _, err) = await RunProcessAsync(folder, npm, ["ci", "--no-audit", "--no-fund"], TimeSpan.FromMinutes(5));
                if (code != 0)
                {
                    throw new InvalidOperationException("npm ci failed in " + folder + ": " + err);
                }
            }
        }
        finally
        {
            InstallGate.Release();
        }

        return await RunProcessAsync(folder, node, [script, .. args], timeout);
    }

    private static async Task<(int Code, string Out, string Err)> RunProcessAsync(string folder, string file, IEnumerable<string> args, TimeSpan timeout)
    {
        var start = new ProcessStartInfo(file) { WorkingDirectory = folder, RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false };
        foreach (var a in args)
        {
            start.ArgumentList.Add(a);
        }

        using var process = Process.Start(start)!;
        var stdout = process.StandardOutput.ReadToEndAsync();
        var stderr = process.StandardError.ReadToEndAsync();
        using var cts = new CancellationTokenSource(timeout);
        try
        {
            await process.WaitForExitAsync(cts.Token);
        }
        catch (OperationCanceledException)
        {
            process.Kill(true);
            throw new TimeoutException($"{file} {string.Join(' ', start.ArgumentList)} did not finish in {timeout}");
        }

        return (process.ExitCode, await stdout, await stderr);
    }

    private static string? Which(string name) =>
        (Environment.GetEnvironmentVariable("PATH") ?? "").Split(Path.PathSeparator)
            .Select(dir => Path.Combine(dir, name)).FirstOrDefault(File.Exists);
}

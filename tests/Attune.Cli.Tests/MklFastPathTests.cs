using System.Diagnostics;
using System.Runtime.InteropServices;
using System.Text.RegularExpressions;
using Attune.Agents.Sandbox;
using Attune.Torch.Native;

namespace Attune.Cli.Tests;

/// <summary>
/// oneMKL's own report of the code path it chose (docs/torch.md, "oneMKL's AVX-512 path"): the real
/// <c>attune</c> command, as a child process with <c>MKL_VERBOSE=1</c>, runs a fixture model (float32
/// matrix products through Attune.Torch); MKL's first verbose line names the instruction set of its
/// path. Run once as a user gets it and once with <c>ATTUNE_MKL_FAST_PATH=0</c>.
/// </summary>
public sealed partial class MklFastPathTests
{
    private static readonly string FixtureRoot = Path.Combine(CliHarness.RepoRoot, "tests", "Attune.Torch.Tests", "Fixtures", "hf-tiny");

    /// <summary>E.g. "MKL_VERBOSE oneMKL 2024.0 Update 2 Product build 20240605 for Intel(R) 64 architecture Intel(R) Architecture processors, Lnx 2.60GHz lp64 gnu_thread".</summary>
    [GeneratedRegex(@"^MKL_VERBOSE .* for Intel\(R\) 64 architecture (?<path>.+), Lnx ", RegexOptions.Multiline)]
    private static partial Regex MklHeader();

    [Fact]
    public async Task MKL_names_its_AVX_512_path_where_the_fast_path_applies_and_its_generic_path_when_switched_off()
    {
        var on = await RunLogits(null);
        var off = await RunLogits("0");
        Assert.Contains("MKL fast path: off (ATTUNE_MKL_FAST_PATH=0)", off.Err, StringComparison.Ordinal);
        Assert.DoesNotContain("MKL fast path: on", off.Err, StringComparison.Ordinal);

        var linux = OperatingSystem.IsLinux() && RuntimeInformation.ProcessArchitecture == Architecture.X64;
        var expected = MklFastPath.Decide(null, linux, linux ? File.ReadAllText("/proc/cpuinfo") : null);
        if (expected is null)
        {
            // A non-Intel CPU with AVX-512: MKL's AVX-512 path with the fast path, its generic path without.
            Assert.Contains("MKL fast path: on (", on.Err, StringComparison.Ordinal);
            Assert.Contains("AVX-512", on.MklPath, StringComparison.Ordinal);
            Assert.Equal("Intel(R) Architecture processors", off.MklPath);
        }
        else
        {
            // Intel, or no AVX-512, or not x86-64 Linux: nothing is set, MKL chooses the same path either way.
            Assert.Contains(expected.Message, on.Err, StringComparison.Ordinal);
            Assert.DoesNotContain("MKL fast path: on", on.Err, StringComparison.Ordinal);
            Assert.Equal(off.MklPath, on.MklPath);
        }
    }

    /// <summary>Runs <c>attune model logits --verbose</c> on the fixture Llama with MKL_VERBOSE=1; returns MKL's path and stderr.</summary>
    private static async Task<(string MklPath, string Err)> RunLogits(string? fastPathSwitch)
    {
        var start = new ProcessStartInfo(DotnetHost.Path)
        {
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            UseShellExecute = false,
        };
        foreach (var a in new[]
                 {
                     Path.Combine(AppContext.BaseDirectory, "attune.dll"), "model", "logits", "--model", Path.Combine(FixtureRoot, "llama", "policy"),
                     "--tokenizer", Path.Combine(FixtureRoot, "tokenizer.json"), "--text", "The quick brown fox.", "--verbose",
                 })
        {
            start.ArgumentList.Add(a);
        }

        start.Environment["MKL_VERBOSE"] = "1";
        start.Environment.Remove(MklFastPath.SwitchVariable);
        if (fastPathSwitch is not null)
        {
            start.Environment[MklFastPath.SwitchVariable] = fastPathSwitch;
        }

        using var process = Process.Start(start)!;
        var stdout = process.StandardOutput.ReadToEndAsync();
        var stderr = process.StandardError.ReadToEndAsync();
        await process.WaitForExitAsync();
        var (output, err) = (await stdout, await stderr);
        Assert.True(process.ExitCode == 0, $"attune model logits exited with {process.ExitCode}: {err}");
        var header = MklHeader().Match(output);
        Assert.True(header.Success, $"no MKL_VERBOSE header on stdout (ATTUNE_MKL_FAST_PATH={fastPathSwitch ?? "unset"}):\n{output}");
        return (header.Groups["path"].Value, err);
    }
}

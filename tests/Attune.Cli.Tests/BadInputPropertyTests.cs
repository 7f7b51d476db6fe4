using System.CommandLine;
using System.Text.RegularExpressions;

namespace Attune.Cli.Tests;

/// <summary>
/// The bad-input contract (issue 23), as properties over the real command tree: every bad value
/// is exit 2 with exactly one line on stderr that names the option and no .NET type name, nothing
/// on stdout even with <c>--json</c>, and no file written. The tables are generated from
/// <see cref="CliApp.Root"/>, so a new verb's options are covered the day it is added.
/// </summary>
public sealed partial class BadInputPropertyTests
{
    /// <summary>A .NET type name in a message (System.Double, System.Nullable`1[...]).</summary>
    [GeneratedRegex(@"System\.[A-Z]")]
    private static partial Regex DotnetTypeName();

    /// <summary>Verb groups other work in progress owns; the central parse-error rewording covers them, the path checks do not yet.</summary>
    private static readonly HashSet<string> PathChecksElsewhere = ["cot", "serve"];

    private static readonly Type[] Whole = [typeof(int), typeof(int?), typeof(long), typeof(long?)];
    private static readonly Type[] Real = [typeof(double), typeof(double?), typeof(float), typeof(float?)];

    /// <summary>Every leaf verb (its words from the root) with its options; the root's global options once, on <c>bandit bench</c>.</summary>
    private static IEnumerable<(string[] Verb, Option Option)> AllOptions()
    {
        var app = new CliApp(TextWriter.Null, TextWriter.Null);
        foreach (var (verb, command) in Leaves(app.Root, []))
        {
            foreach (var option in command.Options)
            {
                yield return (verb, option);
            }
        }

        foreach (var option in app.Root.Options.Where(o => o.Recursive))
        {
            yield return (["bandit", "bench"], option);
        }

        static IEnumerable<(string[] Verb, Command Command)> Leaves(Command command, string[] words)
        {
            foreach (var sub in command.Subcommands)
            {
                string[] path = [.. words, sub.Name];
                if (sub.Subcommands.Count == 0)
                {
                    yield return (path, sub);
                }
                else
                {
                    foreach (var leaf in Leaves(sub, path))
                    {
                        yield return leaf;
                    }
                }
            }
        }
    }

    /// <summary>For every whole-number and decimal option of every verb, values that are not numbers at all.</summary>
    public static TheoryData<string, string, string> WrongTypeValues()
    {
        var data = new TheoryData<string, string, string>();
        foreach (var (verb, option) in AllOptions())
        {
            string[] values = Whole.Contains(option.ValueType) ? ["abc", "1.5", "", "99999999999", "0x10"]
                : Real.Contains(option.ValueType) ? ["abc", "", "1.2.3", "0x1p3"]
                : [];
            foreach (var value in values)
            {
                data.Add(string.Join(' ', verb), option.Name, value);
            }
        }

        return data;
    }

    /// <summary>For every bounded decimal option (one with a validator): the values that are not finite.</summary>
    public static TheoryData<string, string, string> NonFiniteValues()
    {
        var data = new TheoryData<string, string, string>();
        foreach (var (verb, option) in AllOptions().Where(x => Real.Contains(x.Option.ValueType) && x.Option.Validators.Count > 0))
        {
            foreach (var value in new[] { "NaN", "Infinity", "-Infinity", "1e309", "-1e309" })
            {
                data.Add(string.Join(' ', verb), option.Name, value);
            }
        }

        return data;
    }

    /// <summary>Every output option (<c>--out</c>, <c>--report</c>) of every verb.</summary>
    public static TheoryData<string, string> OutputOptions()
    {
        var data = new TheoryData<string, string>();
        foreach (var (verb, option) in AllOptions().Where(x => x.Option.Name is "--out" or "--report" && !PathChecksElsewhere.Contains(x.Verb[0])))
        {
            data.Add(string.Join(' ', verb), option.Name);
        }

        return data;
    }

    [Theory]
    [MemberData(nameof(WrongTypeValues))]
    public async Task A_value_of_the_wrong_type_is_one_line_without_a_dotnet_type_name(string verb, string option, string value)
    {
        using var dir = new CliHarness.TempDir();
        await AssertRefused([.. verb.Split(' '), option, value], option, dir.Path);
    }

    [Theory]
    [MemberData(nameof(NonFiniteValues))]
    public async Task A_bounded_number_refuses_NaN_and_infinity(string verb, string option, string value)
    {
        using var dir = new CliHarness.TempDir();
        await AssertRefused([.. verb.Split(' '), option, value], option, dir.Path);
    }

    [Theory]
    [MemberData(nameof(OutputOptions))]
    public async Task An_output_under_an_existing_file_is_refused_before_any_work(string verb, string option)
    {
        using var dir = new CliHarness.TempDir();
        var file = Path.Combine(dir.Path, "a-file");
        File.WriteAllText(file, "keep me");
        await AssertRefused([.. verb.Split(' '), option, Path.Combine(file, "sub")], option, dir.Path);
        Assert.Equal("keep me", File.ReadAllText(file));
    }

    /// <summary>The rows of issue 23 (aborts, absurd values, exit 1 instead of 2), each with the option the line must name.</summary>
    public static TheoryData<string, string> IssueRows() => new()
    {
        // Aborts (exit 134) before: libtorch on 0 or negative threads, out of memory on ten million participants.
        { "train sft --model {dir}/m --data {dir}/d.jsonl --out {dir}/run --threads 0", "--threads" },
        { "train sft --model {dir}/m --data {dir}/d.jsonl --out {dir}/run --threads -2", "--threads" },
        { "align train --model {dir}/m --data {dir}/d.jsonl --out {dir}/run --threads 0", "--threads" },
        { "personalize train --model {dir}/m --data {dir}/d.jsonl --out {dir}/run --threads -1", "--threads" },
        { "study bench --config {demo} --concurrency 10000000 --seconds 1", "--concurrency" },
        { "study bench --config {demo} --concurrency 100,0", "--concurrency" },
        { "bandit bench --seconds 1e300", "--seconds" },

        // Absurd values accepted with exit 0 before.
        { "bandit bench --seconds -1", "--seconds" },
        { "bandit bench --seconds 0", "--seconds" },
        { "bandit bench --seconds NaN", "--seconds" },
        { "study bench --config {demo} --seconds -1", "--seconds" },
        { "study bench --config {demo} --seconds NaN", "--seconds" },
        { "bandit analyze {dir}/r.csv --alpha 5", "--alpha" },
        { "align train --model {dir}/m --data {dir}/d.jsonl --out {dir}/run --label-smoothing 2", "--label-smoothing" },
        { "train sft --model {dir}/m --data {dir}/d.jsonl --out {dir}/run --lora-r -3", "--lora-r" },
        { "equiv bench --dataset {dir}/pairs --max-variables -1", "--max-variables" },

        { "bandit simulate --policy ucb1:beta=1", "'beta'" },
        { "bandit simulate --policy ucb1:zzz=1;thompson", "'zzz'" },
        { "bandit simulate --policy ;;", "--policy" },

        // Exit 1 ("internal error") or a trace before.
        { "llm ping --llm replay:{dir}/x.jsonl --timeout 1e308", "--timeout" },
        { "bandit bench --arms 0", "--arms" },
        { "bandit simulate --arms 0", "--arms" },
        { "model merge --method ties --base {dir}/b --models {dir}/m --density 5 --out {dir}/merged", "--density" },
        { "train sft --model {dir}/m --data {dir}/d.jsonl --out {dir}/run --lora-r 8 --lora-dropout 5", "--lora-dropout" },
        { "survey power --n-llm ", "--n-llm" },
        { "survey power --n-llm 1e30", "--n-llm" },
        { "study export --db sqlite:{dir}/binary.db", "--db" },
        { "study serve --config {dir}/study.json --db sqlite:{dir}/binary.db", "--db" },
        { "study serve --config {dir}/study.json --db sqlite:{dir}/s.db --urls notaurl", "--urls" },
        { "mcp serve --box {box} --transport http --urls notaurl", "--urls" },

        // Wording: a folder given where a file is read was "file not found".
        { "bandit analyze {dir}", "is a folder, not a file" },
        { "study serve --config {dir} --db sqlite:{dir}/s.db", "is a folder, not a file" },

        // Output paths: a file where a folder is needed, a folder where a file is needed.
        { "survey simulate --out {dir}", "--out" },
        { "study export --db sqlite:{dir}/s.db --out {dir}", "--out" },
        { "model export-gguf --model {dir}/m --out {dir}", "--out" },
        { "model init --out {dir}/binary.db", "--out" },
        { "interact run --out {dir}/binary.db", "--out" },
        { "repro run all --quick --out {dir}/binary.db", "--out" },
        { "equiv base --out {dir}/binary.db", "--out" },
        { "align train --model {dir}/m --data {dir}/d.jsonl --out {dir}/binary.db", "--out" },
        { "survey test --report {dir}/binary.db", "--report" },
    };

    [Theory]
    [MemberData(nameof(IssueRows))]
    public async Task Issue_23_rows_exit_2_with_one_line_naming_the_option(string command, string option)
    {
        using var dir = new CliHarness.TempDir();
        File.WriteAllBytes(Path.Combine(dir.Path, "binary.db"), [.. Enumerable.Range(0, 4096).Select(i => (byte)((i * 7919) % 251))]);
        File.Copy(Path.Combine(CliHarness.RepoRoot, "examples", "studies", "demo", "study.json"), Path.Combine(dir.Path, "study.json"));
        var args = command
            .Replace("{dir}", dir.Path, StringComparison.Ordinal)
            .Replace("{demo}", Path.Combine(dir.Path, "study.json"), StringComparison.Ordinal)
            .Replace("{box}", Path.Combine(CliHarness.RepoRoot, "examples", "boxes", "game24"), StringComparison.Ordinal)
            .Split(' ');
        await AssertRefused(args, option, dir.Path);
    }

    [Theory]
    [InlineData("--epochs", "0")]
    [InlineData("--batch-size", "-1")]
    [InlineData("--grad-accum", "0")]
    [InlineData("--lr", "0")]
    [InlineData("--max-steps", "0")]
    public async Task Train_sft_names_the_one_bad_option_not_four(string option, string value)
    {
        using var dir = new CliHarness.TempDir();
        var (_, _, stderr) = await CliHarness.Run("train", "sft", "--model", Path.Combine(dir.Path, "m"), "--data", Path.Combine(dir.Path, "d.jsonl"), "--out", Path.Combine(dir.Path, "run"), option, value, "--json");
        await AssertRefused(["train", "sft", "--model", Path.Combine(dir.Path, "m"), "--data", Path.Combine(dir.Path, "d.jsonl"), "--out", Path.Combine(dir.Path, "run"), option, value], option, dir.Path);
        foreach (var other in new[] { "--epochs", "--batch-size", "--grad-accum", "--lr", "--max-steps" }.Where(o => o != option))
        {
            Assert.DoesNotContain(other, stderr, StringComparison.Ordinal); // it lumped all five together
        }
    }

    [Fact]
    public async Task Model_init_keeps_an_existing_checkpoint_unless_forced()
    {
        using var dir = new CliHarness.TempDir();
        var model = Path.Combine(dir.Path, "m");
        var (code, _, stderr) = await CliHarness.Run("model", "init", "--out", model, "--seed", "1");
        Assert.True(code == 0, stderr);
        var weights = File.ReadAllBytes(Path.Combine(model, "model.safetensors"));

        await AssertRefused(["model", "init", "--out", model, "--seed", "2"], "--force", dir.Path);
        Assert.Equal(weights, File.ReadAllBytes(Path.Combine(model, "model.safetensors")));

        (code, _, stderr) = await CliHarness.Run("model", "init", "--out", model, "--seed", "2", "--force");
        Assert.True(code == 0, stderr);
        Assert.NotEqual(weights, File.ReadAllBytes(Path.Combine(model, "model.safetensors")));
    }

    [Fact]
    public async Task Study_serve_on_a_port_in_use_is_one_line()
    {
        using var dir = new CliHarness.TempDir();
        File.Copy(Path.Combine(CliHarness.RepoRoot, "examples", "studies", "demo", "study.json"), Path.Combine(dir.Path, "study.json"));
        using var taken = new System.Net.Sockets.TcpListener(System.Net.IPAddress.Loopback, 0);
        taken.Start();
        var url = $"http://127.0.0.1:{((System.Net.IPEndPoint)taken.LocalEndpoint).Port}";
        await AssertRefused(["study", "serve", "--config", Path.Combine(dir.Path, "study.json"), "--db", "sqlite:" + Path.Combine(dir.Path, "s.db"), "--urls", url], "--urls", null);
        await AssertRefused(["mcp", "serve", "--box", Path.Combine(CliHarness.RepoRoot, "examples", "boxes", "game24"), "--transport", "http", "--urls", url], "--urls", null);
    }

    /// <summary>Runs <paramref name="args"/> with <c>--json</c>; asserts the contract and, given <paramref name="dir"/>, that nothing in it changed.</summary>
    private static async Task AssertRefused(string[] args, string option, string? dir)
    {
        var before = dir is null ? null : Snapshot(dir);
        var (code, stdout, stderr) = await CliHarness.Run([.. args, "--json"]);
        var said = $"attune {string.Join(' ', args)} --json\nexit {code}\nstdout: {stdout}\nstderr: {stderr}";
        Assert.True(code == CliApp.BadInput, said);
        Assert.True(stdout.Length == 0, said);
        var lines = stderr.TrimEnd('\n', '\r').Split('\n');
        Assert.True(lines.Length == 1, said);
        Assert.True(lines[0].Contains(option, StringComparison.Ordinal), said);
        Assert.False(DotnetTypeName().IsMatch(lines[0]), said);
        Assert.False(lines[0].Any(c => char.IsControl(c) && c != '\r'), said);
        if (dir is not null)
        {
            Assert.Equal(before, Snapshot(dir));
        }
    }

    private static string[] Snapshot(string dir) =>
        [.. Directory.EnumerateFileSystemEntries(dir, "*", SearchOption.AllDirectories)
            .Select(p => File.Exists(p) ? $"{p} {new FileInfo(p).Length}" : p + "/")
            .Order(StringComparer.Ordinal)];
}

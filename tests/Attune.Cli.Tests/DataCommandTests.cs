using System.Text.Json;
using Attune.Cli;

namespace Attune.Cli.Tests;

public sealed class DataCommandTests : IDisposable
{
    private readonly string _cache = Path.Combine(Path.GetTempPath(), "attune-cli-test-" + Guid.NewGuid().ToString("N"));
    private readonly StringWriter _out = new();
    private readonly StringWriter _err = new();

    public void Dispose()
    {
        _out.Dispose();
        _err.Dispose();
        if (Directory.Exists(_cache))
        {
            Directory.Delete(_cache, recursive: true);
        }
    }

    private Task<int> Run(string? mirror, params string[] args)
    {
        var env = new Dictionary<string, string?> { ["ATTUNE_CACHE"] = _cache, ["ATTUNE_DATA_MIRROR"] = mirror };
        return new CliApp(_out, _err, name => env.GetValueOrDefault(name)).RunAsync(args);
    }

    private static string? SharedData()
    {
        var shared = Path.Combine(CliHarness.RepoRoot, "..", "shared", "data");
        return Directory.Exists(shared) ? Path.GetFullPath(shared) : null;
    }

    private static string[] Lines(StringWriter writer) => writer.ToString().Split('\n', StringSplitOptions.RemoveEmptyEntries);

    [Fact]
    public async Task List_json_prints_one_json_document_and_nothing_else()
    {
        var code = await Run(null, "data", "list", "--json");

        Assert.Equal(CliApp.Success, code);
        using var doc = JsonDocument.Parse(_out.ToString());
        var sets = doc.RootElement.GetProperty("datasets").EnumerateArray().ToList();
        Assert.Equal(["gameof24", "medhallu", "halueval", "bbq", "winobias"], sets.Select(s => s.GetProperty("name").GetString()));
        Assert.All(sets, s => Assert.Equal("missing", s.GetProperty("cached").GetString()));
        Assert.Equal(Path.GetFullPath(_cache), doc.RootElement.GetProperty("cache").GetString());
        Assert.Equal(12, sets[3].GetProperty("files").GetArrayLength());
        Assert.Equal("", _err.ToString());
    }

    [Fact]
    public async Task List_prints_a_plain_table()
    {
        Assert.Equal(CliApp.Success, await Run(null, "data", "list"));

        var lines = Lines(_out);
        Assert.StartsWith("NAME", lines[0], StringComparison.Ordinal);
        Assert.Contains(lines, l => l.StartsWith("bbq ", StringComparison.Ordinal) && l.Contains("CC BY 4.0", StringComparison.Ordinal) && l.Contains("5 files without a known sha256", StringComparison.Ordinal));
        Assert.DoesNotContain('\u001b', _out.ToString());
    }

    [Fact]
    public async Task Pulling_an_unknown_data_set_exits_2_with_one_line_on_stderr()
    {
        var code = await Run(null, "data", "pull", "imagenet");

        Assert.Equal(CliApp.BadInput, code);
        Assert.Equal(["error: unknown data set 'imagenet' (known: gameof24, medhallu, halueval, bbq, winobias)"], Lines(_err));
        Assert.Equal("", _out.ToString());
    }

    [Fact]
    public async Task Path_before_pull_exits_2_and_says_to_pull()
    {
        var code = await Run(null, "data", "path", "winobias");

        Assert.Equal(CliApp.BadInput, code);
        var line = Assert.Single(Lines(_err));
        Assert.Contains("attune data pull winobias", line, StringComparison.Ordinal);
        Assert.Equal("", _out.ToString());
    }

    [Fact]
    public async Task A_derived_data_set_without_a_mirror_exits_2_naming_the_mirror_variable()
    {
        Assert.Equal(CliApp.BadInput, await Run(null, "data", "pull", "medhallu"));
        Assert.Contains("ATTUNE_DATA_MIRROR", Assert.Single(Lines(_err)), StringComparison.Ordinal);
    }

    [SharedDataFact]
    public async Task Pull_from_the_shared_folder_then_path_prints_the_folder()
    {
        var shared = SharedData() ?? throw new InvalidOperationException("../shared/data is not beside the repository: nothing to pull from");

        var code = await Run(shared, "data", "pull", "winobias", "--json");

        Assert.Equal(CliApp.Success, code);
        using (var doc = JsonDocument.Parse(_out.ToString()))
        {
            var files = doc.RootElement.GetProperty("datasets")[0].GetProperty("files").EnumerateArray().ToList();
            Assert.Equal(11, files.Count);
            Assert.All(files, f => Assert.Equal("fetched", f.GetProperty("outcome").GetString()));
        }

        Assert.Contains("winobias/male_occupations.txt: 169 bytes, sha256 verified", _err.ToString(), StringComparison.Ordinal);

        _out.GetStringBuilder().Clear();
        Assert.Equal(CliApp.Success, await Run(null, "data", "path", "winobias"));
        Assert.Equal(Path.Combine(Path.GetFullPath(_cache), "winobias"), _out.ToString().Trim());
    }
}

/// <summary>
/// A fact that needs <c>../shared/data</c> beside the repository: skipped with a reason when it is
/// absent, never skipped in CI (<c>CI=true</c>), where its absence fails the run.
/// </summary>
internal sealed class SharedDataFactAttribute : FactAttribute
{
    public SharedDataFactAttribute()
    {
        if (!Directory.Exists(Path.Combine(CliHarness.RepoRoot, "..", "shared", "data"))
            && !string.Equals(Environment.GetEnvironmentVariable("CI"), "true", StringComparison.OrdinalIgnoreCase))
        {
            Skip = "needs the shared reference data at ../shared/data beside the repository";
        }
    }
}

using Attune.Core.Data;

namespace Attune.Core.Tests.Data;

/// <summary>Pulls from the shared reference folder (../shared/data) used as a folder mirror.</summary>
public sealed class SharedMirrorTests : IDisposable
{
    private readonly TempDir _cache = new();

    public void Dispose() => _cache.Dispose();

    [SharedDataFact]
    public async Task Every_data_set_pulls_from_the_shared_folder_and_matches_the_manifest()
    {
        var shared = TestData.SharedData!;
        var present = DataCatalog.Default.DataSets.SelectMany(d => d.Files)
            .Where(f => File.Exists(Path.Combine(shared, f.Path)))
            .Select(f => f.Path)
            .ToList();
        var progress = new StringWriter();
        var puller = new DataPuller(DataCatalog.Default, new DataSettings(_cache.Path, shared), progress: progress);

        var results = await puller.PullAsync(present);

        var files = results.SelectMany(r => r.Files).ToList();
        Assert.Equal(present.Count, files.Count);
        Assert.All(files, f => Assert.Equal((PullOutcome.Fetched, ChecksumSource.Manifest), (f.Outcome, f.Checksum)));
        Assert.Equal(present.Order(StringComparer.Ordinal), _cache.Files().Order(StringComparer.Ordinal));
        Assert.Equal(CacheState.Complete, puller.Cache.StateOf(DataCatalog.Default.Find("winobias")));
        Assert.Equal(CacheState.Partial, puller.Cache.StateOf(DataCatalog.Default.Find("bbq")));
    }

    [SharedDataFact]
    public void The_manifest_covers_every_shared_file_and_only_the_five_absent_bbq_categories_are_missing()
    {
        var shared = TestData.SharedData!;
        var sharedFiles = Directory.EnumerateFiles(shared, "*", SearchOption.AllDirectories)
            .Select(f => Path.GetRelativePath(shared, f).Replace('\\', '/'))
            .Where(f => f != "README.md")
            .ToHashSet();
        var manifestFiles = DataCatalog.Default.DataSets.SelectMany(d => d.Files).ToList();

        Assert.Empty(sharedFiles.Except(manifestFiles.Select(f => f.Path)));
        Assert.Equal(
            manifestFiles.Where(f => f.Sha256 is null).Select(f => f.Path),
            manifestFiles.Where(f => !sharedFiles.Contains(f.Path)).Select(f => f.Path));
    }

    [SharedDataFact]
    public async Task A_whole_data_set_with_an_unknown_category_fails_cleanly_on_a_mirror_that_lacks_it()
    {
        var puller = new DataPuller(DataCatalog.Default, new DataSettings(_cache.Path, TestData.SharedData));

        var ex = await Assert.ThrowsAsync<Errors.AttuneInputException>(() => puller.PullAsync("bbq"));

        Assert.Equal("bbq/Gender_identity.jsonl", ex.File);
        Assert.Contains("not in the mirror", ex.Message, StringComparison.Ordinal);
        Assert.DoesNotContain(_cache.Files(), f => f.Contains(".part", StringComparison.Ordinal));
    }
}

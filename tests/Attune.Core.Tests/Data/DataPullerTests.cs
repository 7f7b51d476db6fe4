using System.Security.Cryptography;
using System.Text;
using Attune.Core.Data;
using Attune.Core.Errors;

namespace Attune.Core.Tests.Data;

public sealed class DataPullerTests : IDisposable
{
    private static readonly HttpClient Http = new();

    private readonly TempDir _mirror = new();
    private readonly TempDir _cache = new();
    private readonly byte[] _alpha = Encoding.UTF8.GetBytes("{\"id\":1}\n{\"id\":2}\n");
    private readonly byte[] _beta = [.. Enumerable.Range(0, 300_000).Select(i => (byte)(i * 7 % 251))];

    public DataPullerTests()
    {
        _mirror.Write("demo/alpha.jsonl", _alpha);
        _mirror.Write("demo/sub/beta.bin", _beta);
        _mirror.Write("other/gamma.txt", "gamma\n"u8.ToArray());
    }

    public void Dispose()
    {
        _mirror.Dispose();
        _cache.Dispose();
    }

    private static string Sha(byte[] bytes) => Convert.ToHexStringLower(SHA256.HashData(bytes));

    private static DataFile File(string path, byte[]? bytes, bool knownHash = true, Uri? upstream = null, bool optional = false) =>
        new(path, upstream ?? new Uri("https://example.invalid/" + path), knownHash && bytes is not null ? Sha(bytes) : null,
            knownHash ? bytes?.Length : null, Optional: optional);

    private DataCatalog Catalog(bool betaKnown = true, string? alphaSha = null) => new(
    [
        new DataSet("demo", "Demo", "two generated files", "CC0", new Uri("https://example.invalid/demo"),
        [
            File("demo/alpha.jsonl", _alpha) with { Sha256 = alphaSha ?? Sha(_alpha) },
            File("demo/sub/beta.bin", _beta, knownHash: betaKnown),
        ]),
        new DataSet("other", "Other", "one file", "MIT", new Uri("https://example.invalid/other"), [File("other/gamma.txt", "gamma\n"u8.ToArray())]),
    ]);

    private DataPuller Puller(DataCatalog catalog, string? mirror, TextWriter? progress = null, bool strict = false) =>
        new(catalog, new DataSettings(_cache.Path, mirror, strict), Http, progress);

    [Fact]
    public async Task Pulls_through_an_http_mirror_and_does_not_fetch_cached_files_again()
    {
        await using var server = new TinyHttpServer(_mirror.Path);
        var progress = new StringWriter();
        var puller = Puller(Catalog(), server.BaseUri.AbsoluteUri, progress);

        var first = await puller.PullAsync("demo");

        Assert.Equal(["demo/alpha.jsonl", "demo/sub/beta.bin"], _cache.Files());
        Assert.Equal(_beta, await System.IO.File.ReadAllBytesAsync(Path.Combine(_cache.Path, "demo", "sub", "beta.bin")));
        Assert.All(first.Files, f => Assert.Equal(PullOutcome.Fetched, f.Outcome));
        Assert.All(first.Files, f => Assert.Equal(ChecksumSource.Manifest, f.Checksum));
        Assert.Equal(Path.Combine(_cache.Path, "demo"), first.Folder);
        Assert.Matches(@"demo/sub/beta\.bin: [0-9,]+ of 300,000 bytes \([0-9]+%\)", progress.ToString());
        Assert.Contains("demo/sub/beta.bin: 300,000 bytes, sha256 verified", progress.ToString(), StringComparison.Ordinal);
        Assert.Equal(1, server.Requests["demo/sub/beta.bin"]);

        var second = await puller.PullAsync("demo");

        Assert.All(second.Files, f => Assert.Equal(PullOutcome.Cached, f.Outcome));
        Assert.Equal(1, server.Requests["demo/sub/beta.bin"]);
        Assert.Equal(1, server.Requests["demo/alpha.jsonl"]);
        Assert.Equal(CacheState.Complete, puller.Cache.StateOf(Catalog().Find("demo")));
    }

    [Fact]
    public async Task A_checksum_mismatch_is_an_error_naming_file_and_hashes_and_leaves_nothing_behind()
    {
        await using var server = new TinyHttpServer(_mirror.Path);
        var wrong = new string('0', 64);
        var puller = Puller(Catalog(alphaSha: wrong), server.BaseUri.AbsoluteUri);

        var ex = await Assert.ThrowsAsync<AttuneInputException>(() => puller.PullAsync("demo/alpha.jsonl"));

        Assert.Equal("demo/alpha.jsonl", ex.File);
        Assert.Contains(wrong, ex.Message, StringComparison.Ordinal);
        Assert.Contains(Sha(_alpha), ex.Message, StringComparison.Ordinal);
        Assert.Empty(_cache.Files());
    }

    [Fact]
    public async Task An_interrupted_download_is_an_error_and_leaves_nothing_behind()
    {
        await using var server = new TinyHttpServer(_mirror.Path);
        server.Truncate["demo/sub/beta.bin"] = true;
        var puller = Puller(Catalog(betaKnown: false), server.BaseUri.AbsoluteUri);

        var ex = await Assert.ThrowsAsync<AttuneInputException>(() => puller.PullAsync("demo/sub/beta.bin"));

        Assert.Equal("demo/sub/beta.bin", ex.File);
        Assert.Contains("download failed", ex.Message, StringComparison.Ordinal);
        Assert.Empty(_cache.Files());
    }

    [Fact]
    public async Task A_missing_file_on_the_server_is_an_error_with_the_status()
    {
        await using var server = new TinyHttpServer(_mirror.Path);
        System.IO.File.Delete(Path.Combine(_mirror.Path, "other", "gamma.txt"));
        var puller = Puller(Catalog(), server.BaseUri.AbsoluteUri);

        var ex = await Assert.ThrowsAsync<AttuneInputException>(() => puller.PullAsync("other"));

        Assert.Contains("HTTP 404", ex.Message, StringComparison.Ordinal);
        Assert.Empty(_cache.Files());
    }

    [Fact]
    public async Task An_unknown_name_is_an_error_listing_the_known_names()
    {
        var puller = Puller(Catalog(), _mirror.Path);

        var ex = await Assert.ThrowsAsync<AttuneInputException>(() => puller.PullAsync(["other", "nope"]));

        Assert.Equal("unknown data set 'nope' (known: demo, other)", ex.Message);
        Assert.Empty(_cache.Files());
    }

    [Fact]
    public async Task Pulls_from_a_folder_mirror_and_refetches_a_corrupted_cached_copy()
    {
        var puller = Puller(Catalog(), _mirror.Path);
        await puller.PullAsync("all");
        Assert.Equal(["demo/alpha.jsonl", "demo/sub/beta.bin", "other/gamma.txt"], _cache.Files());

        await System.IO.File.WriteAllTextAsync(Path.Combine(_cache.Path, "other", "gamma.txt"), "tampered\n");
        var progress = new StringWriter();
        var again = await Puller(Catalog(), _mirror.Path, progress).PullAsync("other");

        Assert.Equal(PullOutcome.Fetched, again.Files[0].Outcome);
        Assert.Equal("gamma\n", await System.IO.File.ReadAllTextAsync(Path.Combine(_cache.Path, "other", "gamma.txt")));
        Assert.Contains("fetching it again", progress.ToString(), StringComparison.Ordinal);
    }

    [Fact]
    public async Task An_unknown_checksum_is_recorded_on_first_use_and_enforced_afterwards()
    {
        var progress = new StringWriter();
        var puller = Puller(Catalog(betaKnown: false), _mirror.Path, progress);

        var first = await puller.PullAsync("demo/sub/beta.bin");

        Assert.Equal(ChecksumSource.FirstUse, first.Files[0].Checksum);
        Assert.Contains($"recorded sha256 {Sha(_beta)}", progress.ToString(), StringComparison.Ordinal);
        Assert.Equal(Sha(_beta), puller.Cache.RecordedChecksums()["demo/sub/beta.bin"].Sha256);

        var cached = await puller.PullAsync("demo/sub/beta.bin");
        Assert.Equal((PullOutcome.Cached, ChecksumSource.Recorded), (cached.Files[0].Outcome, cached.Files[0].Checksum));

        // Upstream changes and the cached copy is gone: the recorded hash catches it.
        System.IO.File.Delete(Path.Combine(_cache.Path, "demo", "sub", "beta.bin"));
        _mirror.Write("demo/sub/beta.bin", [1, 2, 3]);
        var ex = await Assert.ThrowsAsync<AttuneInputException>(() => puller.PullAsync("demo/sub/beta.bin"));
        Assert.Contains($"expected sha256 {Sha(_beta)}", ex.Message, StringComparison.Ordinal);
        Assert.DoesNotContain("demo/sub/beta.bin", _cache.Files());
    }

    [Fact]
    public async Task Strict_mode_refuses_files_without_a_known_checksum_before_fetching_anything()
    {
        var puller = Puller(Catalog(betaKnown: false), _mirror.Path, strict: true);

        var ex = await Assert.ThrowsAsync<AttuneInputException>(() => puller.PullAsync("demo"));

        Assert.Equal("demo/sub/beta.bin", ex.File);
        Assert.Empty(_cache.Files());
    }

    [Fact]
    public async Task Mirror_only_files_need_a_mirror_and_optional_ones_are_skipped_without_one()
    {
        var catalog = new DataCatalog(
        [
            new DataSet("derived", "Derived", "a converted file", "MIT", new Uri("https://example.invalid/"),
            [
                new DataFile("derived/data.csv", null, new string('a', 64), 10, Derived: "converted from Parquet"),
            ]),
            new DataSet("licensed", "Licensed", "one optional mirror-only file", "MIT", new Uri("https://example.invalid/"),
            [
                new DataFile("licensed/LICENSE", null, new string('b', 64), 10, Optional: true),
            ]),
        ]);
        var puller = Puller(catalog, mirror: null);

        var ex = await Assert.ThrowsAsync<AttuneInputException>(() => puller.PullAsync("derived"));
        Assert.Contains("converted from Parquet", ex.Message, StringComparison.Ordinal);
        Assert.Contains(DataSettings.MirrorVariable, ex.Message, StringComparison.Ordinal);

        // A cached copy with the right hash needs no mirror; a wrong one cannot be replaced without one.
        var cachedCopy = _cache.Write("derived/data.csv", "0123456789"u8.ToArray());
        var verified = new DataCatalog([catalog.DataSets[0] with { Files = [catalog.DataSets[0].Files[0] with { Sha256 = Sha("0123456789"u8.ToArray()) }] }]);
        Assert.Equal(PullOutcome.Cached, (await Puller(verified, mirror: null).PullAsync("derived")).Files[0].Outcome);
        var stale = await Assert.ThrowsAsync<AttuneInputException>(() => puller.PullAsync("derived"));
        Assert.Contains(DataSettings.MirrorVariable, stale.Message, StringComparison.Ordinal);
        System.IO.File.Delete(cachedCopy);

        var skipped = await puller.PullAsync("licensed");
        Assert.Equal(PullOutcome.Skipped, skipped.Files[0].Outcome);
        Assert.Empty(_cache.Files());
    }

    [Fact]
    public async Task A_missing_mirror_folder_is_an_error()
    {
        var ex = await Assert.ThrowsAsync<AttuneInputException>(() => Puller(Catalog(), Path.Combine(_mirror.Path, "absent")).PullAsync("demo"));
        Assert.Contains("does not exist", ex.Message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Cancellation_leaves_nothing_behind()
    {
        using var cts = new CancellationTokenSource();
        await cts.CancelAsync();

        await Assert.ThrowsAnyAsync<OperationCanceledException>(() => Puller(Catalog(), _mirror.Path).PullAsync(["demo"], cts.Token));
        Assert.Empty(_cache.Files());
    }
}

using System.Globalization;
using System.Net.Http.Headers;
using System.Security.Cryptography;
using Attune.Core.Errors;

namespace Attune.Core.Data;

/// <summary>What happened to one file in a pull.</summary>
public enum PullOutcome
{
    /// <summary>Downloaded (or copied from a folder mirror), checked and renamed into the cache.</summary>
    Fetched,

    /// <summary>Already in the cache with the expected SHA-256; not fetched again.</summary>
    Cached,

    /// <summary>An optional file with no source (no mirror set); not pulled.</summary>
    Skipped,
}

/// <summary>Where the SHA-256 a file was checked against came from.</summary>
public enum ChecksumSource
{
    /// <summary>Not checked (a skipped file).</summary>
    None,

    /// <summary>The manifest.</summary>
    Manifest,

    /// <summary>Recorded in the cache by an earlier pull (the manifest does not know it).</summary>
    Recorded,

    /// <summary>Not known in advance: this pull computed it and recorded it for later pulls.</summary>
    FirstUse,
}

/// <summary>The outcome for one file.</summary>
public sealed record FilePullResult(string Path, PullOutcome Outcome, ChecksumSource Checksum, string? Sha256, long? Size, string? Source);

/// <summary>The outcome for one data set.</summary>
public sealed record DataSetPullResult(string Name, string Folder, IReadOnlyList<FilePullResult> Files);

/// <summary>
/// Pulls data sets into the cache. Each file is fetched from <see cref="DataSettings.SourceOf"/>
/// into a temporary file beside its destination, checked against its SHA-256 (and size), then
/// renamed; on any failure (checksum mismatch, interrupted transfer, cancellation) the temporary
/// file is deleted and nothing is left behind. Files already cached with the right hash are not
/// fetched again. Progress lines go to the writer given (stderr on the command line).
/// </summary>
public sealed class DataPuller
{
    private const int ProgressSteps = 4;
    private const long UnknownSizeProgressBytes = 8L << 20;

    private static readonly Lazy<HttpClient> SharedHttp = new(() =>
    {
        var client = new HttpClient { Timeout = TimeSpan.FromMinutes(5) };
        client.DefaultRequestHeaders.UserAgent.Add(new ProductInfoHeaderValue("Attune", typeof(DataPuller).Assembly.GetName().Version?.ToString(3) ?? "0"));
        return client;
    });

    private readonly DataCatalog _catalog;
    private readonly DataSettings _settings;
    private readonly HttpClient? _http;
    private readonly TextWriter _progress;

    public DataPuller(DataCatalog catalog, DataSettings settings, HttpClient? http = null, TextWriter? progress = null)
    {
        ArgumentNullException.ThrowIfNull(catalog);
        ArgumentNullException.ThrowIfNull(settings);
        _catalog = catalog;
        _settings = settings;
        _http = http;
        _progress = progress ?? TextWriter.Null;
        Cache = new DataCache(settings.CacheRoot);
    }

    public DataCache Cache { get; }

    /// <summary>Pulls one data set (or one file, by its manifest path).</summary>
    public async Task<DataSetPullResult> PullAsync(string selector, CancellationToken cancellationToken = default) =>
        (await PullAsync([selector], cancellationToken))[0];

    /// <summary>
    /// Pulls every data set (or file) named: names, <c>all</c>, or manifest paths such as <c>bbq/Age.jsonl</c>.
    /// Every selector and source is checked before anything is fetched.
    /// </summary>
    public async Task<IReadOnlyList<DataSetPullResult>> PullAsync(IEnumerable<string> selectors, CancellationToken cancellationToken = default)
    {
        var selection = _catalog.Select(selectors);
        var recorded = Cache.RecordedChecksums();
        CheckSources(selection, recorded);

        var results = new List<DataSetPullResult>();
        foreach (var (set, files) in selection)
        {
            var fileResults = new List<FilePullResult>();
            foreach (var file in files)
            {
                cancellationToken.ThrowIfCancellationRequested();
                fileResults.Add(await PullFileAsync(set, file, recorded, cancellationToken));
            }

            results.Add(new DataSetPullResult(set.Name, Cache.FolderOf(set), fileResults));
        }

        return results;
    }

    private void CheckSources(IReadOnlyList<(DataSet DataSet, IReadOnlyList<DataFile> Files)> selection, IReadOnlyDictionary<string, RecordedChecksum> recorded)
    {
        if (_settings.Mirror is not null && !_settings.MirrorIsUrl)
        {
            var mirrorRoot = Uri.TryCreate(_settings.Mirror, UriKind.Absolute, out var uri) && uri.IsFile ? uri.LocalPath : _settings.Mirror;
            if (!Directory.Exists(mirrorRoot))
            {
                throw new AttuneInputException($"{DataSettings.MirrorVariable} names a folder that does not exist: {mirrorRoot}");
            }
        }

        foreach (var (set, files) in selection)
        {
            foreach (var file in files)
            {
                // A cached copy may satisfy it (its hash is checked later); otherwise fail before fetching anything.
                if (_settings.SourceOf(file) is null && !file.Optional && !File.Exists(Cache.PathOf(file)))
                {
                    throw MirrorOnly(set.Name, file);
                }

                if (_settings.RequireKnownChecksums && file.Sha256 is null && !recorded.ContainsKey(file.Path))
                {
                    throw new AttuneInputException(
                        "no SHA-256 is known for this file (not in the manifest, not recorded by an earlier pull) and known checksums are required",
                        file.Path);
                }
            }
        }
    }

    private async Task<FilePullResult> PullFileAsync(DataSet set, DataFile file, IReadOnlyDictionary<string, RecordedChecksum> recorded, CancellationToken ct)
    {
        var (expected, origin) = file.Sha256 is not null ? (file.Sha256, ChecksumSource.Manifest)
            : recorded.TryGetValue(file.Path, out var r) ? (r.Sha256, ChecksumSource.Recorded)
            : ((string?)null, ChecksumSource.FirstUse);
        var local = Cache.PathOf(file);

        if (File.Exists(local) && expected is not null)
        {
            var have = await DataCache.Sha256Async(local, ct);
            if (have == expected)
            {
                _progress.WriteLine($"{file.Path}: cached, sha256 verified");
                return new FilePullResult(file.Path, PullOutcome.Cached, origin, have, new FileInfo(local).Length, null);
            }

            _progress.WriteLine($"{file.Path}: the cached copy has sha256 {have}, expected {expected}; fetching it again");
        }

        var source = _settings.SourceOf(file);
        if (source is null && !file.Optional)
        {
            throw MirrorOnly(set.Name, file);
        }

        if (source is null)
        {
            _progress.WriteLine($"warning: {file.Path}: skipped (optional, and only a mirror supplies it: {file.Derived ?? "no public source"})");
            return new FilePullResult(file.Path, PullOutcome.Skipped, ChecksumSource.None, null, null, null);
        }

        _progress.WriteLine($"{file.Path}: fetching from {source}");
        var directory = Path.GetDirectoryName(local)!;
        Directory.CreateDirectory(directory);
        var temp = Path.Combine(directory, $".{Path.GetFileName(local)}.{Guid.NewGuid():N}.part");
        try
        {
            var (actual, length) = await DownloadAsync(file, source, temp, ct);
            if (file.Size is { } size && length != size)
            {
                throw new AttuneInputException($"size mismatch: expected {size} bytes, got {length} (from {source})", file.Path);
            }

            if (expected is not null && actual != expected)
            {
                throw new AttuneInputException($"checksum mismatch: expected sha256 {expected}, got {actual} (from {source})", file.Path);
            }

            File.Move(temp, local, overwrite: true);
            if (expected is null)
            {
                Cache.Record(file, new RecordedChecksum(actual, length, source, DateTimeOffset.UtcNow));
                _progress.WriteLine(
                    $"warning: {file.Path}: no SHA-256 was known in advance; recorded sha256 {actual} ({length} bytes) in "
                    + $"{Path.Combine(Cache.Root, DataCache.RecordedChecksumsFile)}; later pulls are checked against it");
            }
            else
            {
                _progress.WriteLine($"{file.Path}: {Bytes(length)} bytes, sha256 verified");
            }

            return new FilePullResult(file.Path, PullOutcome.Fetched, origin, actual, length, source);
        }
        finally
        {
            if (File.Exists(temp))
            {
                File.Delete(temp);
            }
        }
    }

    private static AttuneInputException MirrorOnly(string setName, DataFile file) =>
        new($"{setName} can only be pulled from a mirror: {file.Derived ?? "the file has no public source"}; "
            + $"set {DataSettings.MirrorVariable} to a folder or http(s) server with the mirror layout (see docs/data.md)",
            file.Path);

    private async Task<(string Sha256, long Length)> DownloadAsync(DataFile file, string source, string temp, CancellationToken ct)
    {
        try
        {
            if (!DataSettings.TryHttpUri(source, out var uri))
            {
                if (!File.Exists(source))
                {
                    throw new AttuneInputException($"not in the mirror: {source} does not exist", file.Path);
                }

                await using var input = new FileStream(source, FileMode.Open, FileAccess.Read, FileShare.Read, 1 << 16, useAsync: true);
                return await CopyAsync(file, input, input.Length, temp, ct);
            }

            var http = _http ?? SharedHttp.Value;
            using var response = await http.GetAsync(uri, HttpCompletionOption.ResponseHeadersRead, ct);
            if (!response.IsSuccessStatusCode)
            {
                throw new AttuneInputException(
                    $"download failed: HTTP {(int)response.StatusCode} {response.ReasonPhrase} from {source}", file.Path);
            }

            await using var body = await response.Content.ReadAsStreamAsync(ct);
            return await CopyAsync(file, body, response.Content.Headers.ContentLength ?? file.Size, temp, ct);
        }
        catch (HttpRequestException ex)
        {
            throw new AttuneInputException($"download failed: {ex.Message} (from {source})", file.Path, inner: ex);
        }
        catch (IOException ex)
        {
            throw new AttuneInputException($"download failed: {ex.Message} (from {source})", file.Path, inner: ex);
        }
        catch (TaskCanceledException ex) when (!ct.IsCancellationRequested)
        {
            throw new AttuneInputException($"download timed out (from {source})", file.Path, inner: ex);
        }
    }

    private async Task<(string, long)> CopyAsync(DataFile file, Stream input, long? total, string temp, CancellationToken ct)
    {
        using var hash = IncrementalHash.CreateHash(HashAlgorithmName.SHA256);
        var buffer = new byte[1 << 16];
        long done = 0;
        var step = total is > 0 ? Math.Max(1, total.Value / ProgressSteps) : UnknownSizeProgressBytes;
        var nextReport = step;
        await using (var output = new FileStream(temp, FileMode.CreateNew, FileAccess.Write, FileShare.None, 1 << 16, useAsync: true))
        {
            int read;
            while ((read = await input.ReadAsync(buffer, ct)) > 0)
            {
                hash.AppendData(buffer, 0, read);
                await output.WriteAsync(buffer.AsMemory(0, read), ct);
                done += read;
                if (done >= nextReport && (total is null || done < total))
                {
                    _progress.WriteLine(total is > 0
                        ? $"{file.Path}: {Bytes(done)} of {Bytes(total.Value)} bytes ({100 * done / total.Value}%)"
                        : $"{file.Path}: {Bytes(done)} bytes");
                    while (nextReport <= done)
                    {
                        nextReport += step;
                    }
                }
            }

            await output.FlushAsync(ct);
        }

        return (Convert.ToHexStringLower(hash.GetHashAndReset()), done);
    }

    private static string Bytes(long n) => n.ToString("N0", CultureInfo.InvariantCulture);
}

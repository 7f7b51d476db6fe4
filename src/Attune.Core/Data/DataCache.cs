using System.Security.Cryptography;
using System.Text.Json;
using Attune.Core.IO;

namespace Attune.Core.Data;

/// <summary>How much of a data set is in the cache.</summary>
public enum CacheState
{
    /// <summary>No file is cached.</summary>
    Missing,

    /// <summary>Some files are cached.</summary>
    Partial,

    /// <summary>Every required file is cached.</summary>
    Complete,
}

/// <summary>A checksum recorded by the first pull of a file whose SHA-256 the manifest does not know.</summary>
public sealed record RecordedChecksum(string Sha256, long Size, string Source, DateTimeOffset RecordedAt);

/// <summary>
/// The cache folder: files at <c>Root/&lt;relative path&gt;</c> (the mirror layout), plus
/// <c>Root/recorded-sha256.json</c> with the checksums first pulls recorded.
/// </summary>
public sealed class DataCache
{
    /// <summary>The file, under the cache root, that holds checksums recorded on first use.</summary>
    public const string RecordedChecksumsFile = "recorded-sha256.json";

    private static readonly JsonSerializerOptions Json = new(JsonSerializerDefaults.Web) { WriteIndented = true };

    public DataCache(string root)
    {
        ArgumentException.ThrowIfNullOrWhiteSpace(root);
        Root = Path.GetFullPath(root);
    }

    public string Root { get; }

    /// <summary>The local path of <paramref name="file"/>.</summary>
    public string PathOf(DataFile file)
    {
        ArgumentNullException.ThrowIfNull(file);
        return Path.Combine(Root, file.Path.Replace('/', Path.DirectorySeparatorChar));
    }

    /// <summary>The local folder of <paramref name="dataSet"/>.</summary>
    public string FolderOf(DataSet dataSet)
    {
        ArgumentNullException.ThrowIfNull(dataSet);
        return Path.Combine(Root, dataSet.Folder);
    }

    /// <summary>The files of <paramref name="dataSet"/> present in the cache (a quick check: presence and known size, no hashing).</summary>
    public IReadOnlyList<DataFile> CachedFiles(DataSet dataSet)
    {
        ArgumentNullException.ThrowIfNull(dataSet);
        return [.. dataSet.Files.Where(f =>
        {
            var info = new FileInfo(PathOf(f));
            return info.Exists && (f.Size is null || info.Length == f.Size);
        })];
    }

    /// <summary>Whether <paramref name="dataSet"/> is cached: optional files do not count toward complete.</summary>
    public CacheState StateOf(DataSet dataSet)
    {
        var cached = CachedFiles(dataSet);
        if (cached.Count == 0)
        {
            return CacheState.Missing;
        }

        return dataSet.Files.Where(f => !f.Optional).All(cached.Contains) ? CacheState.Complete : CacheState.Partial;
    }

    /// <summary>The checksums recorded on first use, by relative path.</summary>
    public IReadOnlyDictionary<string, RecordedChecksum> RecordedChecksums()
    {
        var path = Path.Combine(Root, RecordedChecksumsFile);
        if (!File.Exists(path))
        {
            return new Dictionary<string, RecordedChecksum>(StringComparer.Ordinal);
        }

        try
        {
            return JsonSerializer.Deserialize<Dictionary<string, RecordedChecksum>>(File.ReadAllText(path), Json)
                   ?? new Dictionary<string, RecordedChecksum>(StringComparer.Ordinal);
        }
        catch (JsonException ex)
        {
            throw new Errors.AttuneInputException($"not a valid checksum record ({IO.JsonFile.Describe(ex)}); delete it to start again", path, ex.LineNumber + 1, inner: ex);
        }
    }

    /// <summary>Records the checksum of a file pulled for the first time (written atomically).</summary>
    public void Record(DataFile file, RecordedChecksum checksum)
    {
        ArgumentNullException.ThrowIfNull(file);
        var all = new Dictionary<string, RecordedChecksum>(RecordedChecksums(), StringComparer.Ordinal) { [file.Path] = checksum };
        AtomicFile.WriteAllText(Path.Combine(Root, RecordedChecksumsFile), JsonSerializer.Serialize(new SortedDictionary<string, RecordedChecksum>(all, StringComparer.Ordinal), Json) + "\n");
    }

    /// <summary>Lower-case hex SHA-256 of a file.</summary>
    public static async Task<string> Sha256Async(string path, CancellationToken cancellationToken = default)
    {
        await using var stream = new FileStream(path, FileMode.Open, FileAccess.Read, FileShare.Read, 1 << 16, useAsync: true);
        var hash = await SHA256.HashDataAsync(stream, cancellationToken);
        return Convert.ToHexStringLower(hash);
    }
}

using System.Text.Json.Serialization;

namespace Attune.Core.Data;

/// <summary>
/// One file of a data set. <see cref="Path"/> is relative and uses '/', and is the same in the cache,
/// in a mirror and in the project's shared reference folder (e.g. <c>bbq/Age.jsonl</c>).
/// </summary>
/// <param name="Path">Relative path in the cache and mirror layout.</param>
/// <param name="Upstream">Where the file lives publicly; null when no public file is byte-identical (see <paramref name="Derived"/>): then only a mirror can supply it.</param>
/// <param name="Sha256">Lower-case hex SHA-256; null when not known in advance (the first pull records it, see docs/data.md).</param>
/// <param name="Size">Size in bytes; null when not known in advance.</param>
/// <param name="Derived">Why this file differs from anything upstream, when it does.</param>
/// <param name="Optional">An optional file (a licence text supplied by the mirror) is skipped, with a warning, when it cannot be pulled without a mirror.</param>
public sealed record DataFile(
    string Path,
    Uri? Upstream,
    string? Sha256,
    long? Size,
    string? Derived = null,
    bool Optional = false)
{
    /// <summary>True when no public source holds this exact file, so only a mirror can supply it.</summary>
    [JsonIgnore]
    public bool MirrorOnly => Upstream is null;
}

/// <summary>A public data set: what it is, under what licence, and its files.</summary>
/// <param name="Name">The short name used on the command line (<c>attune data pull NAME</c>).</param>
/// <param name="Title">A human-readable title.</param>
/// <param name="Description">What the files hold.</param>
/// <param name="Licence">The data's licence, e.g. "CC BY 4.0".</param>
/// <param name="Homepage">Where the data set is published.</param>
/// <param name="Files">The files, in manifest order.</param>
/// <param name="Derived">Set when the data set as cached is not what upstream publishes (a conversion, a sample).</param>
public sealed record DataSet(
    string Name,
    string Title,
    string Description,
    string Licence,
    Uri Homepage,
    IReadOnlyList<DataFile> Files,
    string? Derived = null)
{
    /// <summary>The data set's folder in the cache layout: the first segment its files share (e.g. <c>bbq</c>).</summary>
    [JsonIgnore]
    public string Folder => Files.Count == 0 ? Name : Files[0].Path.Split('/')[0];

    /// <summary>True when at least one required file has no public source, so the set can only be pulled from a mirror.</summary>
    [JsonIgnore]
    public bool MirrorOnly => Files.Any(f => f.MirrorOnly && !f.Optional);

    /// <summary>The sum of the sizes that are known.</summary>
    [JsonIgnore]
    public long KnownBytes => Files.Sum(f => f.Size ?? 0);

    /// <summary>True when every file's SHA-256 is known in advance.</summary>
    [JsonIgnore]
    public bool AllChecksumsKnown => Files.All(f => f.Sha256 is not null);
}

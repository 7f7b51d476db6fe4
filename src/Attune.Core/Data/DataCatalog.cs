using System.Text.Json;
using System.Text.RegularExpressions;
using Attune.Core.Errors;

namespace Attune.Core.Data;

/// <summary>
/// The manifest of public data sets Attune knows how to pull. <see cref="Default"/> is the manifest
/// embedded in Attune.Core (<c>Data/datasets.json</c>); tests build their own with <see cref="Parse"/>.
/// </summary>
public sealed partial class DataCatalog
{
    private const string ResourceName = "Attune.Core.Data.datasets.json";

    private static readonly JsonSerializerOptions ManifestJson = new(JsonSerializerDefaults.Web)
    {
        AllowTrailingCommas = true,
        ReadCommentHandling = JsonCommentHandling.Skip,
    };

    private static readonly Lazy<DataCatalog> Embedded = new(LoadEmbedded);

    public DataCatalog(IEnumerable<DataSet> dataSets, string? note = null)
    {
        ArgumentNullException.ThrowIfNull(dataSets);
        DataSets = [.. dataSets];
        Note = note;
        Validate(DataSets, "manifest");
    }

    /// <summary>The manifest shipped with Attune.</summary>
    public static DataCatalog Default => Embedded.Value;

    public IReadOnlyList<DataSet> DataSets { get; }

    /// <summary>The manifest's note on where its checksums come from.</summary>
    public string? Note { get; }

    /// <summary>The known names, in manifest order.</summary>
    public IReadOnlyList<string> Names => [.. DataSets.Select(d => d.Name)];

    /// <summary>Reads a manifest; <paramref name="source"/> names it in error messages.</summary>
    public static DataCatalog Parse(string json, string source = "manifest")
    {
        Manifest? manifest;
        try
        {
            manifest = JsonSerializer.Deserialize<Manifest>(json, ManifestJson);
        }
        catch (JsonException ex)
        {
            throw new AttuneInputException($"not a valid data set manifest ({IO.JsonFile.Describe(ex)})", source, ex.LineNumber + 1, ex.Path, ex);
        }

        if (manifest?.Datasets is null)
        {
            throw new AttuneInputException("not a valid data set manifest (no 'datasets')", source);
        }

        Validate(manifest.Datasets, source);
        return new DataCatalog(manifest.Datasets, manifest.Note);
    }

    /// <summary>The data set named <paramref name="name"/> (case-insensitive); unknown names list the known ones.</summary>
    public DataSet Find(string name) =>
        TryFind(name) ?? throw new AttuneInputException($"unknown data set '{name}' (known: {string.Join(", ", Names)})");

    public DataSet? TryFind(string name) =>
        DataSets.FirstOrDefault(d => string.Equals(d.Name, name, StringComparison.OrdinalIgnoreCase));

    /// <summary>
    /// Resolves command-line selectors: a data set name, <c>all</c>, or one file by its manifest path
    /// (e.g. <c>bbq/Age.jsonl</c>). Selections of the same data set are merged, in manifest order.
    /// </summary>
    public IReadOnlyList<(DataSet DataSet, IReadOnlyList<DataFile> Files)> Select(IEnumerable<string> selectors)
    {
        ArgumentNullException.ThrowIfNull(selectors);
        var chosen = new Dictionary<string, HashSet<string>>(StringComparer.Ordinal);
        var any = false;
        foreach (var raw in selectors)
        {
            any = true;
            var selector = raw.Trim();
            if (string.Equals(selector, "all", StringComparison.OrdinalIgnoreCase))
            {
                foreach (var d in DataSets)
                {
                    chosen[d.Name] = [.. d.Files.Select(f => f.Path)];
                }

                continue;
            }

            var slash = selector.IndexOf('/', StringComparison.Ordinal);
            if (slash < 0)
            {
                var set = Find(selector);
                chosen[set.Name] = [.. set.Files.Select(f => f.Path)];
                continue;
            }

            var file = DataSets.SelectMany(d => d.Files.Select(f => (d, f)))
                .FirstOrDefault(p => string.Equals(p.f.Path, selector, StringComparison.OrdinalIgnoreCase));
            if (file.f is null)
            {
                var owner = TryFind(selector[..slash]) ?? DataSets.FirstOrDefault(d => string.Equals(d.Folder, selector[..slash], StringComparison.OrdinalIgnoreCase));
                throw owner is null
                    ? new AttuneInputException($"unknown data set '{selector[..slash]}' in '{selector}' (known: {string.Join(", ", Names)})")
                    : new AttuneInputException($"unknown file '{selector}' (files of {owner.Name}: {string.Join(", ", owner.Files.Select(f => f.Path))})");
            }

            if (!chosen.TryGetValue(file.d.Name, out var paths))
            {
                chosen[file.d.Name] = paths = new HashSet<string>(StringComparer.Ordinal);
            }

            paths.Add(file.f.Path);
        }

        if (!any)
        {
            throw new AttuneInputException($"name a data set to pull, or 'all' (known: {string.Join(", ", Names)})");
        }

        return [.. DataSets.Where(d => chosen.ContainsKey(d.Name))
            .Select(d => (d, (IReadOnlyList<DataFile>)[.. d.Files.Where(f => chosen[d.Name].Contains(f.Path))]))];
    }

    private static DataCatalog LoadEmbedded()
    {
        using var stream = typeof(DataCatalog).Assembly.GetManifestResourceStream(ResourceName)
            ?? throw new InvalidOperationException($"embedded resource {ResourceName} is missing");
        using var reader = new StreamReader(stream);
        return Parse(reader.ReadToEnd(), "datasets.json (embedded)");
    }

    private static void Validate(IReadOnlyList<DataSet> sets, string source)
    {
        var names = new HashSet<string>(StringComparer.OrdinalIgnoreCase);
        var paths = new Dictionary<string, DataFile>(StringComparer.Ordinal);
        foreach (var set in sets)
        {
            if (set is null || string.IsNullOrWhiteSpace(set.Name) || !NamePattern().IsMatch(set.Name) || set.Name == "all")
            {
                throw new AttuneInputException($"data set name '{set?.Name}' must be letters, digits, '-', '_' or '.' (and not 'all')", source, field: "name");
            }

            if (!names.Add(set.Name))
            {
                throw new AttuneInputException($"data set '{set.Name}' is listed twice", source, field: "name");
            }

            if (set.Files is null || set.Files.Count == 0)
            {
                throw new AttuneInputException($"data set '{set.Name}' has no files", source, field: "files");
            }

            foreach (var file in set.Files)
            {
                if (file is null || string.IsNullOrWhiteSpace(file.Path) || file.Path.StartsWith('/') || file.Path.Contains('\\', StringComparison.Ordinal)
                    || file.Path.Split('/').Any(s => s is "" or "." or ".."))
                {
                    throw new AttuneInputException($"data set '{set.Name}': file path '{file?.Path}' must be relative, with '/' and no '.' or '..' segments", source, field: "path");
                }

                if (file.Path.Split('/')[0] != set.Folder)
                {
                    throw new AttuneInputException($"data set '{set.Name}': file '{file.Path}' is not under the set's folder '{set.Folder}/'", source, field: "path");
                }

                if (file.Sha256 is not null && !Sha256Pattern().IsMatch(file.Sha256))
                {
                    throw new AttuneInputException($"data set '{set.Name}': file '{file.Path}' has a sha256 that is not 64 lower-case hex digits", source, field: "sha256");
                }

                if (file.Upstream is not null && (!file.Upstream.IsAbsoluteUri || (file.Upstream.Scheme != Uri.UriSchemeHttps && file.Upstream.Scheme != Uri.UriSchemeHttp)))
                {
                    throw new AttuneInputException($"data set '{set.Name}': file '{file.Path}' has an upstream that is not an http(s) URL", source, field: "upstream");
                }

                if (paths.TryGetValue(file.Path, out var other) && other != file)
                {
                    throw new AttuneInputException($"file '{file.Path}' is listed twice with different details", source, field: "path");
                }

                paths[file.Path] = file;
            }
        }
    }

    [GeneratedRegex("^[A-Za-z0-9._-]+$")]
    private static partial Regex NamePattern();

    [GeneratedRegex("^[0-9a-f]{64}$")]
    private static partial Regex Sha256Pattern();

    private sealed record Manifest(int Version, string? Note, IReadOnlyList<DataSet>? Datasets);
}

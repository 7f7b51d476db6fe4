namespace Attune.Core.Data;

/// <summary>
/// Where data sets are cached and where they are fetched from. Built from the environment by
/// <see cref="FromEnvironment"/>; the lookup is a function so tests can supply their own.
/// </summary>
/// <param name="CacheRoot">The cache folder; files live at <c>CacheRoot/&lt;relative path&gt;</c>.</param>
/// <param name="Mirror">
/// A local folder or an http(s) URL that replaces every upstream location: a file is fetched from
/// <c>Mirror + relative path</c>. Null: each file's upstream URL.
/// </param>
/// <param name="RequireKnownChecksums">Refuse files whose SHA-256 is neither in the manifest nor recorded by an earlier pull.</param>
public sealed record DataSettings(string CacheRoot, string? Mirror = null, bool RequireKnownChecksums = false)
{
    /// <summary>Overrides the cache folder.</summary>
    public const string CacheVariable = "ATTUNE_CACHE";

    /// <summary>Replaces the upstream base with a local folder or an http(s) URL.</summary>
    public const string MirrorVariable = "ATTUNE_DATA_MIRROR";

    /// <summary>
    /// The cache is <c>$ATTUNE_CACHE</c> when set, else <c>$XDG_CACHE_HOME/attune/data</c>, else
    /// <c>~/.cache/attune/data</c>; the mirror is <c>$ATTUNE_DATA_MIRROR</c>.
    /// </summary>
    public static DataSettings FromEnvironment(Func<string, string?>? environment = null)
    {
        environment ??= Environment.GetEnvironmentVariable;
        var mirror = environment(MirrorVariable);
        return new DataSettings(DefaultCacheRoot(environment), string.IsNullOrWhiteSpace(mirror) ? null : mirror.Trim());
    }

    /// <summary>The cache folder the environment implies (see <see cref="FromEnvironment"/>).</summary>
    public static string DefaultCacheRoot(Func<string, string?>? environment = null)
    {
        environment ??= Environment.GetEnvironmentVariable;
        var explicitRoot = environment(CacheVariable);
        if (!string.IsNullOrWhiteSpace(explicitRoot))
        {
            return Path.GetFullPath(explicitRoot);
        }

        var xdg = environment("XDG_CACHE_HOME");
        if (!string.IsNullOrWhiteSpace(xdg) && Path.IsPathRooted(xdg))
        {
            return Path.Combine(xdg, "attune", "data");
        }

        var home = environment("HOME");
        if (string.IsNullOrWhiteSpace(home))
        {
            home = Environment.GetFolderPath(Environment.SpecialFolder.UserProfile);
        }

        return Path.Combine(home, ".cache", "attune", "data");
    }

    /// <summary>True when the mirror is an http(s) URL rather than a folder.</summary>
    public bool MirrorIsUrl => Mirror is not null && TryHttpUri(Mirror, out _);

    /// <summary>Where <paramref name="file"/> is fetched from: a URL, a local path, or null when it has no source.</summary>
    public string? SourceOf(DataFile file)
    {
        ArgumentNullException.ThrowIfNull(file);
        if (Mirror is null)
        {
            return file.Upstream?.AbsoluteUri;
        }

        if (TryHttpUri(Mirror, out var baseUri))
        {
            var prefix = baseUri.AbsoluteUri.EndsWith('/') ? baseUri.AbsoluteUri : baseUri.AbsoluteUri + "/";
            return prefix + string.Join('/', file.Path.Split('/').Select(Uri.EscapeDataString));
        }

        var folder = Uri.TryCreate(Mirror, UriKind.Absolute, out var fileUri) && fileUri.IsFile ? fileUri.LocalPath : Mirror;
        return Path.GetFullPath(Path.Combine(folder, file.Path.Replace('/', Path.DirectorySeparatorChar)));
    }

    internal static bool TryHttpUri(string text, out Uri uri) =>
        Uri.TryCreate(text, UriKind.Absolute, out uri!) && (uri.Scheme == Uri.UriSchemeHttp || uri.Scheme == Uri.UriSchemeHttps);
}

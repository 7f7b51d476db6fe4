using System.CommandLine;
using System.Globalization;
using Attune.Core.Data;
using Attune.Core.Errors;

namespace Attune.Cli.Commands;

/// <summary>
/// <c>attune data list | pull | path</c>: the public data sets of the manifest, pulled into the cache
/// (<c>ATTUNE_CACHE</c>, else <c>$XDG_CACHE_HOME/attune/data</c>, else <c>~/.cache/attune/data</c>)
/// from their upstream homes or from <c>ATTUNE_DATA_MIRROR</c>.
/// </summary>
public sealed class DataCommands : ICommandModule
{
    public void AddCommands(CliApp app)
    {
        ArgumentNullException.ThrowIfNull(app);
        var data = app.AddGroup("data", "Public data sets: list them, pull them into the cache (SHA-256 checked), find them.");

        var list = new Command("list", "List the data sets: files, size, licence and whether they are cached.");
        app.SetAction(list, (ctx, _) => Task.FromResult(List(ctx)));
        data.Subcommands.Add(list);

        var names = new Argument<string[]>("names")
        {
            Arity = ArgumentArity.OneOrMore,
            Description = "Data set names, 'all', or single files by their manifest path (e.g. bbq/Age.jsonl).",
        };
        var strict = new Option<bool>("--strict") { Description = "Refuse files whose SHA-256 is not known in advance (instead of recording it on first use)." };
        var pull = new Command("pull", "Fetch data sets into the cache; progress on stderr.") { names, strict };
        app.SetAction(pull, (ctx, ct) => PullAsync(ctx, ctx.Get(names) ?? [], ctx.Get(strict), ct));
        data.Subcommands.Add(pull);

        var name = new Argument<string>("name") { Description = "A data set name." };
        var path = new Command("path", "Print the local folder of a pulled data set.") { name };
        app.SetAction(path, (ctx, _) => Task.FromResult(PathOf(ctx, ctx.Get(name)!)));
        data.Subcommands.Add(path);
    }

    private static DataSettings Settings(CommandContext ctx, bool strict = false) =>
        DataSettings.FromEnvironment(ctx.App.Environment) with { RequireKnownChecksums = strict };

    private static int List(CommandContext ctx)
    {
        var settings = Settings(ctx);
        var cache = new DataCache(settings.CacheRoot);
        var catalog = DataCatalog.Default;
        if (ctx.Json)
        {
            ctx.WriteJson(new
            {
                cache = cache.Root,
                mirror = settings.Mirror,
                note = catalog.Note,
                datasets = catalog.DataSets.Select(d =>
                {
                    var cached = cache.CachedFiles(d);
                    return new
                    {
                        name = d.Name,
                        title = d.Title,
                        description = d.Description,
                        licence = d.Licence,
                        homepage = d.Homepage,
                        folder = cache.FolderOf(d),
                        derived = d.Derived,
                        mirrorOnly = d.MirrorOnly,
                        knownBytes = d.KnownBytes,
                        allChecksumsKnown = d.AllChecksumsKnown,
                        cached = cache.StateOf(d).ToString().ToLowerInvariant(),
                        files = d.Files.Select(f => new
                        {
                            path = f.Path,
                            upstream = f.Upstream,
                            sha256 = f.Sha256,
                            size = f.Size,
                            derived = f.Derived,
                            optional = f.Optional,
                            cached = cached.Contains(f),
                        }),
                    };
                }),
            });
            return CliApp.Success;
        }

        var rows = new List<string[]> { new[] { "NAME", "FILES", "SIZE", "LICENCE", "CACHED", "NOTES" } };
        foreach (var d in catalog.DataSets)
        {
            var unknown = d.Files.Count(f => f.Size is null);
            var size = Size(d.KnownBytes) + (unknown > 0 ? "+" : "");
            var state = cache.StateOf(d) switch
            {
                CacheState.Complete => "yes",
                CacheState.Partial => $"partial ({cache.CachedFiles(d).Count}/{d.Files.Count})",
                _ => "no",
            };
            var notes = new List<string>();
            if (d.MirrorOnly)
            {
                notes.Add("mirror only (derived)");
            }

            var noHash = d.Files.Count(f => f.Sha256 is null);
            if (noHash > 0)
            {
                notes.Add($"{noHash} files without a known sha256");
            }

            rows.Add([d.Name, d.Files.Count.ToString(CultureInfo.InvariantCulture), size, d.Licence, state, string.Join("; ", notes)]);
        }

        WriteTable(ctx.Out, rows);
        ctx.Out.WriteLine();
        ctx.Out.WriteLine($"cache:  {cache.Root}");
        ctx.Out.WriteLine($"mirror: {settings.Mirror ?? "(none: upstream URLs)"}");
        return CliApp.Success;
    }

    private static async Task<int> PullAsync(CommandContext ctx, string[] selectors, bool strict, CancellationToken ct)
    {
        var settings = Settings(ctx, strict);
        var puller = new DataPuller(DataCatalog.Default, settings, progress: ctx.Err);
        var results = await puller.PullAsync(selectors, ct);
        if (ctx.Json)
        {
            ctx.WriteJson(new
            {
                cache = puller.Cache.Root,
                mirror = settings.Mirror,
                datasets = results.Select(r => new
                {
                    name = r.Name,
                    folder = r.Folder,
                    files = r.Files.Select(f => new
                    {
                        path = f.Path,
                        outcome = f.Outcome.ToString().ToLowerInvariant(),
                        checksum = f.Checksum switch
                        {
                            ChecksumSource.FirstUse => "first-use",
                            var c => c.ToString().ToLowerInvariant(),
                        },
                        sha256 = f.Sha256,
                        size = f.Size,
                        source = f.Source,
                    }),
                }),
            });
            return CliApp.Success;
        }

        foreach (var r in results)
        {
            var fetched = r.Files.Count(f => f.Outcome == PullOutcome.Fetched);
            var cached = r.Files.Count(f => f.Outcome == PullOutcome.Cached);
            var skipped = r.Files.Count(f => f.Outcome == PullOutcome.Skipped);
            var skippedText = skipped > 0 ? $", {skipped} skipped" : "";
            ctx.Out.WriteLine($"{r.Name}: {fetched} fetched, {cached} already cached{skippedText} -> {r.Folder}");
        }

        return CliApp.Success;
    }

    private static int PathOf(CommandContext ctx, string name)
    {
        var set = DataCatalog.Default.Find(name);
        var cache = new DataCache(Settings(ctx).CacheRoot);
        var state = cache.StateOf(set);
        if (state == CacheState.Missing)
        {
            throw new AttuneInputException($"data set '{set.Name}' is not pulled yet (no files in {cache.FolderOf(set)}); run 'attune data pull {set.Name}'");
        }

        if (state == CacheState.Partial)
        {
            ctx.Log($"warning: only {cache.CachedFiles(set).Count} of {set.Files.Count} files of {set.Name} are cached; run 'attune data pull {set.Name}' for the rest");
        }

        if (ctx.Json)
        {
            ctx.WriteJson(new { name = set.Name, path = cache.FolderOf(set), cached = state.ToString().ToLowerInvariant() });
        }
        else
        {
            ctx.Out.WriteLine(cache.FolderOf(set));
        }

        return CliApp.Success;
    }

    private static string Size(long bytes) => bytes switch
    {
        >= 1L << 20 => (bytes / 1048576.0).ToString("0.0", CultureInfo.InvariantCulture) + " MiB",
        >= 1L << 10 => (bytes / 1024.0).ToString("0.0", CultureInfo.InvariantCulture) + " KiB",
        _ => bytes.ToString(CultureInfo.InvariantCulture) + " B",
    };

    private static void WriteTable(TextWriter output, List<string[]> rows)
    {
        var widths = Enumerable.Range(0, rows[0].Length).Select(i => rows.Max(r => r[i].Length)).ToArray();
        foreach (var row in rows)
        {
            output.WriteLine(string.Join("  ", row.Select((cell, i) => i == row.Length - 1 ? cell : cell.PadRight(widths[i]))).TrimEnd());
        }
    }
}

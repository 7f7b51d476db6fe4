using System.CommandLine;
using Attune.Core.Errors;
using Attune.Core.IO;
using Attune.Studies;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting.Server;
using Microsoft.AspNetCore.Hosting.Server.Features;
using Microsoft.Extensions.DependencyInjection;

namespace Attune.Cli.Commands;

/// <summary><c>attune study serve|export</c>.</summary>
public sealed class StudyCommands : ICommandModule
{
    public void AddCommands(CliApp app)
    {
        var study = app.AddGroup("study", "Run bandit studies with real participants, and export their ratings.");

        var config = new Option<string>("--config") { Description = "The study's JSON config (see examples/studies/demo/study.json).", Required = true };
        var db = new Option<string?>("--db") { Description = "sqlite:PATH (default: study.db beside the config) or postgres:CONNECTION-STRING." };
        var urls = new Option<string>("--urls") { Description = "Addresses to listen on, separated by ';'.", DefaultValueFactory = _ => "http://127.0.0.1:5080" }.Urls();
        var serve = new Command("serve", "Serve the study: consent, rounds, questionnaire, completion; JSON API and admin export.") { config, db, urls };
        app.SetAction(serve, async (ctx, ct) =>
        {
            var path = ctx.Get(config)!;
            var cfg = StudyConfig.Load(path);
            var adminToken = ctx.App.Environment("ATTUNE_STUDY_ADMIN_TOKEN") is { Length: > 0 } env ? env : cfg.AdminToken;
            await using var store = await StudyStore.OpenAsync(DbSpec(ctx.Get(db), path), ct);
            var server = StudyServer.Build(new StudyServerOptions { Config = cfg, Store = store, Urls = ctx.Get(urls)!, AdminToken = adminToken });
            await Listening.ServeAsync(ctx.Get(urls)!, () => server.StartAsync(ct));
            var addresses = server.Services.GetRequiredService<IServer>().Features.Get<IServerAddressesFeature>()?.Addresses ?? [];
            ctx.Log($"study '{cfg.Id}' ({cfg.Conditions.Count} conditions, {cfg.Rounds} rounds) on {store.Kind}; listening on {string.Join(", ", addresses)}");
            if (string.IsNullOrEmpty(adminToken))
            {
                ctx.Log("warning: no admin token (ATTUNE_STUDY_ADMIN_TOKEN or admin_token in the config): the admin endpoints refuse every call");
            }

            try
            {
                await Task.Delay(Timeout.Infinite, ct);
            }
            catch (OperationCanceledException)
            {
                // Ctrl-C or SIGTERM: stop serving; every acknowledged rating is already committed.
            }

            await server.StopAsync(CancellationToken.None);
            await server.DisposeAsync();
            ctx.Log("stopped");
            return CliApp.Cancelled;
        });
        study.Subcommands.Add(serve);

        var format = new Option<string>("--format") { Description = "csv or jsonl.", DefaultValueFactory = _ => "csv" };
        var output = new Option<string?>("--out") { Description = "Write to this file (atomically) instead of stdout." }.OutputFile();
        var exportConfig = new Option<string?>("--config") { Description = "The study's config (to find the default database beside it)." };
        var export = new Command("export", "Export one row per rating (participant, platform ids, condition, round, arm, item, rating, time).") { exportConfig, db, format, output };
        app.SetAction(export, async (ctx, ct) =>
        {
            var cfgPath = ctx.Get(exportConfig);
            var spec = ctx.Get(db);
            if (spec is null && cfgPath is null)
            {
                throw new AttuneInputException("give --db sqlite:PATH|postgres:CONNSTR, or --config FILE to use the database beside it");
            }

            if (spec is null && !File.Exists(cfgPath))
            {
                throw AttuneInputException.FileNotFound(cfgPath!); // not null: checked with spec above
            }

            var fmt = ctx.Get(format);
            if (fmt is not ("csv" or "jsonl"))
            {
                throw new AttuneInputException($"--format '{fmt}': expected csv or jsonl");
            }

            spec = DbSpec(spec, cfgPath ?? "");
            if (spec.StartsWith("sqlite:", StringComparison.Ordinal) && !File.Exists(spec["sqlite:".Length..]))
            {
                throw new AttuneInputException("database not found", spec["sqlite:".Length..]);
            }

            await using var store = await StudyStore.OpenAsync(spec, ct);
            var rows = await store.ExportAsync(ct);
            var text = fmt == "csv" ? StudyExport.Csv(rows) : StudyExport.JsonLines(rows);
            if (ctx.Get(output) is { } file)
            {
                AtomicFile.WriteAllText(file, text);
                ctx.Log($"{rows.Count} ratings -> {file}");
                if (ctx.Json)
                {
                    ctx.WriteJson(new { ratings = rows.Count, format = fmt, out_file = Path.GetFullPath(file) });
                }
            }
            else if (ctx.Json)
            {
                // --json: one JSON document on stdout, the rows as an array of the JSON lines' objects.
                await ctx.Out.WriteLineAsync("[" + string.Join(",\n", StudyExport.JsonLines(rows).Split('\n', StringSplitOptions.RemoveEmptyEntries)) + "]");
            }
            else
            {
                await ctx.Out.WriteAsync(text);
            }

            return CliApp.Success;
        });
        study.Subcommands.Add(export);

        var benchConfig = new Option<string>("--config") { Description = "The study's JSON config.", Required = true };
        var benchDb = new Option<string[]>("--db")
        {
            Description = "Storage to measure; repeat for several (default: a fresh SQLite file in a temporary folder). "
                + "Each must be empty (no participant, rating or choice): a database that holds any is refused, unchanged.",
            AllowMultipleArgumentsPerToken = false,
        };
        var concurrency = new Option<string>("--concurrency") { Description = "Concurrent participants, comma-separated.", DefaultValueFactory = _ => "100,500" };
        var seconds = new Option<double>("--seconds") { Description = "Measured seconds per point (each after 2 s unmeasured; at least 0.5, at most 3600).", DefaultValueFactory = _ => 5 }.Above(0, 3600);
        var warmupSeconds = new Option<double>("--warmup")
        {
            Description = "Unmeasured seconds of the opening pass over every target (JIT and thread-pool warm-up); each measured point also starts with the lesser of this and 2 s unmeasured. 0 skips both: a quick check that the benchmark runs, not numbers to report.",
            DefaultValueFactory = _ => 5,
        };
        var rounds = new Option<int>("--rounds") { Description = "Measure every concurrency this many times (plain, study servers, plain again each time) and summarise the ratios: median, lowest, highest.", DefaultValueFactory = _ => 1 };
        var bench = new Command("bench", "Ratings per second and latency of the study server vs a plain ASP.NET endpoint, on loopback. "
            + "Every target first runs once unmeasured (JIT and thread pool warm-up); at each concurrency the plain endpoint is measured before and after the study servers and the ratio is to the mean of the two.")
        { benchConfig, benchDb, concurrency, seconds, warmupSeconds, rounds };
        app.SetAction(bench, async (ctx, ct) =>
        {
            var cfg = StudyConfig.Load(ctx.Get(benchConfig)!);
            foreach (var c in cfg.Conditions)
            {
                c.Slots = 1_000_000;
            }

            cfg.JoinRateLimitPerMinute = 10_000_000;
            var levels = (ctx.Get(concurrency) ?? "100,500").Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries)
                .Select(x => int.TryParse(x, out var n) && n is > 0 and <= StudyBenchmark.MaxConcurrency ? n : 0).ToList();
            if (levels.Count == 0 || levels.Contains(0))
            {
                // An upper bound: each participant is a task with its own client; ten million of them exhaust memory.
                throw new AttuneInputException($"--concurrency '{ctx.Get(concurrency)}': expected whole numbers from 1 to {StudyBenchmark.MaxConcurrency}, comma-separated");
            }

            var roundCount = ctx.Get(rounds) is var rc and > 0 and <= 100 ? rc : throw new AttuneInputException("--rounds: expected 1 to 100");
            var warmup = ctx.Get(warmupSeconds) is var w and >= 0 and <= 600 ? TimeSpan.FromSeconds(w) : throw new AttuneInputException("--warmup: expected 0 to 600 seconds");
            var pointWarmup = warmup < StudyBenchmark.DefaultWarmup ? warmup : StudyBenchmark.DefaultWarmup;
            var given = ctx.Get(benchDb) ?? [];

            // Before any work: a database that holds a study's rows is refused, and nothing in it is touched.
            foreach (var db in given)
            {
                await StudyBenchmark.RequireEmptyAsync(db, ct);
            }

            var temp = Path.Combine(Path.GetTempPath(), "attune-study-bench-" + Guid.NewGuid().ToString("N"));
            Directory.CreateDirectory(temp);
            var dbs = given.Length > 0 ? given : ["sqlite:" + Path.Combine(temp, "bench.db")];
            var duration = TimeSpan.FromSeconds(Math.Max(0.5, ctx.Get(seconds)));
            var results = new List<object>();
            var ratios = new Dictionary<(int Level, string Target), List<double>>();
            try
            {
                // One unmeasured pass over every target: the first server in a fresh process runs
                // on unoptimised (tier-0) code and a cold thread pool, which otherwise favours
                // whichever target is measured later.
                if (warmup > TimeSpan.Zero)
                {
                    ctx.Log("warm-up: every target once, unmeasured");
                    await StudyBenchmark.RunPlainAsync(levels[0], warmup, ct, TimeSpan.Zero);
                    foreach (var db in dbs)
                    {
                        await StudyBenchmark.RunStudyAsync(cfg, db, levels[0], warmup, ct, TimeSpan.Zero);
                    }
                }

                for (var round = 1; round <= roundCount; round++)
                {
                    foreach (var level in levels)
                    {
                        var of = roundCount > 1 ? $" (round {round} of {roundCount})" : "";
                        ctx.Log($"plain endpoint, {level} participants{of}");
                        var before = await StudyBenchmark.RunPlainAsync(level, duration, ct, pointWarmup);
                        var studies = new List<LoadResult>();
                        foreach (var db in dbs)
                        {
                            ctx.Log($"study server on {db.Split(':')[0]}, {level} participants{of}");
                            studies.Add(await StudyBenchmark.RunStudyAsync(cfg, db, level, duration, ct, pointWarmup));
                        }

                        ctx.Log($"plain endpoint again, {level} participants{of}");
                        var after = await StudyBenchmark.RunPlainAsync(level, duration, ct, pointWarmup);
                        var baseline = (before.RatingsPerSecond + after.RatingsPerSecond) / 2;
                        // No ratio when the plain endpoint completed no rating in a (very short) window.
                        double? Ratio(double x) => baseline > 0 ? x / baseline : null;
                        foreach (var plain in new[] { before with { Target = "plain endpoint (before)" }, after with { Target = "plain endpoint (after)" } })
                        {
                            results.Add(new { round, plain.Target, plain.Concurrency, plain.RatingsPerSecond, plain.P50Ms, plain.P99Ms, plain.Errors, ratio = Ratio(plain.RatingsPerSecond) });
                            Print(ctx, plain, Ratio(plain.RatingsPerSecond));
                        }

                        foreach (var r in studies)
                        {
                            var ratio = Ratio(r.RatingsPerSecond);
                            results.Add(new { round, r.Target, r.Concurrency, r.RatingsPerSecond, r.P50Ms, r.P99Ms, r.Errors, ratio });
                            Print(ctx, r, ratio);
                            if (ratio is { } measured)
                            {
                                (ratios.TryGetValue((level, r.Target), out var list) ? list : ratios[(level, r.Target)] = []).Add(measured);
                            }
                        }
                    }
                }
            }
            finally
            {
                Microsoft.Data.Sqlite.SqliteConnection.ClearAllPools();
                Directory.Delete(temp, recursive: true);
            }

            var summary = ratios.Where(kv => kv.Value.Count > 0).Select(kv =>
            {
                var sorted = kv.Value.Order().ToArray();
                var median = sorted.Length % 2 == 1 ? sorted[sorted.Length / 2] : (sorted[(sorted.Length / 2) - 1] + sorted[sorted.Length / 2]) / 2;
                return new { target = kv.Key.Target, concurrency = kv.Key.Level, rounds = sorted.Length, median_ratio = median, min_ratio = sorted[0], max_ratio = sorted[^1] };
            }).ToList();
            if (ctx.Json)
            {
                ctx.WriteJson(new { processors = Environment.ProcessorCount, seconds = duration.TotalSeconds, rounds = roundCount, results, summary });
            }
            else if (roundCount > 1)
            {
                ctx.Out.WriteLine($"ratio to the plain endpoint over {roundCount} rounds:");
                foreach (var s in summary)
                {
                    ctx.Out.WriteLine(System.FormattableString.Invariant(
                        $"{s.target,-44} {s.concurrency,5} participants  median {s.median_ratio:F2}  lowest {s.min_ratio:F2}  highest {s.max_ratio:F2}"));
                }
            }

            return CliApp.Success;
        });
        study.Subcommands.Add(bench);
    }

    private static void Print(CommandContext ctx, LoadResult r, double? ratio)
    {
        if (!ctx.Json)
        {
            ctx.Out.WriteLine(System.FormattableString.Invariant(
                $"{r.Target,-44} {r.Concurrency,5} participants {r.RatingsPerSecond,9:F0} ratings/s  p50 {r.P50Ms,7:F1} ms  p99 {r.P99Ms,7:F1} ms  errors {r.Errors}  ratio {(ratio is { } q ? q.ToString("F2", System.Globalization.CultureInfo.InvariantCulture) : "-")}"));
        }
    }

    private static string DbSpec(string? spec, string configPath) =>
        string.IsNullOrWhiteSpace(spec)
            ? "sqlite:" + Path.Combine(Path.GetDirectoryName(Path.GetFullPath(configPath)) ?? ".", "study.db")
            : spec;
}

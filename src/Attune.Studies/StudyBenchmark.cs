using System.Diagnostics;
using System.Globalization;
using System.Net.Http.Json;
using System.Text.Json;
using System.Text.Json.Nodes;
using System.Text.Json.Serialization;
using Attune.Core.Errors;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Hosting.Server;
using Microsoft.AspNetCore.Hosting.Server.Features;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;

namespace Attune.Studies;

/// <summary>One load measurement; the latency quantiles are null when no rating completed in the window (JSON has no NaN).</summary>
public sealed record LoadResult(
    [property: JsonPropertyName("target")] string Target,
    [property: JsonPropertyName("concurrency")] int Concurrency,
    [property: JsonPropertyName("seconds")] double Seconds,
    [property: JsonPropertyName("ratings")] long Ratings,
    [property: JsonPropertyName("ratings_per_second")] double RatingsPerSecond,
    [property: JsonPropertyName("p50_ms")] double? P50Ms,
    [property: JsonPropertyName("p99_ms")] double? P99Ms,
    [property: JsonPropertyName("errors")] long Errors);

/// <summary>
/// Closed-loop load on loopback: <c>concurrency</c> simulated participants each fetch their next
/// item and post a rating, round after round, joining afresh when they finish. The baseline is a
/// plain ASP.NET Core endpoint pair on the same machine in the same run (GET returns a fixed item,
/// POST parses the same JSON and answers with the same shape, no storage), so the ratio isolates
/// what the study server adds: its bandit replay, validation and durable storage.
/// </summary>
public static class StudyBenchmark
{
    /// <summary>The most concurrent participants one measured point simulates (each is a task with its own client).</summary>
    public const int MaxConcurrency = 10_000;

    /// <summary>
    /// Measures the study server on <paramref name="db"/>, which must hold no participant, rating or
    /// choice (see <see cref="RequireEmptyAsync"/>; checked before the store opens, since opening
    /// creates and migrates tables). The simulated participants join with a platform
    /// <c>study_id</c> of this run's own, and exactly those are deleted afterwards, so the database
    /// is empty again for the next point.
    /// </summary>
    public static async Task<LoadResult> RunStudyAsync(StudyConfig config, string db, int concurrency, TimeSpan duration, CancellationToken ct, TimeSpan? warmup = null)
    {
        ArgumentNullException.ThrowIfNull(config);
        await RequireEmptyAsync(db, ct);
        var tag = "attune-bench-" + Guid.NewGuid().ToString("N");
        await using var store = await StudyStore.OpenAsync(db, ct);
        try
        {
            return await MeasureAsync(config, store, db, tag, concurrency, duration, warmup, ct);
        }
        finally
        {
            await store.DeleteStudyIdAsync(tag, CancellationToken.None);
        }
    }

    /// <summary>
    /// Refuses (as bad input: exit 2 on the command line) a database that holds any participant,
    /// rating or choice: the benchmark adds simulated participants and deletes them again, which
    /// has no place in a study's data. The check reads only; nothing is created or changed.
    /// </summary>
    public static async Task RequireEmptyAsync(string db, CancellationToken ct)
    {
        ArgumentNullException.ThrowIfNull(db);
        var held = await StudyStore.CountStoredAsync(db, ct);
        if (!held.Empty)
        {
            var parts = new[] { Count(held.Participants, "participant"), Count(held.Ratings, "rating"), Count(held.Choices, "arm choice") }.Where(p => p is not null).ToArray();
            var what = parts.Length == 1 ? parts[0] : string.Join(", ", parts[..^1]) + " and " + parts[^1];
            throw new AttuneInputException(
                $"--db {StudyStore.Describe(db)} holds {what}; the benchmark adds and deletes participants, so it needs an empty database (nothing was changed): "
                + "give it a fresh SQLite file (e.g. --db sqlite:/tmp/attune-bench.db) or a scratch PostgreSQL database");
        }

        static string? Count(long n, string what) => n == 0 ? null : n == 1 ? $"1 {what}" : $"{n.ToString(CultureInfo.InvariantCulture)} {what}s";
    }

    private static async Task<LoadResult> MeasureAsync(StudyConfig config, StudyStore store, string db, string tag, int concurrency, TimeSpan duration, TimeSpan? warmup, CancellationToken ct)
    {
        var app = StudyServer.Build(new StudyServerOptions { Config = config, Store = store, Urls = "http://127.0.0.1:0", AdminToken = null });
        await app.StartAsync(ct);
        try
        {
            var address = Address(app);
            using var client = Client(address, concurrency);
            var kind = db.StartsWith("sqlite:", StringComparison.Ordinal) ? "sqlite (WAL, synchronous=FULL)" : "postgresql";
            return await DriveAsync($"study server, {kind}", concurrency, warmup ?? DefaultWarmup, duration, async (stats, token) =>
            {
                // Consent given, as a participant's page sends it after the consent text; the run's tag marks the rows to delete.
                using var joined = await client.PostAsJsonAsync("/api/participants", new { consent = true, study_id = tag }, token);
                if (!joined.IsSuccessStatusCode)
                {
                    stats.Record(0, ok: false);
                    return;
                }

                var me = await joined.Content.ReadFromJsonAsync<JsonElement>(token);
                var t = me.GetProperty("token").GetString();
                for (var round = 1; round <= config.Rounds && !token.IsCancellationRequested; round++)
                {
                    var next = await client.GetFromJsonAsync<JsonElement>($"/api/participants/{t}/next", token);
                    var clock = Stopwatch.StartNew();
                    if (next.GetProperty("stage").GetString() == "choose")
                    {
                        using var chose = await client.PostAsJsonAsync($"/api/participants/{t}/ratings",
                            new { round, arm = next.GetProperty("choices")[0].GetProperty("arm").GetString() }, token);
                        next = await chose.Content.ReadFromJsonAsync<JsonElement>(token);
                    }

                    using var rated = await client.PostAsJsonAsync($"/api/participants/{t}/ratings",
                        new { round, item_id = next.GetProperty("item").GetProperty("id").GetString(), rating = 1 + (round % 9) }, token);
                    stats.Record(clock.Elapsed.TotalMilliseconds, rated.IsSuccessStatusCode);
                }
            }, ct);
        }
        finally
        {
            await app.StopAsync(CancellationToken.None);
            await app.DisposeAsync();
        }
    }

    public static async Task<LoadResult> RunPlainAsync(int concurrency, TimeSpan duration, CancellationToken ct, TimeSpan? warmup = null)
    {
        var builder = WebApplication.CreateSlimBuilder();
        builder.Logging.SetMinimumLevel(LogLevel.Warning);
        builder.WebHost.UseUrls("http://127.0.0.1:0");
        var app = builder.Build();
        var item = new { round = 1, rounds = 10, done = false, stage = "rate", item = new { id = "riddle-1", arm = "riddles", title = "The keeper", text = "I have keys but open no doors." } };
        app.MapGet("/plain/{token}/next", (string token) => Results.Json(item));
        app.MapPost("/plain/{token}/ratings", async (string token, HttpContext http) =>
        {
            var body = await JsonNode.ParseAsync(http.Request.Body);
            return Results.Json(new { round = (int)body!["round"]! + 1, rounds = 10, done = false, stage = "rate", item = item.item });
        });
        await app.StartAsync(ct);
        try
        {
            using var client = Client(Address(app), concurrency);
            return await DriveAsync("plain ASP.NET Core endpoint", concurrency, warmup ?? DefaultWarmup, duration, async (stats, token) =>
            {
                for (var round = 1; round <= 10 && !token.IsCancellationRequested; round++)
                {
                    var next = await client.GetFromJsonAsync<JsonElement>("/plain/x/next", token);
                    var clock = Stopwatch.StartNew();
                    using var rated = await client.PostAsJsonAsync("/plain/x/ratings",
                        new { round, item_id = next.GetProperty("item").GetProperty("id").GetString(), rating = 5 }, token);
                    stats.Record(clock.Elapsed.TotalMilliseconds, rated.IsSuccessStatusCode);
                }
            }, ct);
        }
        finally
        {
            await app.StopAsync(CancellationToken.None);
            await app.DisposeAsync();
        }
    }

    private static Uri Address(WebApplication app) =>
        new(app.Services.GetRequiredService<IServer>().Features.Get<IServerAddressesFeature>()!.Addresses.First());

    private static HttpClient Client(Uri address, int concurrency) =>
        new(new SocketsHttpHandler { MaxConnectionsPerServer = concurrency, PooledConnectionLifetime = TimeSpan.FromMinutes(5) })
        {
            BaseAddress = address,
            Timeout = TimeSpan.FromSeconds(60),
        };

    private sealed class Stats
    {
        private readonly List<double> _latencies = new(1 << 16);
        private long _errors;

        public bool Measuring { get; set; }

        public void Record(double ms, bool ok)
        {
            if (!Measuring)
            {
                return;
            }

            if (!ok)
            {
                Interlocked.Increment(ref _errors);
                return;
            }

            lock (_latencies)
            {
                _latencies.Add(ms);
            }
        }

        public (double[] Sorted, long Errors) Snapshot()
        {
            lock (_latencies)
            {
                var a = _latencies.ToArray();
                Array.Sort(a);
                return (a, Interlocked.Read(ref _errors));
            }
        }
    }

    /// <summary>Unmeasured seconds at the start of each point.</summary>
    public static readonly TimeSpan DefaultWarmup = TimeSpan.FromSeconds(2);

    /// <summary>Runs the participants' loop for <paramref name="warmup"/> unmeasured, then measures for <paramref name="duration"/>.</summary>
    private static async Task<LoadResult> DriveAsync(string target, int concurrency, TimeSpan warmup, TimeSpan duration, Func<Stats, CancellationToken, Task> participant, CancellationToken ct)
    {
        var stats = new Stats();
        using var stop = CancellationTokenSource.CreateLinkedTokenSource(ct);
        var workers = Enumerable.Range(0, concurrency).Select(_ => Task.Run(async () =>
        {
            while (!stop.IsCancellationRequested)
            {
                try
                {
                    await participant(stats, stop.Token);
                }
                catch (OperationCanceledException) when (stop.IsCancellationRequested)
                {
                    return;
                }
                catch (Exception ex) when (ex is HttpRequestException or JsonException or KeyNotFoundException or InvalidOperationException)
                {
                    // A failed request or a non-JSON error reply: counted, and the participant starts over.
                    stats.Record(0, ok: false);
                }
            }
        }, CancellationToken.None)).ToArray();

        await Task.Delay(warmup, ct);
        stats.Measuring = true;
        var clock = Stopwatch.StartNew();
        await Task.Delay(duration, ct);
        stats.Measuring = false;
        var seconds = clock.Elapsed.TotalSeconds;
        await stop.CancelAsync();
        await Task.WhenAll(workers);
        var (sorted, errors) = stats.Snapshot();
        return new LoadResult(target, concurrency, seconds, sorted.Length, sorted.Length / seconds, Quantile(sorted, 0.5), Quantile(sorted, 0.99), errors);
    }

    private static double? Quantile(double[] sorted, double q) => sorted.Length == 0 ? null : Attune.Core.Statistics.Quantiles.NearestRank(sorted, q);
}

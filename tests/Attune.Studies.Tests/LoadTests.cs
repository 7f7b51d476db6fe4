using System.Collections.Concurrent;
using System.Diagnostics;
using System.Net;
using System.Net.Http.Json;
using System.Net.Sockets;
using System.Text.Json;
using Attune.Studies;

namespace Attune.Studies.Tests;

public class LoadTests
{
    private static StudyConfig Config() => TestEnvironment.Demo(c =>
    {
        foreach (var condition in c.Conditions)
        {
            condition.Slots = 40;
        }

        c.JoinRateLimitPerMinute = 100_000;
        c.AdminToken = RunningServer.AdminToken;
    });

    [Fact]
    public Task Two_hundred_participants_finish_concurrently_on_sqlite() => TwoHundred(null);

    [PostgresFact]
    public Task Two_hundred_participants_finish_concurrently_on_postgres() =>
        PostgresSerial.Run(() => TwoHundred("postgres:" + TestEnvironment.PostgresConnectionString));

    /// <summary>200 participants at once, each rating every round and resubmitting each rating once concurrently: no lost, no duplicated rating.</summary>
    private static async Task TwoHundred(string? db)
    {
        var config = Config();
        await using var server = await RunningServer.StartAsync(config, db);
        var participants = await Task.WhenAll(Enumerable.Range(0, 200).Select(i => ApiParticipant.JoinAsync(server.Client, new { prolific_pid = $"load{i}" })));
        var expected = new ConcurrentDictionary<(string, int), int>();
        await Task.WhenAll(participants.Select(async (p, i) =>
        {
            for (var r = 1; r <= config.Rounds; r++)
            {
                var next = await p.NextAsync();
                Assert.Equal(r, next.GetProperty("round").GetInt32());
                if (next.GetProperty("stage").GetString() == "choose")
                {
                    using var chose = await p.PostAsync(new { round = r, arm = next.GetProperty("choices")[(i + r) % 5].GetProperty("arm").GetString() });
                    next = await chose.Content.ReadFromJsonAsync<JsonElement>();
                }

                var body = new { round = r, item_id = next.GetProperty("item").GetProperty("id").GetString(), rating = 1 + ((i + r) % 9) };
                var twice = await Task.WhenAll(p.PostAsync(body), p.PostAsync(body));
                foreach (var response in twice)
                {
                    Assert.Equal(HttpStatusCode.OK, response.StatusCode);
                    response.Dispose();
                }

                expected[($"load{i}", r)] = body.rating;
            }
        }));

        var rows = await server.Store.ExportAsync(default);
        Assert.Equal(200 * config.Rounds, rows.Count);
        Assert.Equal(rows.Count, rows.Select(r => (r.Participant, r.Round)).Distinct().Count());
        foreach (var row in rows)
        {
            Assert.Equal(expected[(row.ProlificPid!, row.Round)], row.Rating);
        }

        var slots = rows.GroupBy(r => r.Condition).ToDictionary(g => g.Key, g => g.Select(r => r.Participant).Distinct().Count());
        Assert.All(slots.Values, n => Assert.InRange(n, 28, 29));
    }

    [Fact]
    public async Task Sigkill_mid_load_loses_no_acknowledged_rating_and_participants_resume()
    {
        var dir = TestEnvironment.TempDir();
        var configPath = Path.Combine(dir, "study.json");
        var config = Config();
        await File.WriteAllTextAsync(configPath, JsonSerializer.Serialize(config));
        var db = "sqlite:" + Path.Combine(dir, "study.db");
        var port = FreePort();
        using var client = new HttpClient { BaseAddress = new Uri($"http://127.0.0.1:{port}"), Timeout = TimeSpan.FromSeconds(30) };

        var server = await StartCliAsync(configPath, db, port, client);
        var participants = await Task.WhenAll(Enumerable.Range(0, 40).Select(_ => ApiParticipant.JoinAsync(client)));
        var acknowledged = new ConcurrentDictionary<(string Token, int Round), (string Item, int Rating)>();
        using var killAt = new CancellationTokenSource();
        var load = Task.WhenAll(participants.Select(async (p, i) =>
        {
            try
            {
                for (var r = 1; r <= config.Rounds; r++)
                {
                    var next = await p.NextAsync();
                    if (next.GetProperty("stage").GetString() == "choose")
                    {
                        using var chose = await p.PostAsync(new { round = r, arm = next.GetProperty("choices")[0].GetProperty("arm").GetString() });
                        next = await chose.Content.ReadFromJsonAsync<JsonElement>();
                    }

                    var item = next.GetProperty("item").GetProperty("id").GetString()!;
                    var rating = 1 + ((i * 7 + r) % 9);
                    using var response = await p.PostAsync(new { round = r, item_id = item, rating });
                    if (response.StatusCode == HttpStatusCode.OK)
                    {
                        acknowledged[(p.Token, r)] = (item, rating);
                        if (acknowledged.Count >= 120)
                        {
                            await killAt.CancelAsync();
                        }
                    }
                }
            }
            catch (Exception ex) when (ex is HttpRequestException or TaskCanceledException or JsonException or IOException)
            {
                // The server died under us: the loop ends here.
            }
        }));

        // SIGKILL in the middle of the load.
        await Task.WhenAny(load, Task.Delay(Timeout.Infinite, killAt.Token).ContinueWith(_ => { }, TaskScheduler.Default));
        server.Kill(entireProcessTree: true);
        await server.WaitForExitAsync();
        await load;
        Assert.True(acknowledged.Count >= 120, $"only {acknowledged.Count} ratings were acknowledged before the kill");
        Assert.True(acknowledged.Count < 40 * config.Rounds, "the load finished before the kill");

        server = await StartCliAsync(configPath, db, port, client);
        try
        {
            await using var store = await StudyStore.OpenAsync(db);
            var rows = await store.ExportAsync(default);
            Assert.Equal(rows.Count, rows.Select(r => (r.Participant, r.Round)).Distinct().Count());
            foreach (var p in participants)
            {
                var mine = acknowledged.Where(kv => kv.Key.Token == p.Token).OrderBy(kv => kv.Key.Round).ToList();
                var next = await p.NextAsync();
                // A participant who had rated every round is at the questionnaire (round null).
                var round = next.GetProperty("round").ValueKind == JsonValueKind.Null ? config.Rounds + 1 : next.GetProperty("round").GetInt32();

                // Every acknowledged round is stored; at most one more (committed, reply lost in the kill).
                Assert.InRange(round, mine.Count + 1, mine.Count + 2);
                using var check = await client.GetAsync($"/api/participants/{p.Token}/next");
                Assert.Equal(HttpStatusCode.OK, check.StatusCode);
                foreach (var ((_, r), (item, rating)) in mine)
                {
                    using var again = await p.PostAsync(new { round = r, item_id = item, rating });
                    Assert.Equal(HttpStatusCode.OK, again.StatusCode);
                }

                // And the participant can go on to the end.
                for (var r = round; r <= config.Rounds; r++)
                {
                    Assert.Equal(r, await p.RateCurrentAsync(5));
                }
            }

            var final = await store.ExportAsync(default);
            Assert.Equal(40 * config.Rounds, final.Count);
        }
        finally
        {
            server.Kill(entireProcessTree: true);
            await server.WaitForExitAsync();
            Directory.Delete(dir, recursive: true);
        }
    }

    private static int FreePort()
    {
        using var listener = new TcpListener(IPAddress.Loopback, 0);
        listener.Start();
        return ((IPEndPoint)listener.LocalEndpoint).Port;
    }

    /// <summary>The real <c>attune study serve</c> as a child process; waits (bounded) until it answers.</summary>
    private static async Task<Process> StartCliAsync(string config, string db, int port, HttpClient client)
    {
        // The CLI's own output folder (its deps.json resolves ASP.NET Core from the shared framework).
        var baseDir = new DirectoryInfo(AppContext.BaseDirectory.TrimEnd(Path.DirectorySeparatorChar));
        var cli = Path.Combine(TestEnvironment.RepoRoot, "src", "Attune.Cli", "bin", baseDir.Parent!.Name, baseDir.Name, "attune.dll");
        Assert.True(File.Exists(cli), $"{cli} not built");
        var info = new ProcessStartInfo("dotnet")
        {
            RedirectStandardError = true,
            RedirectStandardOutput = true,
            UseShellExecute = false,
        };
        foreach (var arg in (string[])[cli, "study", "serve", "--config", config, "--db", db, "--urls", $"http://127.0.0.1:{port}"])
        {
            info.ArgumentList.Add(arg);
        }

        var process = Process.Start(info)!;
        process.OutputDataReceived += (_, _) => { };
        process.ErrorDataReceived += (_, _) => { };
        process.BeginOutputReadLine();
        process.BeginErrorReadLine();
        var clock = Stopwatch.StartNew();
        while (clock.Elapsed < TimeSpan.FromSeconds(60))
        {
            try
            {
                using var health = await client.GetAsync("/healthz");
                if (health.IsSuccessStatusCode)
                {
                    return process;
                }
            }
            catch (HttpRequestException)
            {
            }

            Assert.False(process.HasExited, $"attune study serve exited with {(process.HasExited ? process.ExitCode : 0)}");
            await Task.Delay(100);
        }

        process.Kill(entireProcessTree: true);
        throw new TimeoutException("attune study serve did not answer within 60 s");
    }
}

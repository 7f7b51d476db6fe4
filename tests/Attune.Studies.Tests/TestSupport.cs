using System.Net.Http.Json;
using System.Text.Json;
using Attune.Studies;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting.Server;
using Microsoft.AspNetCore.Hosting.Server.Features;
using Microsoft.Extensions.DependencyInjection;
using Npgsql;

namespace Attune.Studies.Tests;

/// <summary>
/// Skips unless PostgreSQL answers at <see cref="TestEnvironment.PostgresConnectionString"/>; in CI
/// (<c>CI=true</c>) it never skips, so a missing server fails the run instead of hiding the tests.
/// </summary>
public sealed class PostgresFactAttribute : FactAttribute
{
    public PostgresFactAttribute()
    {
        if (!TestEnvironment.PostgresAvailable && !TestEnvironment.InCi)
        {
            Skip = $"PostgreSQL not reachable at '{TestEnvironment.PostgresConnectionString}' (set ATTUNE_TEST_POSTGRES; .ci/run starts it)";
        }
    }
}

/// <summary>Skips unless Debian's Chromium is installed at /usr/bin/chromium; in CI (<c>CI=true</c>) it never skips.</summary>
public sealed class ChromiumFactAttribute : FactAttribute
{
    public ChromiumFactAttribute()
    {
        if (!File.Exists(TestEnvironment.Chromium) && !TestEnvironment.InCi)
        {
            Skip = $"Chromium not installed at {TestEnvironment.Chromium} (apt-get install chromium; .ci/run installs it)";
        }
    }
}

public static class TestEnvironment
{
    public const string Chromium = "/usr/bin/chromium";

    /// <summary>Whether this is a CI run (<c>CI=true</c>), where a missing service fails rather than skips.</summary>
    public static bool InCi => string.Equals(Environment.GetEnvironmentVariable("CI"), "true", StringComparison.OrdinalIgnoreCase);

    public static string PostgresConnectionString =>
        Environment.GetEnvironmentVariable("ATTUNE_TEST_POSTGRES") is { Length: > 0 } cs ? cs
            : "Host=127.0.0.1;Port=5432;Username=attune;Password=attune;Database=attune_test;Timeout=15;Maximum Pool Size=60";

    private static readonly Lazy<bool> Postgres = new(() =>
    {
        try
        {
            using var conn = new NpgsqlConnection(new NpgsqlConnectionStringBuilder(PostgresConnectionString) { Timeout = 3 }.ConnectionString);
            conn.Open();
            return true;
        }
#pragma warning disable CA1031 // any failure means "not available": the tests skip
        catch (Exception)
#pragma warning restore CA1031
        {
            return false;
        }
    });

    public static bool PostgresAvailable => Postgres.Value;

    public static string RepoRoot
    {
        get
        {
            var dir = AppContext.BaseDirectory;
            while (dir is not null && !File.Exists(Path.Combine(dir, "Attune.slnx")))
            {
                dir = Path.GetDirectoryName(dir);
            }

            return dir ?? throw new InvalidOperationException("repository root not found");
        }
    }

    public static string DemoConfig => Path.Combine(RepoRoot, "examples", "studies", "demo", "study.json");

    public static StudyConfig Demo(Action<StudyConfig>? change = null)
    {
        var config = StudyConfig.Load(DemoConfig);
        change?.Invoke(config);
        return config;
    }

    public static string TempDir()
    {
        var dir = Path.Combine(Path.GetTempPath(), "attune-studies-tests", Guid.NewGuid().ToString("N"));
        Directory.CreateDirectory(dir);
        return dir;
    }
}

/// <summary>A real study server on 127.0.0.1 with a free port, for one test.</summary>
public sealed class RunningServer : IAsyncDisposable
{
    public const string AdminToken = "test-admin-token-0123456789";

    private RunningServer(WebApplication app, StudyStore store, Uri address, string? dir)
    {
        App = app;
        Store = store;
        Address = address;
        _dir = dir;
        Client = new HttpClient(new SocketsHttpHandler { MaxConnectionsPerServer = 1000, AllowAutoRedirect = false }) { BaseAddress = address, Timeout = TimeSpan.FromSeconds(60) };
    }

    private readonly string? _dir;

    public WebApplication App { get; }

    public StudyStore Store { get; }

    public Uri Address { get; }

    public HttpClient Client { get; }

    public static async Task<RunningServer> StartAsync(StudyConfig config, string? db = null)
    {
        string? dir = null;
        if (db is null)
        {
            dir = TestEnvironment.TempDir();
            db = "sqlite:" + Path.Combine(dir, "study.db");
        }

        var store = await StudyStore.OpenAsync(db);
        if (db.StartsWith("postgres:", StringComparison.Ordinal))
        {
            await store.ResetAsync();
        }

        var app = StudyServer.Build(new StudyServerOptions { Config = config, Store = store, Urls = "http://127.0.0.1:0", AdminToken = AdminToken });
        await app.StartAsync();
        var address = app.Services.GetRequiredService<IServer>().Features.Get<IServerAddressesFeature>()!.Addresses.First();
        return new RunningServer(app, store, new Uri(address), dir);
    }

    public async ValueTask DisposeAsync()
    {
        Client.Dispose();
        await App.StopAsync();
        await App.DisposeAsync();
        await Store.DisposeAsync();
        if (_dir is not null)
        {
            try
            {
                Directory.Delete(_dir, recursive: true);
            }
            catch (IOException)
            {
            }
        }
    }
}

/// <summary>A participant driving the JSON API.</summary>
public sealed class ApiParticipant(HttpClient client, string token, string condition)
{
    public string Token { get; } = token;

    public string Condition { get; } = condition;

    /// <summary>Joins through the JSON API with <paramref name="body"/>'s fields, and <c>"consent": true</c> unless the body sets consent.</summary>
    public static async Task<ApiParticipant> JoinAsync(HttpClient client, object? body = null)
    {
        var fields = JsonSerializer.SerializeToNode(body ?? new { })!.AsObject();
        fields.TryAdd("consent", true);
        using var response = await client.PostAsJsonAsync("/api/participants", fields);
        Assert.Equal(System.Net.HttpStatusCode.Created, response.StatusCode);
        var json = await response.Content.ReadFromJsonAsync<JsonElement>();
        return new ApiParticipant(client, json.GetProperty("token").GetString()!, json.GetProperty("condition").GetString()!);
    }

    public async Task<JsonElement> NextAsync() => await client.GetFromJsonAsync<JsonElement>($"/api/participants/{Token}/next");

    public Task<HttpResponseMessage> PostAsync(object body) => client.PostAsJsonAsync($"/api/participants/{Token}/ratings", body);

    /// <summary>Answers the current round (choosing the first offered arm where asked) with <paramref name="rating"/>; returns the round rated.</summary>
    public async Task<int> RateCurrentAsync(int rating)
    {
        var next = await NextAsync();
        var round = next.GetProperty("round").GetInt32();
        if (next.GetProperty("stage").GetString() == "choose")
        {
            using var chose = await PostAsync(new { round, arm = next.GetProperty("choices")[0].GetProperty("arm").GetString() });
            Assert.Equal(System.Net.HttpStatusCode.OK, chose.StatusCode);
            next = await chose.Content.ReadFromJsonAsync<JsonElement>();
        }

        using var response = await PostAsync(new { round, item_id = next.GetProperty("item").GetProperty("id").GetString(), rating });
        Assert.Equal(System.Net.HttpStatusCode.OK, response.StatusCode);
        return round;
    }
}

/// <summary>PostgreSQL tests on a schema of their own, which neither sees nor disturbs the shared test tables.</summary>
public static class PostgresScratch
{
    /// <summary>
    /// Runs <paramref name="test"/> with a database spec whose search path is a fresh schema of its
    /// own (so it neither sees nor disturbs the shared test tables), and a connection to it; drops
    /// the schema afterwards.
    /// </summary>
    public static async Task RunAsync(Func<string, NpgsqlConnection, Task> test)
    {
        var schema = "attune_scratch_" + Guid.NewGuid().ToString("N")[..12];
        var cs = new NpgsqlConnectionStringBuilder(TestEnvironment.PostgresConnectionString) { SearchPath = schema }.ConnectionString;
        await using var conn = new NpgsqlConnection(StudyStore.PostgresConnectionString(cs));
        await conn.OpenAsync();
        await using (var create = new NpgsqlCommand($"CREATE SCHEMA {schema}", conn))
        {
            await create.ExecuteNonQueryAsync();
        }

        try
        {
            await test("postgres:" + cs, conn);
        }
        finally
        {
            await using var drop = new NpgsqlCommand($"DROP SCHEMA {schema} CASCADE", conn);
            await drop.ExecuteNonQueryAsync();
        }
    }
}

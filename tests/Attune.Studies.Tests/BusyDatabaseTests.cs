using System.Data.Common;
using System.Net;
using System.Net.Http.Json;
using System.Text.Json;
using Microsoft.AspNetCore.Hosting.Server;
using Microsoft.AspNetCore.Hosting.Server.Features;
using Microsoft.Extensions.DependencyInjection;
using Npgsql;

namespace Attune.Studies.Tests;

/// <summary>
/// PostgreSQL connections run out (issue 23): the store's pool is sized from need, a request that
/// finds no connection after a bounded wait is 503 with Retry-After and a body, never 500, and
/// the participant's next request, once connections are free again, succeeds.
/// </summary>
public class BusyDatabaseTests
{
    [Fact]
    public void The_pool_is_sized_from_need_unless_the_connection_string_says_otherwise()
    {
        var sized = new NpgsqlConnectionStringBuilder(StudyStore.PostgresConnectionString("Host=127.0.0.1;Username=u;Database=d"));
        Assert.Equal(1 + StudyStore.ReadPoolSize, sized.MaxPoolSize);
        Assert.Equal(StudyStore.DefaultPoolWaitSeconds, sized.Timeout);
        var given = new NpgsqlConnectionStringBuilder(StudyStore.PostgresConnectionString("Host=127.0.0.1;Username=u;Database=d;Maximum Pool Size=40;Timeout=9"));
        Assert.Equal(40, given.MaxPoolSize);
        Assert.Equal(9, given.Timeout);
    }

    [Fact]
    public void A_server_without_a_free_slot_is_busy_other_refusals_are_not()
    {
        Assert.True(StoreBusyException.IsServerBusy(new PostgresException("sorry, too many clients already", "FATAL", "FATAL", "53300")));
        Assert.True(StoreBusyException.IsServerBusy(new PostgresException("the database system is starting up", "FATAL", "FATAL", "57P03")));
        Assert.False(StoreBusyException.IsServerBusy(new PostgresException("password authentication failed", "FATAL", "FATAL", "28P01")));
        Assert.NotNull(StoreBusyException.Find(new InvalidOperationException("wrapped", new StoreBusyException())));
    }

    [PostgresFact]
    public Task Exhausted_connections_are_503_with_Retry_After_and_the_participants_next_request_succeeds() =>
        PostgresScratch.RunAsync(async (db, _) =>
        {
            // A tiny pool (the writer and one reader) that waits one second for a free connection.
            var tiny = "postgres:" + new NpgsqlConnectionStringBuilder(db["postgres:".Length..]) { MaxPoolSize = 2, Timeout = 1 }.ConnectionString;
            var config = TestEnvironment.Demo();
            string token;
            await using (var first = await RunningServer.StartAsync(config, tiny))
            {
                token = (await ApiParticipant.JoinAsync(first.Client, new { prolific_pid = "busy1" })).Token;
            }

            // As after a restart: a fresh server (nothing cached) on the same database, whose every
            // pooled connection is then held on purpose.
            await using var store = await StudyStore.OpenAsync(tiny);
            await using var app = StudyServer.Build(new StudyServerOptions { Config = config, Store = store, Urls = "http://127.0.0.1:0" });
            await app.StartAsync();
            using var client = new HttpClient { BaseAddress = new Uri(app.Services.GetRequiredService<IServer>().Features.Get<IServerAddressesFeature>()!.Addresses.First()) };
            var held = new List<DbConnection>();
            try
            {
                while (true)
                {
                    try
                    {
                        held.Add(await store.OpenForTests(CancellationToken.None));
                    }
                    catch (StoreBusyException)
                    {
                        break;
                    }

                    Assert.True(held.Count <= 2, "the pool gave out more connections than its Maximum Pool Size");
                }

                using var busy = await client.GetAsync($"/api/participants/{token}/next");
                Assert.Equal(HttpStatusCode.ServiceUnavailable, busy.StatusCode);
                Assert.Equal(TimeSpan.FromSeconds(StoreBusyException.RetryAfterSeconds), busy.Headers.RetryAfter?.Delta);
                var error = (await busy.Content.ReadFromJsonAsync<JsonElement>()).GetProperty("error").GetString();
                Assert.Contains("try again", error, StringComparison.Ordinal);
            }
            finally
            {
                foreach (var conn in held)
                {
                    await conn.DisposeAsync();
                }
            }

            using var next = await client.GetAsync($"/api/participants/{token}/next");
            Assert.Equal(HttpStatusCode.OK, next.StatusCode);
            await app.StopAsync();
        });
}

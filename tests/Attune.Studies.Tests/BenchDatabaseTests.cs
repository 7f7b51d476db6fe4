using System.Security.Cryptography;
using System.Text.Json;
using Attune.Studies;
using Npgsql;
using static Attune.Cli.Tests.CliHarness;

namespace Attune.Studies.Tests;

/// <summary>
/// <c>attune study bench --db X</c> never touches a database that holds a study: it refuses it
/// (exit 2, one line) before any work, and on an empty one it removes what it added.
/// </summary>
public class BenchDatabaseTests
{
    /// <summary>Two participants of the self-selected condition: one chose and rated three rounds, one chose in round 1.</summary>
    private static StudyConfig Populated() => TestEnvironment.Demo(c => c.Conditions = [new ConditionConfig { Name = "self-selected", Slots = 5 }]);

    private static async Task PopulateAsync(string db)
    {
        await using var server = await RunningServer.StartAsync(Populated(), db);
        var first = await ApiParticipant.JoinAsync(server.Client, new { prolific_pid = "live-study-1" });
        for (var r = 1; r <= 3; r++)
        {
            await first.RateCurrentAsync(4 + r);
        }

        var second = await ApiParticipant.JoinAsync(server.Client, new { prolific_pid = "live-study-2" });
        var next = await second.NextAsync();
        using var chose = await second.PostAsync(new { round = 1, arm = next.GetProperty("choices")[0].GetProperty("arm").GetString() });
        Assert.Equal(System.Net.HttpStatusCode.OK, chose.StatusCode);
    }

    private static string[] Bench(string db, params string[] more) =>
        ["study", "bench", "--config", TestEnvironment.DemoConfig, "--db", db, "--concurrency", "2", "--seconds", "0.5", "--warmup", "0", .. more];

    private static string Refusal(string described) =>
        $"error: --db {described} holds 2 participants, 3 ratings and 4 arm choices; the benchmark adds and deletes participants, so it needs an empty database (nothing was changed): "
        + "give it a fresh SQLite file (e.g. --db sqlite:/tmp/attune-bench.db) or a scratch PostgreSQL database";

    [Fact]
    public async Task A_sqlite_database_that_holds_a_study_is_refused_and_left_byte_for_byte_unchanged()
    {
        var dir = TestEnvironment.TempDir();
        var path = Path.Combine(dir, "study.db");
        var db = "sqlite:" + path;
        await PopulateAsync(db);
        List<ExportRow> before;
        await using (var store = await StudyStore.OpenAsync(db))
        {
            before = await store.ExportAsync(default);
        }

        Assert.Equal(3, before.Count);
        var files = Directory.GetFiles(dir).Order().ToArray();
        var hash = Convert.ToHexString(SHA256.HashData(await File.ReadAllBytesAsync(path)));

        var (code, output, err) = await Run(Bench(db));

        Assert.Equal(2, code);
        Assert.Empty(output);
        Assert.Equal(Refusal(db), err.TrimEnd('\n')); // one line: refused before the warm-up's first log line
        Assert.Equal(hash, Convert.ToHexString(SHA256.HashData(await File.ReadAllBytesAsync(path))));
        Assert.Equal(files, Directory.GetFiles(dir).Order().ToArray());
        await using (var store = await StudyStore.OpenAsync(db))
        {
            Assert.Equal(before, await store.ExportAsync(default));
            Assert.Equal(new StoredCounts(2, 3, 4), await StudyStore.CountStoredAsync(db));
        }

        Directory.Delete(dir, recursive: true);
    }

    [PostgresFact]
    public Task A_postgres_database_that_holds_a_study_is_refused_and_left_unchanged() =>
        PostgresScratch.RunAsync(async (db, conn) =>
        {
            await PopulateAsync(db);

            // A foreign key as an earlier version made it: opening the store would drop it, so it
            // surviving shows the store was never opened (nor its tables created or migrated).
            await using (var fk = new NpgsqlCommand("ALTER TABLE ratings ADD CONSTRAINT bench_probe FOREIGN KEY (participant) REFERENCES participants(id)", conn))
            {
                await fk.ExecuteNonQueryAsync();
            }

            var before = await SnapshotAsync(conn);
            Assert.Contains("bench_probe", before, StringComparison.Ordinal);
            Assert.Contains("live-study-2", before, StringComparison.Ordinal);

            var (code, output, err) = await Run(Bench(db));

            Assert.Equal(2, code);
            Assert.Empty(output);
            Assert.Equal(Refusal(StudyStore.Describe(db)), err.TrimEnd('\n'));
            Assert.DoesNotContain("Password", err, StringComparison.OrdinalIgnoreCase);
            Assert.Equal(before, await SnapshotAsync(conn));
        });

    [Fact]
    public async Task An_empty_sqlite_file_is_measured_and_left_empty()
    {
        var dir = TestEnvironment.TempDir();
        var db = "sqlite:" + Path.Combine(dir, "bench.db");
        var (code, output, err) = await Run(Bench(db, "--json"));
        Assert.True(code == 0, err);
        AssertMeasured(output);
        Assert.Equal(default, await StudyStore.CountStoredAsync(db));
        Directory.Delete(dir, recursive: true);
    }

    [PostgresFact]
    public Task An_empty_postgres_database_is_measured_and_left_empty() =>
        PostgresScratch.RunAsync(async (db, conn) =>
        {
            var (code, output, err) = await Run(Bench(db, "--json"));
            Assert.True(code == 0, err);
            AssertMeasured(output);
            Assert.Equal(default, await StudyStore.CountStoredAsync(db));
        });

    /// <summary>The study server's point was measured with ratings and no errors (every simulated participant joined with consent).</summary>
    private static void AssertMeasured(string output)
    {
        var results = JsonDocument.Parse(output).RootElement.GetProperty("results").EnumerateArray().ToList();
        var study = Assert.Single(results, r => r.GetProperty("target").GetString()!.StartsWith("study server", StringComparison.Ordinal));
        Assert.True(study.GetProperty("ratingsPerSecond").GetDouble() > 0, output);
        Assert.Equal(0, study.GetProperty("errors").GetInt64());
    }

    /// <summary>Every row of the study's tables and the tables' constraints, as text.</summary>
    private static async Task<string> SnapshotAsync(NpgsqlConnection conn)
    {
        var lines = new List<string>();
        foreach (var sql in (string[])[
            "SELECT * FROM participants ORDER BY id", "SELECT * FROM ratings ORDER BY participant, round", "SELECT * FROM choices ORDER BY participant, round",
            "SELECT conrelid::regclass::text, conname, contype::text FROM pg_constraint WHERE connamespace = current_schema()::regnamespace ORDER BY 1, 2",
            "SELECT table_name, column_name FROM information_schema.columns WHERE table_schema = current_schema() ORDER BY 1, 2"])
        {
            await using var cmd = new NpgsqlCommand(sql, conn);
            await using var r = await cmd.ExecuteReaderAsync();
            while (await r.ReadAsync())
            {
                lines.Add(string.Join('|', Enumerable.Range(0, r.FieldCount).Select(i => r.IsDBNull(i) ? "∅" : Convert.ToString(r.GetValue(i), System.Globalization.CultureInfo.InvariantCulture))));
            }

            lines.Add("--");
        }

        return string.Join('\n', lines);
    }
}

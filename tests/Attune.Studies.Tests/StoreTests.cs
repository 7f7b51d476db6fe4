namespace Attune.Studies.Tests;

/// <summary>The store's group-commit writer called directly, many writes at once (so batches hold many).</summary>
public class StoreTests
{
    [Fact]
    public Task Concurrent_ratings_and_resubmissions_keep_the_first_stored_rating_on_sqlite() =>
        ConcurrentRatings("sqlite:" + Path.Combine(TestEnvironment.TempDir(), "store.db"));

    [PostgresFact]
    public Task Concurrent_ratings_and_resubmissions_keep_the_first_stored_rating_on_postgres() =>
        PostgresSerial.Run(() => ConcurrentRatings("postgres:" + TestEnvironment.PostgresConnectionString));

    [Fact]
    public Task A_failing_write_fails_alone_and_the_writer_goes_on_with_a_fresh_connection_on_sqlite() =>
        FailingWrite("sqlite:" + Path.Combine(TestEnvironment.TempDir(), "store-fail.db"));

    [PostgresFact]
    public Task A_failing_write_fails_alone_and_the_writer_goes_on_with_a_fresh_connection_on_postgres() =>
        PostgresSerial.Run(() => FailingWrite("postgres:" + TestEnvironment.PostgresConnectionString));

    [Fact]
    public Task Joins_choices_ratings_and_questionnaires_in_one_batch_on_sqlite() =>
        MixedBatch("sqlite:" + Path.Combine(TestEnvironment.TempDir(), "store-mixed.db"));

    [PostgresFact]
    public Task Joins_choices_ratings_and_questionnaires_in_one_batch_on_postgres() =>
        PostgresSerial.Run(() => MixedBatch("postgres:" + TestEnvironment.PostgresConnectionString));

    [Fact]
    public Task Rounds_stored_before_and_unknown_participants_in_one_batch_on_sqlite() =>
        HeldBatch("sqlite:" + Path.Combine(TestEnvironment.TempDir(), "store-held.db"));

    [PostgresFact]
    public Task Rounds_stored_before_and_unknown_participants_in_one_batch_on_postgres() =>
        PostgresSerial.Run(() => HeldBatch("postgres:" + TestEnvironment.PostgresConnectionString));

    [PostgresFact]
    public Task Postgres_foreign_keys_of_earlier_versions_are_dropped_and_the_insert_checks_the_participant() =>
        PostgresSerial.Run(async () =>
        {
            var db = "postgres:" + TestEnvironment.PostgresConnectionString;
            await using (var first = await StudyStore.OpenAsync(db))
            {
                await JoinAsync(first, 1);
            }

            await using var conn = await OpenPostgresAsync();
            async Task<long> ForeignKeys()
            {
                await using var count = new Npgsql.NpgsqlCommand(
                    "SELECT COUNT(*) FROM pg_constraint WHERE contype = 'f' AND conrelid IN ('ratings'::regclass, 'choices'::regclass)", conn);
                return (long)(await count.ExecuteScalarAsync())!;
            }

            // The tables as an earlier version made them.
            await using (var add = new Npgsql.NpgsqlCommand("""
                ALTER TABLE ratings ADD FOREIGN KEY (participant) REFERENCES participants(id);
                ALTER TABLE choices ADD FOREIGN KEY (participant) REFERENCES participants(id);
                """, conn))
            {
                await add.ExecuteNonQueryAsync();
            }

            Assert.Equal(2, await ForeignKeys());
            await using var store = await StudyStore.OpenAsync(db);
            Assert.Equal(0, await ForeignKeys());

            // Unknown participants are still refused, alone, with PostgreSQL's code for a foreign-key violation.
            var participants = await JoinAsync(store, 3);
            var good = participants.Select(p => store.AddChoiceAsync(p!.Id, 1, "riddles", CancellationToken.None)).ToList();
            var bad = store.AddChoiceAsync("no-such-participant", 1, "riddles", CancellationToken.None);
            var refused = await Assert.ThrowsAsync<Npgsql.PostgresException>(() => bad);
            Assert.Equal(Npgsql.PostgresErrorCodes.ForeignKeyViolation, refused.SqlState);
            Assert.Contains("no-such-participant", refused.Message, StringComparison.Ordinal);
            Assert.All(await Task.WhenAll(good), arm => Assert.Equal("riddles", arm));
        });

    [Fact]
    public async Task The_sqlite_writer_runs_every_batch_on_its_own_thread_not_on_the_thread_pool()
    {
        await using var store = await StudyStore.OpenAsync("sqlite:" + Path.Combine(TestEnvironment.TempDir(), "store-thread.db"));
        var threads = new System.Collections.Concurrent.ConcurrentBag<(string? Name, bool Pool)>();
        store.BeforeBatchForTests = () => threads.Add((Thread.CurrentThread.Name, Thread.CurrentThread.IsThreadPoolThread));
        var participants = await JoinAsync(store, 8);
        await Task.WhenAll(participants.Select((p, i) => Task.Run(() =>
            store.AddRatingAsync(p!.Id, new RatingRecord(1, "a", "item", 1 + i, At), completes: false, CancellationToken.None))));

        Assert.NotEmpty(threads);
        Assert.All(threads, t => Assert.Equal((StudyStore.WriterThreadName, false), t));
    }

    [PostgresFact]
    public Task The_postgres_writer_avoids_sequential_scans_on_its_own_connection_only() =>
        PostgresSerial.Run(async () =>
        {
            await using var store = await StudyStore.OpenAsync("postgres:" + TestEnvironment.PostgresConnectionString);
            Assert.Equal("off", await store.WriterSettingForTests("enable_seqscan"));

            // The setting is the writer session's own: another connection to the same database keeps the server's default.
            await using var other = await OpenPostgresAsync();
            await using var show = new Npgsql.NpgsqlCommand("SHOW enable_seqscan", other);
            Assert.Equal("on", (string?)await show.ExecuteScalarAsync());
        });

    [Fact]
    public async Task A_failure_of_the_writer_loop_itself_fails_waiting_and_later_writes_instead_of_hanging()
    {
        var store = await StudyStore.OpenAsync("sqlite:" + Path.Combine(TestEnvironment.TempDir(), "store-loop.db"));
        var participants = await JoinAsync(store, 2);
        store.BeforeBatchForTests = () => throw new InvalidOperationException("injected");
        var limit = TimeSpan.FromSeconds(30);

        var waiting = store.AddRatingAsync(participants[0]!.Id, new RatingRecord(1, "a", "item", 5, At), completes: false, CancellationToken.None);
        var failed = await Assert.ThrowsAsync<InvalidOperationException>(() => waiting.WaitAsync(limit));
        Assert.Equal("the study store's writer stopped: injected", failed.Message);

        var later = await Assert.ThrowsAsync<System.Threading.Channels.ChannelClosedException>(() =>
            store.AddRatingAsync(participants[1]!.Id, new RatingRecord(1, "a", "item", 5, At), completes: false, CancellationToken.None).WaitAsync(limit));
        Assert.Equal(failed, later.InnerException);
        await store.DisposeAsync().AsTask().WaitAsync(limit);
    }

    /// <summary>The tables as versions before consent was recorded made them, with one participant ("old-token") and a rating.</summary>
    private const string SchemaWithoutConsent = """
        CREATE TABLE participants (
          id TEXT PRIMARY KEY, token_hash TEXT NOT NULL UNIQUE, condition TEXT NOT NULL, seed INTEGER NOT NULL,
          prolific_pid TEXT, study_id TEXT, session_id TEXT, worker_id TEXT, assignment_id TEXT, hit_id TEXT,
          created_at TEXT NOT NULL, questionnaire TEXT, completed_at TEXT);
        CREATE TABLE ratings (participant TEXT NOT NULL, round INTEGER NOT NULL, arm TEXT NOT NULL, item_id TEXT NOT NULL, rating INTEGER NOT NULL, submitted_at TEXT NOT NULL, PRIMARY KEY (participant, round));
        CREATE TABLE choices (participant TEXT NOT NULL, round INTEGER NOT NULL, arm TEXT NOT NULL, PRIMARY KEY (participant, round));
        INSERT INTO participants (id, token_hash, condition, seed, prolific_pid, created_at) VALUES ('Pold', '{0}', 'cyclic', 7, 'old-pid', '2000-01-01T10:00:00.000000Z');
        INSERT INTO ratings VALUES ('Pold', 1, 'riddles', 'riddle-1', 6, '2000-01-01T10:01:00.000000Z');
        """;

    [Fact]
    public async Task A_sqlite_database_of_an_earlier_version_gains_the_consent_column_and_keeps_its_participants()
    {
        var path = Path.Combine(TestEnvironment.TempDir(), "store-old.db");
        await using (var conn = new Microsoft.Data.Sqlite.SqliteConnection($"Data Source={path};Pooling=False"))
        {
            await conn.OpenAsync();
            await using var cmd = conn.CreateCommand();
            cmd.CommandText = string.Format(System.Globalization.CultureInfo.InvariantCulture, SchemaWithoutConsent, StudyStore.HashToken("old-token"));
            await cmd.ExecuteNonQueryAsync();
        }

        await ConsentMigrated("sqlite:" + path);
    }

    [PostgresFact]
    public Task A_postgres_database_of_an_earlier_version_gains_the_consent_column_and_keeps_its_participants() =>
        PostgresScratch.RunAsync(async (db, conn) =>
        {
            await using (var cmd = new Npgsql.NpgsqlCommand(string.Format(System.Globalization.CultureInfo.InvariantCulture, SchemaWithoutConsent, StudyStore.HashToken("old-token")), conn))
            {
                await cmd.ExecuteNonQueryAsync();
            }

            await ConsentMigrated(db);
        });

    /// <summary>Opens (twice: the migration runs once) and checks the old participant and a new one.</summary>
    private static async Task ConsentMigrated(string db)
    {
        for (var open = 0; open < 2; open++)
        {
            await using var store = await StudyStore.OpenAsync(db);
            var old = (await store.LoadAsync("old-token", CancellationToken.None))!.Value;
            Assert.Equal(("Pold", "old-pid", (DateTimeOffset?)null, 6), (old.Participant.Id, old.Participant.ProlificPid, old.Participant.ConsentedAt, Assert.Single(old.Ratings).Rating));
            if (open == 0)
            {
                var created = await store.CreateParticipantAsync(OneCondition(5), "new-token", new PlatformIds("new-pid", null, null), At, CancellationToken.None);
                await store.AddRatingAsync(created!.Id, new RatingRecord(1, "riddles", "riddle-2", 3, At), completes: false, CancellationToken.None);
            }

            Assert.Equal(At, (await store.LoadAsync("new-token", CancellationToken.None))!.Value.Participant.ConsentedAt);
            var rows = await store.ExportAsync(CancellationToken.None);
            Assert.Equal([("old-pid", (DateTimeOffset?)null), ("new-pid", At)], rows.Select(r => (r.ProlificPid, r.ConsentedAt)));
        }
    }

    [Fact]
    public async Task Deleting_a_benchmark_runs_tag_deletes_its_participants_and_nothing_else()
    {
        var db = "sqlite:" + Path.Combine(TestEnvironment.TempDir(), "store-tag.db");
        await using var store = await StudyStore.OpenAsync(db);
        var config = OneCondition(10);
        var none = CancellationToken.None;
        var joined = await Task.WhenAll(((string?[])["attune-bench-run1", "live", "attune-bench-run1", null, "attune-bench-run2"]).Select((tag, i) =>
            store.CreateParticipantAsync(config, $"tag-{i}", new PlatformIds("pid" + i, tag, null), At, none)));
        foreach (var p in joined)
        {
            await store.AddChoiceAsync(p!.Id, 1, "riddles", none);
            await store.AddRatingAsync(p.Id, new RatingRecord(1, "riddles", "riddle-1", 5, At), completes: false, none);
        }

        Assert.Equal(2, await store.DeleteStudyIdAsync("attune-bench-run1"));
        Assert.Equal(new StoredCounts(3, 3, 3), await StudyStore.CountStoredAsync(db));
        Assert.Equal(["pid1", "pid3", "pid4"], (await store.ExportAsync(none)).Select(r => r.ProlificPid).Order());

        // The condition counts are read again: the deleted participants' slots are free.
        var more = await Task.WhenAll(Enumerable.Range(0, 8).Select(i => store.CreateParticipantAsync(config, $"more-{i}", new PlatformIds(null, null, null), null, none)));
        Assert.Equal(7, more.Count(p => p is not null));
    }

    [Theory]
    [InlineData("Host=127.0.0.1;Username=u", true)]
    [InlineData("Host=localhost;Port=5433;Username=u", true)]
    [InlineData("Host=[::1]:5432;Username=u", true)]
    [InlineData("Host=/var/run/postgresql;Username=u", true)]
    [InlineData("Host=127.0.0.1,localhost;Username=u", true)]
    [InlineData("Host=db.example.org;Username=u", false)]
    [InlineData("Host=127.0.0.1,db.example.org;Username=u", false)]
    [InlineData("Host=10.0.0.7;Username=u", false)]
    public void Postgres_connections_to_this_machine_skip_tls_and_prepare_automatically(string given, bool tlsOff)
    {
        var used = new Npgsql.NpgsqlConnectionStringBuilder(StudyStore.PostgresConnectionString(given));
        Assert.Equal(tlsOff ? Npgsql.SslMode.Disable : Npgsql.SslMode.Prefer, used.SslMode);
        Assert.Equal((32, 2), (used.MaxAutoPrepare, used.AutoPrepareMinUsages));
    }

    [Fact]
    public void Postgres_settings_the_connection_string_names_are_kept()
    {
        var used = new Npgsql.NpgsqlConnectionStringBuilder(StudyStore.PostgresConnectionString(
            "Host=127.0.0.1;Username=u;SSL Mode=Require;Max Auto Prepare=0;Auto Prepare Min Usages=5"));
        Assert.Equal((Npgsql.SslMode.Require, 0, 5), (used.SslMode, used.MaxAutoPrepare, used.AutoPrepareMinUsages));
        used = new Npgsql.NpgsqlConnectionStringBuilder(StudyStore.PostgresConnectionString("Host=localhost;Username=u;sslmode=prefer;MaxAutoPrepare=4"));
        Assert.Equal((Npgsql.SslMode.Prefer, 4, 5), (used.SslMode, used.MaxAutoPrepare, used.AutoPrepareMinUsages));
    }

    [PostgresFact]
    public Task The_store_talks_to_a_local_postgres_without_tls() =>
        PostgresSerial.Run(async () =>
        {
            await using var conn = await OpenPostgresAsync();
            await using var cmd = new Npgsql.NpgsqlCommand("SELECT ssl FROM pg_stat_ssl WHERE pid = pg_backend_pid()", conn);
            Assert.Equal(false, await cmd.ExecuteScalarAsync());
        });

    private static readonly DateTimeOffset At = new(2026, 11, 27, 12, 0, 0, TimeSpan.Zero);

    /// <summary>A connection of its own to the test database, with the settings the store would use.</summary>
    private static async Task<Npgsql.NpgsqlConnection> OpenPostgresAsync()
    {
        var conn = new Npgsql.NpgsqlConnection(StudyStore.PostgresConnectionString(TestEnvironment.PostgresConnectionString));
        await conn.OpenAsync();
        return conn;
    }

    /// <summary>The demo study with one condition, "cyclic", of <paramref name="slots"/> slots.</summary>
    private static StudyConfig OneCondition(int slots) =>
        TestEnvironment.Demo(c => c.Conditions = [new ConditionConfig { Name = "cyclic", Slots = slots }]);

    /// <summary>Empties the store and creates <paramref name="count"/> participants at once.</summary>
    private static async Task<ParticipantRecord?[]> JoinAsync(StudyStore store, int count, int slots = 100)
    {
        var config = OneCondition(slots);
        await store.ResetAsync();
        var ids = new PlatformIds(null, null, null);
        return await Task.WhenAll(Enumerable.Range(0, count).Select(i => store.CreateParticipantAsync(config, $"token-{i}", ids, At, CancellationToken.None)));
    }

    /// <summary>
    /// Holds the writer on one write while the writes under test queue up, so that they form one
    /// batch: resubmitted rounds (with other values), fresh rounds and a participant that does not
    /// exist. Each keeps its own semantics. PostgreSQL inserts a batch optimistically: a round
    /// stored before fails the batch, and its writes are retried one at a time; an unknown
    /// participant is refused inside the batch. SQLite's foreign key fails the batch instead.
    /// </summary>
    private static async Task HeldBatch(string db)
    {
        await using var store = await StudyStore.OpenAsync(db);
        var postgres = store.Kind == "postgres";
        var participants = await JoinAsync(store, 6);
        await Task.WhenAll(participants.Select((p, i) =>
            store.AddRatingAsync(p!.Id, new RatingRecord(1, "a", $"item-{i}", 1 + i, At), completes: false, CancellationToken.None)));

        async Task<(List<Task<RatingRecord>> Writes, int Retried)> InOneBatch(Func<List<Task<RatingRecord>>> submit)
        {
            using var entered = new SemaphoreSlim(0);
            using var release = new SemaphoreSlim(0);
            var hold = 1;
            store.BeforeBatchForTests = () =>
            {
                if (Interlocked.Exchange(ref hold, 0) == 1)
                {
                    entered.Release();
                    release.Wait();
                }
            };
            var retried = store.BatchesRetriedOneByOne;
            var trigger = store.AddRatingAsync(participants[5]!.Id, new RatingRecord(3, "c", "trigger", 9, At), completes: false, CancellationToken.None);
            Assert.True(await entered.WaitAsync(TimeSpan.FromSeconds(30)), "the writer did not take the first write");
            var writes = submit();
            release.Release();
            try
            {
                await Task.WhenAll(writes.Append(trigger)).WaitAsync(TimeSpan.FromSeconds(30));
            }
            catch (System.Data.Common.DbException)
            {
                // The unknown participant's write; checked by the caller.
            }

            Assert.Equal(9, (await trigger).Rating);
            return (writes, store.BatchesRetriedOneByOne - retried);
        }

        // Rounds stored before (other values resubmitted), fresh rounds, an unknown participant.
        var (writes, retried) = await InOneBatch(() =>
        [
            store.AddRatingAsync(participants[0]!.Id, new RatingRecord(1, "b", "other", 9, At.AddMinutes(1)), completes: false, CancellationToken.None),
            store.AddRatingAsync(participants[1]!.Id, new RatingRecord(1, "b", "other", 9, At.AddMinutes(1)), completes: false, CancellationToken.None),
            store.AddRatingAsync(participants[2]!.Id, new RatingRecord(2, "b", "item2-2", 4, At.AddMinutes(1)), completes: false, CancellationToken.None),
            store.AddRatingAsync(participants[3]!.Id, new RatingRecord(2, "b", "item2-3", 5, At.AddMinutes(1)), completes: true, CancellationToken.None),
            store.AddRatingAsync("no-such-participant", new RatingRecord(1, "a", "item-x", 5, At), completes: false, CancellationToken.None),
        ]);
        Assert.Equal(1, retried);
        Assert.Equal(("a", "item-0", 1, At), ((await writes[0]).Arm, (await writes[0]).ItemId, (await writes[0]).Rating, (await writes[0]).SubmittedAt));
        Assert.Equal(("a", "item-1", 2, At), ((await writes[1]).Arm, (await writes[1]).ItemId, (await writes[1]).Rating, (await writes[1]).SubmittedAt));
        Assert.Equal(("item2-2", 4), ((await writes[2]).ItemId, (await writes[2]).Rating));
        Assert.Equal(("item2-3", 5), ((await writes[3]).ItemId, (await writes[3]).Rating));
        var refused = await Assert.ThrowsAnyAsync<System.Data.Common.DbException>(() => writes[4]);
        if (postgres)
        {
            Assert.Equal(Npgsql.PostgresErrorCodes.ForeignKeyViolation, Assert.IsType<Npgsql.PostgresException>(refused).SqlState);
        }

        // Fresh rounds and an unknown participant only: PostgreSQL refuses the unknown one inside the batch.
        (writes, retried) = await InOneBatch(() =>
        [
            store.AddRatingAsync(participants[0]!.Id, new RatingRecord(2, "c", "item3-0", 7, At), completes: false, CancellationToken.None),
            store.AddRatingAsync("no-such-participant", new RatingRecord(2, "a", "item-y", 5, At), completes: false, CancellationToken.None),
            store.AddRatingAsync(participants[1]!.Id, new RatingRecord(2, "c", "item3-1", 8, At), completes: false, CancellationToken.None),
        ]);
        Assert.Equal(postgres ? 0 : 1, retried);
        Assert.Equal((7, 8), ((await writes[0]).Rating, (await writes[2]).Rating));
        await Assert.ThrowsAnyAsync<System.Data.Common.DbException>(() => writes[1]);

        // What is stored: the first rating of each round, nothing of the unknown participant, one completion.
        var rows = await store.ExportAsync(CancellationToken.None);
        Assert.Equal(6 + 1 + 2 + 2, rows.Count);
        Assert.DoesNotContain(rows, r => r.ItemId is "other" or "item-x" or "item-y");
        Assert.Equal(1, (await store.ProgressAsync(CancellationToken.None)).Sum(c => c.Completed));
    }

    private static async Task FailingWrite(string db)
    {
        await using var store = await StudyStore.OpenAsync(db);
        var participants = await JoinAsync(store, 20);

        // A rating of a participant that does not exist breaks the foreign key; queued with 20 good ones.
        var writes = participants.Select((p, i) => store.AddRatingAsync(p!.Id, new RatingRecord(1, "a", $"item-{i}", 5, At), completes: false, CancellationToken.None)).ToList();
        var bad = store.AddRatingAsync("no-such-participant", new RatingRecord(1, "a", "item-x", 5, At), completes: false, CancellationToken.None);
        await Assert.ThrowsAnyAsync<System.Data.Common.DbException>(() => bad);
        var stored = await Task.WhenAll(writes);
        Assert.All(stored, r => Assert.Equal(5, r.Rating));

        // The store still writes (on a reopened connection) and reads what it wrote.
        var next = await store.AddRatingAsync(participants[0]!.Id, new RatingRecord(2, "b", "item-next", 7, At), completes: false, CancellationToken.None);
        Assert.Equal(7, next.Rating);
        var rows = await store.ExportAsync(CancellationToken.None);
        Assert.Equal(21, rows.Count);
        Assert.DoesNotContain(rows, r => r.ItemId == "item-x");
    }

    private static async Task ConcurrentRatings(string db)
    {
        await using var store = await StudyStore.OpenAsync(db);
        var participants = await JoinAsync(store, 60);

        // Round 1 for everyone at once; the last 20 also complete.
        var first = await Task.WhenAll(participants.Select((p, i) =>
            store.AddRatingAsync(p!.Id, new RatingRecord(1, "a", $"item-{i}", 1 + (i % 9), At), completes: i >= 40, CancellationToken.None)));
        Assert.All(first, (r, i) => Assert.Equal(1 + (i % 9), r.Rating));

        // Resubmissions of round 1 with other ratings, mixed with fresh round-2 ratings: the stored round 1 comes back unchanged.
        var second = await Task.WhenAll(participants.Select((p, i) => i % 2 == 0
            ? store.AddRatingAsync(p!.Id, new RatingRecord(1, "b", "other", 9 - (i % 9), At.AddMinutes(1)), completes: false, CancellationToken.None)
            : store.AddRatingAsync(p!.Id, new RatingRecord(2, "b", $"item2-{i}", 5, At.AddMinutes(1)), completes: false, CancellationToken.None)));
        for (var i = 0; i < participants.Length; i++)
        {
            if (i % 2 == 0)
            {
                Assert.Equal((1, "a", $"item-{i}", 1 + (i % 9)), (second[i].Round, second[i].Arm, second[i].ItemId, second[i].Rating));
                Assert.Equal(At, second[i].SubmittedAt);
            }
            else
            {
                Assert.Equal((2, 5), (second[i].Round, second[i].Rating));
            }
        }

        var rows = await store.ExportAsync(CancellationToken.None);
        Assert.Equal(60 + 30, rows.Count);
        Assert.Equal(60, rows.Count(r => r.Round == 1 && r.Arm == "a"));
        var progress = await store.ProgressAsync(CancellationToken.None);
        Assert.Equal(20, progress.Sum(p => p.Completed));
    }

    /// <summary>
    /// Every kind of write queued at once, so batches mix them: arm choices (some resubmitted with
    /// another arm), ratings that complete, questionnaires (on PostgreSQL the batch then runs in an
    /// explicit transaction) and joins, five more than the study has slots for.
    /// </summary>
    private static async Task MixedBatch(string db)
    {
        await using var store = await StudyStore.OpenAsync(db);
        var participants = (await JoinAsync(store, 30, slots: 35)).Select(p => p!).ToArray();
        var config = OneCondition(35);
        var none = CancellationToken.None;

        var chosen = await Task.WhenAll(participants.Select((p, i) => store.AddChoiceAsync(p.Id, 1, i % 2 == 0 ? "a" : "b", none)));
        Assert.All(chosen, (arm, i) => Assert.Equal(i % 2 == 0 ? "a" : "b", arm));

        var rechosen = participants.Take(10).Select(p => store.AddChoiceAsync(p.Id, 1, "c", none)).ToArray();
        var fresh = participants.Take(10).Select(p => store.AddChoiceAsync(p.Id, 2, "c", none)).ToArray();
        var rated = participants.Skip(10).Take(10).Select((p, i) =>
            store.AddRatingAsync(p.Id, new RatingRecord(1, "a", $"item-{i}", 3, At), completes: true, none)).ToArray();
        var answered = participants.Skip(20).Select(p => store.SaveQuestionnaireAsync(p.Id, "{\"q\":1}", none)).ToArray();
        var joined = Enumerable.Range(0, 10).Select(i => store.CreateParticipantAsync(config, $"late-{i}", new PlatformIds("pid" + i, null, null), null, none)).ToArray();
        await Task.WhenAll([.. rechosen, .. fresh, .. rated, .. answered, .. joined]);

        Assert.All(rechosen, (t, i) => Assert.Equal(i % 2 == 0 ? "a" : "b", t.Result));
        Assert.All(fresh, t => Assert.Equal("c", t.Result));
        Assert.All(rated, t => Assert.Equal(3, t.Result.Rating));
        Assert.Equal(5, joined.Count(t => t.Result is not null));
        Assert.Equal(5, joined.Count(t => t.Result is null));

        var progress = await store.ProgressAsync(none);
        Assert.Equal((35, 20, 10L), (progress.Sum(p => p.Joined), progress.Sum(p => p.Completed), progress.Sum(p => p.Ratings)));

        var first = await store.LoadAsync("token-0", none);
        Assert.Equal(("a", "c"), (first!.Value.Choices[1], first.Value.Choices[2]));
        var late = joined.Select((t, i) => (t.Result, i)).First(x => x.Result is not null);
        var loaded = await store.LoadAsync($"late-{late.i}", none);
        Assert.Equal((late.Result!.Id, "cyclic", "pid" + late.i), (loaded!.Value.Participant.Id, loaded.Value.Participant.Condition, loaded.Value.Participant.ProlificPid));
    }
}

using System.Data.Common;
using System.Globalization;
using System.Security.Cryptography;
using System.Text;
using System.Threading.Channels;
using Attune.Core.Errors;
using Microsoft.Data.Sqlite;
using Npgsql;

namespace Attune.Studies;

/// <summary>One exported rating row; <see cref="ConsentedAt"/> is the participant's (see <see cref="ParticipantRecord"/>).</summary>
public sealed record ExportRow(
    string Participant, string? ProlificPid, string? StudyId, string? SessionId, string? WorkerId, string? AssignmentId, string? HitId,
    string Condition, int Round, string Arm, string ItemId, int Rating, DateTimeOffset SubmittedAt, DateTimeOffset? ConsentedAt);

/// <summary>What a study database holds: participants, ratings and arm choices (0 where a table does not exist).</summary>
public readonly record struct StoredCounts(long Participants, long Ratings, long Choices)
{
    public bool Empty => Participants == 0 && Ratings == 0 && Choices == 0;
}

/// <summary>Platform ids recorded at join (Prolific and MTurk URL parameters); nothing else personal is stored.</summary>
public sealed record PlatformIds(string? ProlificPid, string? StudyId, string? SessionId, string? WorkerId = null, string? AssignmentId = null, string? HitId = null);

/// <summary>
/// Participants, ratings and arm choices in SQLite (WAL, synchronous=FULL: a rating acknowledged
/// is on disk) or PostgreSQL. Tokens are stored only as SHA-256 hashes. Writes that could race
/// are single SQL statements with a uniqueness constraint (<c>ON CONFLICT DO NOTHING</c>), so a
/// resubmitted round can never be stored twice.
/// </summary>
public sealed class StudyStore : IAsyncDisposable
{
    private readonly DbDataSource _source;
    private readonly bool _sqlite;

    private readonly Channel<WriteOp> _writes = Channel.CreateUnbounded<WriteOp>(new UnboundedChannelOptions { SingleReader = true });
    private readonly Task _writer;

    /// <summary>Participants per condition, owned by the writer loop; null until read from the database.</summary>
    private Dictionary<string, int>? _conditionCounts;

    /// <summary>The writer loop's own connection, kept open between batches; dropped (and reopened) after a failed batch.</summary>
    private DbConnection? _writeConnection;

    /// <summary>SQLite: the frequent writes' statements, prepared once on <see cref="_writeConnection"/>.</summary>
    private SqliteStatements? _sqliteStatements;

    /// <summary>SQLite: the managed id of the writer's own thread (0 for PostgreSQL, whose writer runs on the thread pool).</summary>
    private int _writerThreadId;

    /// <summary>The name of the SQLite writer's thread.</summary>
    internal const string WriterThreadName = "attune-study-writer";

    private StudyStore(DbDataSource source, bool sqlite)
    {
        _source = source;
        _sqlite = sqlite;
        if (!sqlite)
        {
            _writer = Task.Run(WriteLoopAsync);
            return;
        }

        // SQLite's calls are synchronous (its async methods block until done), so its writer gets a
        // thread of its own: blocked in a commit's fsync, it does not hold a thread-pool worker that
        // request handling needs, nor disturb the pool's sizing (measured in docs/studies.md,
        // Benchmarks).
        var done = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        var thread = new Thread(() =>
        {
            _writerThreadId = Environment.CurrentManagedThreadId;
            try
            {
                // If a write ever completed asynchronously, the loop would go on on the thread pool
                // and this thread would just wait for it: slower, still correct.
                WriteLoopAsync().GetAwaiter().GetResult();
                done.TrySetResult();
            }
#pragma warning disable CA1031 // handed to whoever awaits the writer
            catch (Exception ex)
            {
                done.TrySetException(ex);
            }
#pragma warning restore CA1031
        })
        {
            IsBackground = true,
            Name = WriterThreadName,
        };
        thread.Start();
        _writer = done.Task;
    }

    /// <summary>
    /// One write: runs inside the batch's transaction; its task completes after the commit. The
    /// frequent writes are data (<see cref="Rating"/>, <see cref="Choice"/>, <see cref="Join"/>) that
    /// the batch stores with statements of its own (SQLite: prepared once; PostgreSQL: one statement
    /// per kind for the whole batch, all sent in one round trip); the rare ones are a <see cref="Run"/>.
    /// </summary>
    private sealed record WriteOp(TaskCompletionSource<object?> Done)
    {
        public Func<DbConnection, DbTransaction, Task<object?>>? Run { get; init; }

        public RatingWrite? Rating { get; init; }

        public ChoiceWrite? Choice { get; init; }

        public JoinWrite? Join { get; init; }
    }

    private sealed record RatingWrite(string Participant, RatingRecord Rating, bool Completes);

    private sealed record ChoiceWrite(string Participant, int Round, string Arm);

    private sealed record JoinWrite(StudyConfig Config, string TokenHash, PlatformIds Ids, DateTimeOffset? ConsentedAt);

    public string Kind => _sqlite ? "sqlite" : "postgres";

    /// <summary>Opens <c>sqlite:PATH</c> or <c>postgres:CONNECTION-STRING</c> and creates the tables.</summary>
    public static async Task<StudyStore> OpenAsync(string spec, CancellationToken ct = default)
    {
        ArgumentNullException.ThrowIfNull(spec);
        StudyStore store;
        if (spec.StartsWith("sqlite:", StringComparison.Ordinal))
        {
            var path = spec["sqlite:".Length..];
            var builder = new SqliteConnectionStringBuilder { DataSource = path, Pooling = true, DefaultTimeout = 30, ForeignKeys = true };
            store = new StudyStore(new SqliteSource(builder.ToString()), sqlite: true);
        }
        else if (spec.StartsWith("postgres:", StringComparison.Ordinal) || spec.StartsWith("postgresql:", StringComparison.Ordinal))
        {
            store = new StudyStore(NpgsqlDataSource.Create(PostgresConnectionString(spec[(spec.IndexOf(':', StringComparison.Ordinal) + 1)..])), sqlite: false);
        }
        else
        {
            throw new AttuneInputException($"--db '{spec}': expected sqlite:PATH or postgres:CONNECTION-STRING");
        }

        try
        {
            await store.CreateSchemaAsync(ct);
        }
        catch (SqliteException ex) when (ex.SqliteErrorCode is 26 or 11) // SQLITE_NOTADB, SQLITE_CORRUPT
        {
            await store.DisposeAsync();
            throw new AttuneInputException("not a SQLite database (or a damaged one)", spec["sqlite:".Length..], null, "--db", ex);
        }
        catch
        {
            await store.DisposeAsync();
            throw;
        }

        return store;
    }

    /// <summary>
    /// A pooled connection; a busy database (no free server slot, or every pooled connection in use
    /// for the pool's whole wait) is a <see cref="StoreBusyException"/>, which the server answers
    /// with 503 and Retry-After, never a 500. A server without a free slot is tried again for up to
    /// <see cref="BusyWait"/>.
    /// </summary>
    private async Task<DbConnection> OpenWaitingAsync(CancellationToken ct)
    {
        var waited = System.Diagnostics.Stopwatch.StartNew();
        for (var pause = TimeSpan.FromMilliseconds(50); ; pause = TimeSpan.FromTicks(Math.Min(pause.Ticks * 2, TimeSpan.FromSeconds(1).Ticks)))
        {
            try
            {
                return await _source.OpenConnectionAsync(ct);
            }
            catch (PostgresException ex) when (StoreBusyException.IsServerBusy(ex))
            {
                if (waited.Elapsed + pause > BusyWait)
                {
                    throw new StoreBusyException($"the database has no free connection ({ex.SqlState}: {ex.MessageText})", ex);
                }

                await Task.Delay(pause, ct);
            }
            catch (NpgsqlException ex) when (ex.InnerException is TimeoutException)
            {
                // Every connection of this server's pool stayed in use for the pool's whole wait.
                throw new StoreBusyException("every database connection of this server is in use", ex);
            }
        }
    }

    /// <summary>
    /// The connection string the store uses for a PostgreSQL connection string given by the user,
    /// with defaults for settings it does not name:
    /// <list type="bullet">
    /// <item>A pool sized from need (<see cref="DefaultMaxPoolSize"/>: the writer's one connection
    /// plus <see cref="ReadPoolSize"/> for reads), not Npgsql's 100, which alone can take every
    /// slot of a default server (max_connections 100) and meets a restarted server's predecessor
    /// still holding its own; and a bounded wait for a free pooled connection
    /// (<see cref="DefaultPoolWaitSeconds"/>, Npgsql's Timeout), after which the request is 503.</item>
    /// <item>Npgsql's automatic preparation (the same few statements run for every rating, join and
    /// choice; the server keeps them parsed and planned). A string that sets Max Auto Prepare
    /// itself, 0 behind PgBouncer in transaction mode, is left alone.</item>
    /// <item>No TLS to a server on this machine (every host loopback: localhost, 127.0.0.0/8, ::1,
    /// or a Unix socket folder). Npgsql's default, SSL Mode=Prefer, encrypts even loopback
    /// connections when the server offers TLS (Debian's does), which costs CPU on both sides and
    /// protects nothing that leaves the machine. A string that sets SSL Mode is left alone, and
    /// remote hosts keep Npgsql's default.</item>
    /// </list>
    /// </summary>
    /// <summary>Pooled read connections: the participant cache reads a participant once, then serves from memory.</summary>
    public const int ReadPoolSize = 8;

    /// <summary>The writer's one connection plus the read pool.</summary>
    public const int DefaultMaxPoolSize = 1 + ReadPoolSize;

    /// <summary>Seconds a request waits for a pooled connection (and a new one to open) before it is 503.</summary>
    public const int DefaultPoolWaitSeconds = 5;

    internal static string PostgresConnectionString(string given)
    {
        var builder = new NpgsqlConnectionStringBuilder(given);
        if (!Names(given, "Max Pool Size", "MaxPoolSize", "Maximum Pool Size"))
        {
            builder.MaxPoolSize = DefaultMaxPoolSize;
        }

        if (!Names(given, "Timeout"))
        {
            builder.Timeout = DefaultPoolWaitSeconds;
        }

        if (!Names(given, "Max Auto Prepare", "MaxAutoPrepare"))
        {
            builder.MaxAutoPrepare = 32;
            if (!Names(given, "Auto Prepare Min Usages", "AutoPrepareMinUsages"))
            {
                builder.AutoPrepareMinUsages = 2;
            }
        }

        if (!Names(given, "SSL Mode", "SslMode") && IsLoopback(builder.Host))
        {
            builder.SslMode = SslMode.Disable;
        }

        return builder.ConnectionString;

        static bool Names(string cs, params string[] keys) =>
            cs.Split(';').Any(part => part.Split('=')[0].Trim() is var key && keys.Any(k => key.Equals(k, StringComparison.OrdinalIgnoreCase)));

        static bool IsLoopback(string? hosts) =>
            !string.IsNullOrWhiteSpace(hosts) && hosts.Split(',').All(h =>
            {
                var host = h.Trim();
                if (host.StartsWith('/'))
                {
                    return true;
                }

                // Strip a port (host:port, or [v6]:port).
                if (host.StartsWith('[') && host.IndexOf(']', StringComparison.Ordinal) is var end and > 0)
                {
                    host = host[1..end];
                }
                else if (host.Count(c => c == ':') == 1)
                {
                    host = host[..host.IndexOf(':', StringComparison.Ordinal)];
                }

                return host.Equals("localhost", StringComparison.OrdinalIgnoreCase)
                    || (System.Net.IPAddress.TryParse(host, out var ip) && System.Net.IPAddress.IsLoopback(ip));
            });
    }

    private async Task CreateSchemaAsync(CancellationToken ct)
    {
        await using var conn = await OpenAsync(ct);
        if (_sqlite)
        {
            await ExecAsync(conn, "PRAGMA journal_mode=WAL;", ct);
        }

        // SQLite checks that a rating's or choice's participant exists with a foreign key (an index
        // probe in process). PostgreSQL runs a foreign key as a trigger per inserted row, a query of
        // its own that also locks the participant's row: about a quarter of the writer's CPU on the server.
        // There the batch's insert checks the participant instead (see PgRatings), and foreign keys
        // made by earlier versions are dropped.
        var participantKey = _sqlite ? " REFERENCES participants(id)" : "";
        await ExecAsync(conn, $"""
            CREATE TABLE IF NOT EXISTS participants (
              id TEXT PRIMARY KEY,
              token_hash TEXT NOT NULL UNIQUE,
              condition TEXT NOT NULL,
              seed INTEGER NOT NULL,
              prolific_pid TEXT, study_id TEXT, session_id TEXT, worker_id TEXT, assignment_id TEXT, hit_id TEXT,
              created_at TEXT NOT NULL,
              questionnaire TEXT,
              completed_at TEXT,
              consented_at TEXT);
            CREATE TABLE IF NOT EXISTS ratings (
              participant TEXT NOT NULL{participantKey},
              round INTEGER NOT NULL,
              arm TEXT NOT NULL,
              item_id TEXT NOT NULL,
              rating INTEGER NOT NULL,
              submitted_at TEXT NOT NULL,
              PRIMARY KEY (participant, round));
            CREATE TABLE IF NOT EXISTS choices (
              participant TEXT NOT NULL{participantKey},
              round INTEGER NOT NULL,
              arm TEXT NOT NULL,
              PRIMARY KEY (participant, round));
            """, ct);

        // Databases made before consent was recorded: the column is added, empty for the participants
        // already stored (their consent was not recorded, whichever way they joined). Looked up
        // first: on PostgreSQL even ADD COLUMN IF NOT EXISTS locks the table, and this runs at every
        // open (`study export` opens the store beside a running server).
        if (_sqlite)
        {
            await using var has = Command(conn, "SELECT COUNT(*) FROM pragma_table_info('participants') WHERE name = 'consented_at'");
            if (Convert.ToInt64(await has.ExecuteScalarAsync(ct), CultureInfo.InvariantCulture) == 0)
            {
                await ExecAsync(conn, "ALTER TABLE participants ADD COLUMN consented_at TEXT", ct);
            }
        }
        else
        {
            await ExecAsync(conn, """
                DO $$
                BEGIN
                  IF NOT EXISTS (SELECT 1 FROM pg_attribute WHERE attrelid = 'participants'::regclass AND attname = 'consented_at' AND NOT attisdropped) THEN
                    ALTER TABLE participants ADD COLUMN consented_at TEXT;
                  END IF;
                END $$;
                """, ct);
        }

        if (!_sqlite)
        {
            await ExecAsync(conn, """
                DO $$
                DECLARE fk record;
                BEGIN
                  FOR fk IN SELECT conrelid::regclass AS tbl, conname FROM pg_constraint
                            WHERE contype = 'f' AND conrelid IN ('ratings'::regclass, 'choices'::regclass)
                            AND confrelid = 'participants'::regclass LOOP
                    EXECUTE format('ALTER TABLE %s DROP CONSTRAINT %I', fk.tbl, fk.conname);
                  END LOOP;
                END $$;
                """, ct);
        }
    }

    /// <summary>
    /// How long opening a connection waits out a PostgreSQL server with no free slot (53300, e.g.
    /// a killed server's backends still being torn down) before the request is answered 503.
    /// </summary>
    internal TimeSpan BusyWait { get; set; } = TimeSpan.FromSeconds(5);

    private async Task<DbConnection> OpenAsync(CancellationToken ct, bool write = false)
    {
        var conn = await OpenWaitingAsync(ct);
        if (_sqlite && write)
        {
            // Durable commits: the WAL is synced at every commit (the default in WAL mode, NORMAL, is not).
            await ExecAsync(conn, "PRAGMA synchronous=FULL;", ct);
        }
        else if (write)
        {
            // Every statement of the writer finds its rows by key (inserts, their checks that the
            // participant exists, the lookups of rounds already stored, updates by id). A plan made
            // while a table was small (just created or emptied, before autovacuum analysed it) may
            // scan the whole table instead, and the backend keeps that plan as the table grows: such
            // benchmark rounds ran at a tenth of the usual rate, with tens of millions of rows read
            // by sequential scans (then in the foreign-key checks earlier versions had). Here
            // sequential scans are a last resort, and plans this pooled backend cached earlier are
            // made again under that setting.
            await ExecAsync(conn, "SET enable_seqscan = off; DISCARD PLANS", ct);
        }

        return conn;
    }

    public static string HashToken(string token) => Convert.ToHexStringLower(SHA256.HashData(Encoding.UTF8.GetBytes(token)));

    /// <summary>
    /// Creates a participant in the condition with the lowest filled share among those with free
    /// slots (ties by a random draw); null when every slot is taken. Joins run one at a time in the
    /// single writer, so slots are never overbooked (by this process: one server process per study
    /// database is assumed, as for the participant cache). <paramref name="consentedAt"/>: when the
    /// participant agreed to the consent text, stored with them; null when no consent was given.
    /// </summary>
    public async Task<ParticipantRecord?> CreateParticipantAsync(StudyConfig config, string token, PlatformIds ids, DateTimeOffset? consentedAt, CancellationToken ct)
    {
        ArgumentNullException.ThrowIfNull(config);
        ArgumentNullException.ThrowIfNull(ids);
        return (ParticipantRecord?)await SubmitAsync(new WriteOp(NewDone()) { Join = new JoinWrite(config, HashToken(token), ids, consentedAt) }, ct);
    }

    /// <summary>
    /// The writer's part of a join: picks the condition from the participant counts (read once from
    /// the database, then kept up to date here; a failed batch forgets them and they are read again,
    /// see <see cref="WriteLoopAsync"/>) and counts the new participant. Null when the study is full.
    /// </summary>
    private async Task<ParticipantRecord?> AssignAsync(DbConnection conn, DbTransaction? tx, JoinWrite join)
    {
        var counts = await ConditionCountsAsync(conn, tx);
        var open = join.Config.Conditions.Where(c => counts.GetValueOrDefault(c.Name) < c.Slots).ToList();
        if (open.Count == 0)
        {
            return null;
        }

        var lowest = open.Min(c => counts.GetValueOrDefault(c.Name) / (double)c.Slots);
        var candidates = open.Where(c => counts.GetValueOrDefault(c.Name) / (double)c.Slots == lowest).ToList();
        var condition = candidates[RandomNumberGenerator.GetInt32(candidates.Count)].Name;
        var ids = join.Ids;
        counts[condition] = counts.GetValueOrDefault(condition) + 1;
        return new ParticipantRecord("P" + Convert.ToHexStringLower(RandomNumberGenerator.GetBytes(6)), condition,
            RandomNumberGenerator.GetInt32(int.MaxValue), ids.ProlificPid, ids.StudyId, ids.SessionId, ids.WorkerId, ids.AssignmentId, ids.HitId,
            DateTimeOffset.UtcNow, join.ConsentedAt, null, null);
    }

    /// <summary>Reads the participants per condition when they are not known (first join, or after a failed batch).</summary>
    private async Task<Dictionary<string, int>> ConditionCountsAsync(DbConnection conn, DbTransaction? tx)
    {
        if (_conditionCounts is { } known)
        {
            return known;
        }

        var loaded = new Dictionary<string, int>(StringComparer.Ordinal);
        await using (var cmd = Command(conn, "SELECT condition, COUNT(*) FROM participants GROUP BY condition", tx))
        await using (var reader = await cmd.ExecuteReaderAsync())
        {
            while (await reader.ReadAsync())
            {
                loaded[reader.GetString(0)] = Convert.ToInt32(reader.GetValue(1), CultureInfo.InvariantCulture);
            }
        }

        _conditionCounts = loaded;
        return loaded;
    }

    /// <summary>The participant with this token, their ratings in round order and their arm choices; null if unknown.</summary>
    public async Task<(ParticipantRecord Participant, List<RatingRecord> Ratings, Dictionary<int, string> Choices)?> LoadAsync(string token, CancellationToken ct)
    {
        await using var conn = await OpenAsync(ct);
        ParticipantRecord? p = null;
        await using (var cmd = Command(conn, """
            SELECT id, condition, seed, prolific_pid, study_id, session_id, worker_id, assignment_id, hit_id, created_at, consented_at, questionnaire, completed_at
            FROM participants WHERE token_hash = @hash
            """))
        {
            Add(cmd, "hash", HashToken(token));
            await using var r = await cmd.ExecuteReaderAsync(ct);
            if (await r.ReadAsync(ct))
            {
                p = new ParticipantRecord(r.GetString(0), r.GetString(1), Convert.ToInt32(r.GetValue(2), CultureInfo.InvariantCulture),
                    Str(r, 3), Str(r, 4), Str(r, 5), Str(r, 6), Str(r, 7), Str(r, 8), ParseTime(r.GetString(9)),
                    r.IsDBNull(10) ? null : ParseTime(r.GetString(10)), Str(r, 11), r.IsDBNull(12) ? null : ParseTime(r.GetString(12)));
            }
        }

        if (p is null)
        {
            return null;
        }

        var ratings = new List<RatingRecord>();
        await using (var cmd = Command(conn, "SELECT round, arm, item_id, rating, submitted_at FROM ratings WHERE participant = @p ORDER BY round"))
        {
            Add(cmd, "p", p.Id);
            await using var r = await cmd.ExecuteReaderAsync(ct);
            while (await r.ReadAsync(ct))
            {
                ratings.Add(new RatingRecord(Convert.ToInt32(r.GetValue(0), CultureInfo.InvariantCulture), r.GetString(1), r.GetString(2),
                    Convert.ToInt32(r.GetValue(3), CultureInfo.InvariantCulture), ParseTime(r.GetString(4))));
            }
        }

        var choices = new Dictionary<int, string>();
        await using (var cmd = Command(conn, "SELECT round, arm FROM choices WHERE participant = @p"))
        {
            Add(cmd, "p", p.Id);
            await using var r = await cmd.ExecuteReaderAsync(ct);
            while (await r.ReadAsync(ct))
            {
                choices[Convert.ToInt32(r.GetValue(0), CultureInfo.InvariantCulture)] = r.GetString(1);
            }
        }

        return (p, ratings, choices);
    }

    /// <summary>
    /// Stores a rating unless the round already has one; returns the round's stored rating either
    /// way. The task completes only after the commit. On SQLite, ratings that arrive together are
    /// committed in one transaction (group commit: one fsync for the batch, each still durable
    /// before it is acknowledged).
    /// </summary>
    public async Task<RatingRecord> AddRatingAsync(string participant, RatingRecord rating, bool completes, CancellationToken ct)
    {
        ArgumentNullException.ThrowIfNull(rating);
        return (RatingRecord)(await SubmitAsync(new WriteOp(NewDone()) { Rating = new RatingWrite(participant, rating, completes) }, ct))!;
    }

    private static TaskCompletionSource<object?> NewDone() => new(TaskCreationOptions.RunContinuationsAsynchronously);

    private async Task<object?> SubmitAsync(WriteOp op, CancellationToken ct)
    {
        await _writes.Writer.WriteAsync(op, ct);
        return await op.Done.Task;
    }

    /// <summary>
    /// The single writer: takes every write that is waiting (up to 256), runs them in one
    /// transaction and commits once (one fsync for the batch), then acknowledges each. If the batch
    /// fails, its writes are retried one transaction each, so one bad write fails alone.
    /// </summary>
    private async Task WriteLoopAsync()
    {
        var batch = new List<WriteOp>();
        try
        {
            await WriteBatchesAsync(batch);
        }
#pragma warning disable CA1031 // the loop must not die silently: every waiting write gets the failure
        catch (Exception ex)
        {
            // Not expected (each batch's failures are handled in WriteBatchesAsync), but if the loop
            // itself fails, no request may wait forever for a commit that will never come: the
            // writes in hand and every queued one fail, and later writes are refused at once.
            var stopped = new InvalidOperationException("the study store's writer stopped: " + ex.Message, ex);
            _writes.Writer.TryComplete(stopped);
            foreach (var op in batch)
            {
                op.Done.TrySetException(stopped);
            }

            while (_writes.Reader.TryRead(out var op))
            {
                op.Done.TrySetException(stopped);
            }
        }
#pragma warning restore CA1031
    }

    /// <summary>Tests only: a setting of the writer's own connection (<c>SHOW</c>, PostgreSQL).</summary>
    internal Task<string> WriterSettingForTests(string name) =>
        EnqueueAsync<string>(async (conn, tx) =>
        {
            await using var cmd = Command(conn, "SHOW " + name, tx);
            return (string)(await cmd.ExecuteScalarAsync())!;
        }, CancellationToken.None);

    /// <summary>Tests only: one pooled connection, opened as the store's reads open theirs (to hold the pool on purpose).</summary>
    internal Task<DbConnection> OpenForTests(CancellationToken ct) => OpenAsync(ct);

    /// <summary>Batches that failed and whose writes were then retried one at a time (read by tests).</summary>
    internal int BatchesRetriedOneByOne { get; private set; }

    /// <summary>Tests only: runs before each batch, outside its error handling (a failure of the writer loop itself).</summary>
    internal Action? BeforeBatchForTests { get; set; }

    private async Task WriteBatchesAsync(List<WriteOp> batch)
    {
        var reader = _writes.Reader;
        while (Environment.CurrentManagedThreadId == _writerThreadId
            ? reader.WaitToReadAsync().AsTask().GetAwaiter().GetResult() // the SQLite writer's own thread waits here
            : await reader.WaitToReadAsync())
        {
            batch.Clear();
            while (batch.Count < 256 && reader.TryRead(out var op))
            {
                batch.Add(op);
            }

            BeforeBatchForTests?.Invoke();
            try
            {
                var results = await RunBatchAsync(batch);
                for (var i = 0; i < batch.Count; i++)
                {
                    Complete(batch[i], results[i]);
                }
            }
#pragma warning disable CA1031 // failures are handed to the waiting requests
            catch (Exception) when (batch.Count > 1)
            {
                BatchesRetriedOneByOne++;
                _conditionCounts = null;
                foreach (var op in batch)
                {
                    try
                    {
                        Complete(op, (await RunBatchAsync([op]))[0]);
                    }
                    catch (Exception ex)
                    {
                        _conditionCounts = null;
                        op.Done.TrySetException(ex);
                    }
                }
            }
            catch (Exception ex)
            {
                _conditionCounts = null;
                batch[0].Done.TrySetException(ex);
            }
#pragma warning restore CA1031
        }
    }

    /// <summary>Hands a write its result; a write refused inside a committed batch has its exception as the result.</summary>
    private static void Complete(WriteOp op, object? result)
    {
        if (result is Exception refused)
        {
            op.Done.TrySetException(refused);
        }
        else
        {
            op.Done.TrySetResult(result);
        }
    }

    private async Task<object?[]> RunBatchAsync(List<WriteOp> batch)
    {
        try
        {
            return await RunBatchOnAsync(batch);
        }
        catch
        {
            // The connection may be in any state after a failure: the next batch opens a fresh one.
            await DropWriteConnectionAsync();
            throw;
        }
    }

    private async Task DropWriteConnectionAsync()
    {
        _sqliteStatements?.Dispose();
        _sqliteStatements = null;
        if (_writeConnection is { } conn)
        {
            _writeConnection = null;
            await conn.DisposeAsync();
        }
    }

    private async Task<object?[]> RunBatchOnAsync(List<WriteOp> batch)
    {
        var conn = _writeConnection ??= await OpenAsync(CancellationToken.None, write: true);
        return _sqlite ? await RunSqliteBatchAsync((SqliteConnection)conn, batch) : await RunPostgresBatchAsync((NpgsqlConnection)conn, batch);
    }

    /// <summary>SQLite: one transaction; each write runs its prepared statements in turn; one commit (one fsync).</summary>
    private async Task<object?[]> RunSqliteBatchAsync(SqliteConnection conn, List<WriteOp> batch)
    {
        await using var tx = (SqliteTransaction)await conn.BeginTransactionAsync();
        var statements = _sqliteStatements ??= new SqliteStatements(conn);
        var results = new object?[batch.Count];
        for (var i = 0; i < batch.Count; i++)
        {
            var op = batch[i];
            if (op.Rating is { } rating)
            {
                results[i] = await statements.InsertRatingAsync(tx, rating);
            }
            else if (op.Choice is { } choice)
            {
                results[i] = await statements.InsertChoiceAsync(tx, choice);
            }
            else if (op.Join is { } join)
            {
                if (await AssignAsync(conn, tx, join) is { } participant)
                {
                    await statements.InsertParticipantAsync(tx, participant, join.TokenHash);
                    results[i] = participant;
                }
            }
            else
            {
                results[i] = await op.Run!(conn, tx);
            }
        }

        await tx.CommitAsync();
        return results;
    }

    /// <summary>
    /// PostgreSQL: the batch's joins, choices, ratings and completions as at most four statements
    /// (multi-row, from arrays) in one <see cref="NpgsqlBatch"/>: one round trip, which commits as one
    /// implicit transaction when the batch holds nothing else (all or nothing: a failing statement
    /// rolls the whole batch back). The rare other writes run first in an explicit transaction
    /// that the batch then joins. Same semantics as <see cref="SqliteStatements"/> one at a time; a
    /// batch never holds two writes of one participant, whose requests are serialised by the
    /// participant cache, and never a participant's join with their later writes (a join is
    /// acknowledged, and its token known, only after its commit).
    /// </summary>
    private async Task<object?[]> RunPostgresBatchAsync(NpgsqlConnection conn, List<WriteOp> batch)
    {
        var results = new object?[batch.Count];
        var ratings = new List<int>();
        var choices = new List<int>();
        var joins = new List<(ParticipantRecord Participant, string TokenHash)>();
        NpgsqlTransaction? tx = null;
        try
        {
            if (batch.Any(op => op.Run is not null))
            {
                tx = await conn.BeginTransactionAsync();
            }

            for (var i = 0; i < batch.Count; i++)
            {
                var op = batch[i];
                if (op.Rating is not null)
                {
                    ratings.Add(i);
                }
                else if (op.Choice is not null)
                {
                    choices.Add(i);
                }
                else if (op.Join is { } join)
                {
                    if (await AssignAsync(conn, tx, join) is { } participant)
                    {
                        joins.Add((participant, join.TokenHash));
                        results[i] = participant;
                    }
                }
                else
                {
                    results[i] = await op.Run!(conn, tx!);
                }
            }

            // A batch of several writes inserts optimistically: a round stored before (which the
            // participant cache makes rare: it answers resubmissions itself) fails the whole batch
            // with a unique violation, and the writer then retries each write alone, where the
            // careful statements look such rounds up (see PgRatings).
            var careful = batch.Count == 1;
            await using (var pg = new NpgsqlBatch(conn, tx))
            {
                if (choices.Count > 0)
                {
                    pg.BatchCommands.Add(PgChoices([.. choices.Select(i => batch[i].Choice!)], careful));
                }

                if (ratings.Count > 0)
                {
                    pg.BatchCommands.Add(PgRatings([.. ratings.Select(i => batch[i].Rating!)], careful));
                }

                if (joins.Count > 0)
                {
                    pg.BatchCommands.Add(PgJoins(joins));
                }

                var completing = ratings.Select(i => batch[i].Rating!).Where(w => w.Completes).ToArray();
                if (completing.Length > 0)
                {
                    pg.BatchCommands.Add(PgCompletions(completing));
                }

                if (pg.BatchCommands.Count > 0)
                {
                    await using var reader = await pg.ExecuteReaderAsync();

                    // Row sets in the order added (Npgsql's reader skips the statements that return none).
                    if (choices.Count > 0)
                    {
                        var stored = new Dictionary<(string, int), string>();
                        while (await reader.ReadAsync())
                        {
                            stored[(reader.GetString(0), reader.GetInt32(1))] = reader.GetString(2);
                        }

                        foreach (var i in choices)
                        {
                            var write = batch[i].Choice!;
                            results[i] = stored.TryGetValue((write.Participant, write.Round), out var arm) ? arm : UnknownParticipant("choices", write.Participant);
                        }

                        await reader.NextResultAsync();
                    }

                    if (ratings.Count > 0)
                    {
                        var stored = new Dictionary<(string, int), RatingRecord?>();
                        while (await reader.ReadAsync())
                        {
                            // Inserted rows come back with nulls (the caller's record is what was stored),
                            // rounds stored before (careful statement only) with their stored values.
                            stored[(reader.GetString(0), reader.GetInt32(1))] = reader.IsDBNull(2) ? null
                                : new RatingRecord(reader.GetInt32(1), reader.GetString(2), reader.GetString(3), reader.GetInt32(4), ParseTime(reader.GetString(5)));
                        }

                        foreach (var i in ratings)
                        {
                            var write = batch[i].Rating!;
                            results[i] = stored.TryGetValue((write.Participant, write.Rating.Round), out var record)
                                ? record ?? write.Rating
                                : UnknownParticipant("ratings", write.Participant);
                        }
                    }

                    // The rest of the results: the commit (or the error of any statement) comes with them.
                    while (await reader.NextResultAsync())
                    {
                    }
                }
            }

            if (tx is not null)
            {
                await tx.CommitAsync();
            }

            return results;
        }
        finally
        {
            if (tx is not null)
            {
                await tx.DisposeAsync();
            }
        }
    }

    /// <summary>
    /// The refusal of a rating or choice whose participant does not exist: what the foreign key
    /// reports on SQLite, with PostgreSQL's code for a foreign-key violation (23503). The write
    /// fails alone; nothing of it was stored.
    /// </summary>
    private static PostgresException UnknownParticipant(string table, string participant) =>
        new($"insert into \"{table}\" refused: participant \"{participant}\" does not exist", "ERROR", "ERROR", PostgresErrorCodes.ForeignKeyViolation);

    /// <summary>
    /// Stores choices; returns each stored round's arm. Rows whose participant does not exist are
    /// not inserted (the check a foreign key would make, as one index probe per row instead of a
    /// trigger's query and row lock) and come back as no row. <paramref name="careful"/>: rounds
    /// stored before are kept and come back with their stored arm (the CTE's insert and the outer
    /// select share one snapshot, so the select sees only rows stored before); otherwise such a
    /// round fails the statement with a unique violation.
    /// </summary>
    private static NpgsqlBatchCommand PgChoices(ChoiceWrite[] writes, bool careful)
    {
        var cmd = new NpgsqlBatchCommand(careful
            ? """
              WITH k AS (SELECT * FROM unnest(@p, @round, @arm) AS k(participant, round, arm)),
              ins AS (INSERT INTO choices (participant, round, arm) SELECT participant, round, arm FROM k
                      WHERE EXISTS (SELECT 1 FROM participants p WHERE p.id = k.participant)
                      ON CONFLICT (participant, round) DO NOTHING RETURNING participant, round, arm)
              SELECT participant, round, arm FROM ins
              UNION ALL
              SELECT c.participant, c.round, c.arm FROM choices c JOIN k ON c.participant = k.participant AND c.round = k.round
              """
            : """
              INSERT INTO choices (participant, round, arm)
              SELECT * FROM unnest(@p, @round, @arm) AS k(participant, round, arm)
              WHERE EXISTS (SELECT 1 FROM participants p WHERE p.id = k.participant)
              RETURNING participant, round, arm
              """);
        cmd.Parameters.AddWithValue("p", writes.Select(w => w.Participant).ToArray());
        cmd.Parameters.AddWithValue("round", writes.Select(w => w.Round).ToArray());
        cmd.Parameters.AddWithValue("arm", writes.Select(w => w.Arm).ToArray());
        return cmd;
    }

    /// <summary>
    /// Stores ratings: inserted rows come back with nulls. Rows whose participant does not exist are
    /// not inserted and come back as no row. <paramref name="careful"/>: rounds stored before are
    /// kept and come back with their stored values; otherwise such a round fails the statement
    /// with a unique violation (see <see cref="PgChoices"/>).
    /// </summary>
    private static NpgsqlBatchCommand PgRatings(RatingWrite[] writes, bool careful)
    {
        var cmd = new NpgsqlBatchCommand(careful
            ? """
              WITH k AS (SELECT * FROM unnest(@p, @round, @arm, @item, @rating, @at) AS k(participant, round, arm, item_id, rating, submitted_at)),
              ins AS (INSERT INTO ratings (participant, round, arm, item_id, rating, submitted_at) SELECT * FROM k
                      WHERE EXISTS (SELECT 1 FROM participants p WHERE p.id = k.participant)
                      ON CONFLICT (participant, round) DO NOTHING RETURNING participant, round)
              SELECT participant, round, NULL::text, NULL::text, NULL::integer, NULL::text FROM ins
              UNION ALL
              SELECT r.participant, r.round, r.arm, r.item_id, r.rating, r.submitted_at FROM ratings r JOIN k ON r.participant = k.participant AND r.round = k.round
              """
            : """
              INSERT INTO ratings (participant, round, arm, item_id, rating, submitted_at)
              SELECT * FROM unnest(@p, @round, @arm, @item, @rating, @at) AS k(participant, round, arm, item_id, rating, submitted_at)
              WHERE EXISTS (SELECT 1 FROM participants p WHERE p.id = k.participant)
              RETURNING participant, round, NULL::text, NULL::text, NULL::integer, NULL::text
              """);
        cmd.Parameters.AddWithValue("p", writes.Select(w => w.Participant).ToArray());
        cmd.Parameters.AddWithValue("round", writes.Select(w => w.Rating.Round).ToArray());
        cmd.Parameters.AddWithValue("arm", writes.Select(w => w.Rating.Arm).ToArray());
        cmd.Parameters.AddWithValue("item", writes.Select(w => w.Rating.ItemId).ToArray());
        cmd.Parameters.AddWithValue("rating", writes.Select(w => w.Rating.Rating).ToArray());
        cmd.Parameters.AddWithValue("at", writes.Select(w => Time(w.Rating.SubmittedAt)).ToArray());
        return cmd;
    }

    private static NpgsqlBatchCommand PgJoins(List<(ParticipantRecord Participant, string TokenHash)> joins)
    {
        var cmd = new NpgsqlBatchCommand("""
            INSERT INTO participants (id, token_hash, condition, seed, prolific_pid, study_id, session_id, worker_id, assignment_id, hit_id, created_at, consented_at)
            SELECT * FROM unnest(@id, @hash, @condition, @seed, @pp, @sid, @sess, @w, @a, @h, @created, @consented)
            """);
        var ps = joins.Select(j => j.Participant).ToArray();
        cmd.Parameters.AddWithValue("id", ps.Select(p => p.Id).ToArray());
        cmd.Parameters.AddWithValue("hash", joins.Select(j => j.TokenHash).ToArray());
        cmd.Parameters.AddWithValue("condition", ps.Select(p => p.Condition).ToArray());
        cmd.Parameters.AddWithValue("seed", ps.Select(p => p.Seed).ToArray());
        cmd.Parameters.AddWithValue("pp", ps.Select(p => p.ProlificPid).ToArray());
        cmd.Parameters.AddWithValue("sid", ps.Select(p => p.StudyId).ToArray());
        cmd.Parameters.AddWithValue("sess", ps.Select(p => p.SessionId).ToArray());
        cmd.Parameters.AddWithValue("w", ps.Select(p => p.WorkerId).ToArray());
        cmd.Parameters.AddWithValue("a", ps.Select(p => p.AssignmentId).ToArray());
        cmd.Parameters.AddWithValue("h", ps.Select(p => p.HitId).ToArray());
        cmd.Parameters.AddWithValue("created", ps.Select(p => Time(p.CreatedAt)).ToArray());
        cmd.Parameters.AddWithValue("consented", ps.Select(p => p.ConsentedAt is { } at ? Time(at) : null).ToArray());
        return cmd;
    }

    private static NpgsqlBatchCommand PgCompletions(RatingWrite[] completing)
    {
        var cmd = new NpgsqlBatchCommand("""
            UPDATE participants SET completed_at = v.at FROM unnest(@p, @at) AS v(id, at)
            WHERE participants.id = v.id AND participants.completed_at IS NULL
            """);
        cmd.Parameters.AddWithValue("p", completing.Select(w => w.Participant).ToArray());
        cmd.Parameters.AddWithValue("at", completing.Select(w => Time(w.Rating.SubmittedAt)).ToArray());
        return cmd;
    }

    /// <summary>
    /// Runs a write through the single group-commit writer (SQLite and PostgreSQL alike): writes
    /// that arrive together share one transaction and one commit, and each is acknowledged only
    /// after that commit. On PostgreSQL this replaced one transaction per write, whose commits
    /// (one WAL flush each, plus a connection per request) made the store 3–5× slower.
    /// </summary>
    private async Task<T> EnqueueAsync<T>(Func<DbConnection, DbTransaction, Task<T>> write, CancellationToken ct) =>
        (T)(await SubmitAsync(new WriteOp(NewDone()) { Run = async (conn, tx) => await write(conn, tx) }, ct))!;

    /// <summary>Stores the arm chosen for a round unless one is stored; returns the stored arm.</summary>
    public async Task<string> AddChoiceAsync(string participant, int round, string arm, CancellationToken ct) =>
        (string)(await SubmitAsync(new WriteOp(NewDone()) { Choice = new ChoiceWrite(participant, round, arm) }, ct))!;

    /// <summary>Stores the questionnaire answers once and marks the participant complete.</summary>
    public async Task SaveQuestionnaireAsync(string participant, string answersJson, CancellationToken ct) =>
        await EnqueueAsync(async (conn, tx) =>
        {
            await using var cmd = Command(conn, "UPDATE participants SET questionnaire = @q, completed_at = @at WHERE id = @p AND questionnaire IS NULL", tx);
            Add(cmd, "p", participant);
            Add(cmd, "q", answersJson);
            Add(cmd, "at", Time(DateTimeOffset.UtcNow));
            return await cmd.ExecuteNonQueryAsync(ct);
        }, ct);

    public async Task<List<ExportRow>> ExportAsync(CancellationToken ct)
    {
        await using var conn = await OpenAsync(ct);
        await using var cmd = Command(conn, """
            SELECT p.id, p.prolific_pid, p.study_id, p.session_id, p.worker_id, p.assignment_id, p.hit_id, p.condition,
                   r.round, r.arm, r.item_id, r.rating, r.submitted_at, p.consented_at
            FROM ratings r JOIN participants p ON p.id = r.participant
            ORDER BY p.created_at, p.id, r.round
            """);
        var rows = new List<ExportRow>();
        await using var r = await cmd.ExecuteReaderAsync(ct);
        while (await r.ReadAsync(ct))
        {
            rows.Add(new ExportRow(r.GetString(0), Str(r, 1), Str(r, 2), Str(r, 3), Str(r, 4), Str(r, 5), Str(r, 6), r.GetString(7),
                Convert.ToInt32(r.GetValue(8), CultureInfo.InvariantCulture), r.GetString(9), r.GetString(10),
                Convert.ToInt32(r.GetValue(11), CultureInfo.InvariantCulture), ParseTime(r.GetString(12)), r.IsDBNull(13) ? null : ParseTime(r.GetString(13))));
        }

        return rows;
    }

    /// <summary>Per condition: participants joined, completed, and ratings stored.</summary>
    public async Task<List<(string Condition, int Joined, int Completed, long Ratings)>> ProgressAsync(CancellationToken ct)
    {
        await using var conn = await OpenAsync(ct);
        await using var cmd = Command(conn, """
            SELECT p.condition, COUNT(*), SUM(CASE WHEN p.completed_at IS NULL THEN 0 ELSE 1 END),
                   SUM((SELECT COUNT(*) FROM ratings r WHERE r.participant = p.id))
            FROM participants p GROUP BY p.condition ORDER BY p.condition
            """);
        var rows = new List<(string, int, int, long)>();
        await using var r = await cmd.ExecuteReaderAsync(ct);
        while (await r.ReadAsync(ct))
        {
            rows.Add((r.GetString(0), Convert.ToInt32(r.GetValue(1), CultureInfo.InvariantCulture),
                Convert.ToInt32(r.GetValue(2), CultureInfo.InvariantCulture), Convert.ToInt64(r.GetValue(3), CultureInfo.InvariantCulture)));
        }

        return rows;
    }

    /// <summary>Deletes everything (tests only, on a database of their own or the shared test database).</summary>
    internal async Task ResetAsync(CancellationToken ct = default) =>
        await EnqueueAsync(async (conn, tx) =>
        {
            await ExecAsync(conn, "DELETE FROM ratings; DELETE FROM choices; DELETE FROM participants;", ct, tx);
            _conditionCounts = null;
            return 0;
        }, ct);

    /// <summary>
    /// Deletes the participants whose platform <c>study_id</c> is <paramref name="studyId"/>, with
    /// their ratings and choices: what one benchmark run stored under its own tag, and nothing else.
    /// Returns the participants deleted.
    /// </summary>
    internal async Task<int> DeleteStudyIdAsync(string studyId, CancellationToken ct = default) =>
        await EnqueueAsync(async (conn, tx) =>
        {
            foreach (var table in (string[])["ratings", "choices"])
            {
                await using var rows = Command(conn, $"DELETE FROM {table} WHERE participant IN (SELECT id FROM participants WHERE study_id = @s)", tx);
                Add(rows, "s", studyId);
                await rows.ExecuteNonQueryAsync(ct);
            }

            await using var cmd = Command(conn, "DELETE FROM participants WHERE study_id = @s", tx);
            Add(cmd, "s", studyId);
            var deleted = await cmd.ExecuteNonQueryAsync(ct);
            _conditionCounts = null;
            return deleted;
        }, ct);

    /// <summary>The study's tables, in the order of <see cref="StoredCounts"/>.</summary>
    private static readonly string[] StudyTables = ["participants", "ratings", "choices"];

    /// <summary>
    /// Counts what the database named by <paramref name="spec"/> holds, without changing it: no
    /// file, table or column is created (unlike <see cref="OpenAsync(string, CancellationToken)"/>,
    /// which creates and migrates the tables). A SQLite file that does not exist, and tables that do
    /// not exist, count as empty.
    /// </summary>
    public static async Task<StoredCounts> CountStoredAsync(string spec, CancellationToken ct = default)
    {
        ArgumentNullException.ThrowIfNull(spec);
        if (spec.StartsWith("sqlite:", StringComparison.Ordinal))
        {
            var path = spec["sqlite:".Length..];
            if (!File.Exists(path))
            {
                return default;
            }

            // Only SELECTs run. The handle is read-write (never create) all the same: as the last
            // connection to close, it lets SQLite remove the -wal and -shm files it opens beside a
            // WAL database, which a read-only handle would leave behind.
            var builder = new SqliteConnectionStringBuilder { DataSource = path, Mode = SqliteOpenMode.ReadWrite, Pooling = false };
            try
            {
                await using var conn = new SqliteConnection(builder.ToString());
                await conn.OpenAsync(ct);
                var present = new HashSet<string>(StringComparer.Ordinal);
                await using (var cmd = Command(conn, "SELECT name FROM sqlite_master WHERE type = 'table'"))
                await using (var r = await cmd.ExecuteReaderAsync(ct))
                {
                    while (await r.ReadAsync(ct))
                    {
                        present.Add(r.GetString(0));
                    }
                }

                return await CountAsync(conn, [.. StudyTables.Select(present.Contains)], ct);
            }
            catch (SqliteException ex)
            {
                throw new AttuneInputException($"--db {spec}: cannot be read as a SQLite database ({ex.Message})");
            }
        }

        if (spec.StartsWith("postgres:", StringComparison.Ordinal) || spec.StartsWith("postgresql:", StringComparison.Ordinal))
        {
            await using var conn = new NpgsqlConnection(PostgresConnectionString(spec[(spec.IndexOf(':', StringComparison.Ordinal) + 1)..]));
            try
            {
                await conn.OpenAsync(ct);
            }
            catch (NpgsqlException ex)
            {
                throw new AttuneInputException($"--db {Describe(spec)}: cannot connect ({ex.Message})", ex);
            }

            var present = new bool[StudyTables.Length];
            await using (var cmd = Command(conn, "SELECT to_regclass('participants') IS NOT NULL, to_regclass('ratings') IS NOT NULL, to_regclass('choices') IS NOT NULL"))
            await using (var r = await cmd.ExecuteReaderAsync(ct))
            {
                await r.ReadAsync(ct);
                for (var i = 0; i < present.Length; i++)
                {
                    present[i] = r.GetBoolean(i);
                }
            }

            return await CountAsync(conn, present, ct);
        }

        throw new AttuneInputException($"--db '{spec}': expected sqlite:PATH or postgres:CONNECTION-STRING");

        static async Task<StoredCounts> CountAsync(DbConnection conn, bool[] present, CancellationToken ct)
        {
            var counts = new long[present.Length];
            for (var i = 0; i < present.Length; i++)
            {
                if (present[i])
                {
                    await using var cmd = Command(conn, $"SELECT COUNT(*) FROM {StudyTables[i]}");
                    counts[i] = Convert.ToInt64(await cmd.ExecuteScalarAsync(ct), CultureInfo.InvariantCulture);
                }
            }

            return new StoredCounts(counts[0], counts[1], counts[2]);
        }
    }

    /// <summary>
    /// The database a spec names, for messages: a SQLite spec as given; for PostgreSQL the host,
    /// port, database and user, never the password.
    /// </summary>
    public static string Describe(string spec)
    {
        ArgumentNullException.ThrowIfNull(spec);
        if (!spec.StartsWith("postgres:", StringComparison.Ordinal) && !spec.StartsWith("postgresql:", StringComparison.Ordinal))
        {
            return spec;
        }

        try
        {
            var given = new NpgsqlConnectionStringBuilder(spec[(spec.IndexOf(':', StringComparison.Ordinal) + 1)..]);
            return $"postgres:Host={given.Host};Port={given.Port};Database={given.Database};Username={given.Username}";
        }
        catch (ArgumentException)
        {
            return "postgres:(a connection string that cannot be parsed)";
        }
    }

    private static DbCommand Command(DbConnection conn, string sql, DbTransaction? tx = null)
    {
        var cmd = conn.CreateCommand();
        cmd.CommandText = sql;
        cmd.Transaction = tx;
        return cmd;
    }

    private static async Task ExecAsync(DbConnection conn, string sql, CancellationToken ct, DbTransaction? tx = null)
    {
        await using var cmd = Command(conn, sql, tx);
        await cmd.ExecuteNonQueryAsync(ct);
    }

    private static void Add(DbCommand cmd, string name, object? value)
    {
        var p = cmd.CreateParameter();
        p.ParameterName = name;
        p.Value = value ?? DBNull.Value;
        cmd.Parameters.Add(p);
    }

    private static string? Str(DbDataReader r, int i) => r.IsDBNull(i) ? null : r.GetString(i);

    private static string Time(DateTimeOffset t) => t.UtcDateTime.ToString("yyyy-MM-dd'T'HH:mm:ss.ffffff'Z'", CultureInfo.InvariantCulture);

    private static DateTimeOffset ParseTime(string s) => DateTimeOffset.Parse(s, CultureInfo.InvariantCulture, DateTimeStyles.AssumeUniversal | DateTimeStyles.AdjustToUniversal);

    public async ValueTask DisposeAsync()
    {
        _writes.Writer.TryComplete();
        await _writer;
        await DropWriteConnectionAsync();

        await _source.DisposeAsync();
    }

    /// <summary>
    /// SQLite: the statements of the frequent writes, prepared once on the writer's connection and
    /// reused with new parameter values (preparing them for every rating cost more CPU than running
    /// them). A round already stored is not overwritten (<c>ON CONFLICT DO NOTHING</c>): the stored
    /// rating or arm is read back and returned, so the caller can tell a resubmission from a conflict.
    /// </summary>
    private sealed class SqliteStatements : IDisposable
    {
        private readonly SqliteCommand _insertRating;
        private readonly SqliteCommand _complete;
        private readonly SqliteCommand _storedRating;
        private readonly SqliteCommand _insertChoice;
        private readonly SqliteCommand _storedChoice;
        private readonly SqliteCommand _insertParticipant;

        public SqliteStatements(SqliteConnection conn)
        {
            _insertRating = Prepared(conn, "INSERT INTO ratings (participant, round, arm, item_id, rating, submitted_at) VALUES (@p, @round, @arm, @item, @rating, @at) ON CONFLICT (participant, round) DO NOTHING",
                ("@p", SqliteType.Text), ("@round", SqliteType.Integer), ("@arm", SqliteType.Text), ("@item", SqliteType.Text), ("@rating", SqliteType.Integer), ("@at", SqliteType.Text));
            _complete = Prepared(conn, "UPDATE participants SET completed_at = @at WHERE id = @p AND completed_at IS NULL",
                ("@p", SqliteType.Text), ("@at", SqliteType.Text));
            _storedRating = Prepared(conn, "SELECT round, arm, item_id, rating, submitted_at FROM ratings WHERE participant = @p AND round = @round",
                ("@p", SqliteType.Text), ("@round", SqliteType.Integer));
            _insertChoice = Prepared(conn, "INSERT INTO choices (participant, round, arm) VALUES (@p, @round, @arm) ON CONFLICT (participant, round) DO NOTHING",
                ("@p", SqliteType.Text), ("@round", SqliteType.Integer), ("@arm", SqliteType.Text));
            _storedChoice = Prepared(conn, "SELECT arm FROM choices WHERE participant = @p AND round = @round",
                ("@p", SqliteType.Text), ("@round", SqliteType.Integer));
            _insertParticipant = Prepared(conn, """
                INSERT INTO participants (id, token_hash, condition, seed, prolific_pid, study_id, session_id, worker_id, assignment_id, hit_id, created_at, consented_at)
                VALUES (@id, @hash, @condition, @seed, @pp, @sid, @sess, @w, @a, @h, @created, @consented)
                """,
                ("@id", SqliteType.Text), ("@hash", SqliteType.Text), ("@condition", SqliteType.Text), ("@seed", SqliteType.Integer),
                ("@pp", SqliteType.Text), ("@sid", SqliteType.Text), ("@sess", SqliteType.Text), ("@w", SqliteType.Text),
                ("@a", SqliteType.Text), ("@h", SqliteType.Text), ("@created", SqliteType.Text), ("@consented", SqliteType.Text));
        }

        private static SqliteCommand Prepared(SqliteConnection conn, string sql, params (string Name, SqliteType Type)[] parameters)
        {
            var cmd = conn.CreateCommand();
            cmd.CommandText = sql;
            foreach (var (name, type) in parameters)
            {
                cmd.Parameters.Add(name, type);
            }

            return cmd;
        }

        private static SqliteCommand Bind(SqliteCommand cmd, SqliteTransaction tx, params object?[] values)
        {
            cmd.Transaction = tx;
            for (var i = 0; i < values.Length; i++)
            {
                cmd.Parameters[i].Value = values[i] ?? DBNull.Value;
            }

            return cmd;
        }

        public async Task<object?> InsertRatingAsync(SqliteTransaction tx, RatingWrite write)
        {
            var (participant, rating, completes) = write;
            var at = Time(rating.SubmittedAt);
            var inserted = await Bind(_insertRating, tx, participant, rating.Round, rating.Arm, rating.ItemId, rating.Rating, at).ExecuteNonQueryAsync() == 1;
            if (completes)
            {
                await Bind(_complete, tx, participant, at).ExecuteNonQueryAsync();
            }

            if (inserted)
            {
                return rating;
            }

            // The round was already stored: hand back what is stored.
            await using var r = await Bind(_storedRating, tx, participant, rating.Round).ExecuteReaderAsync();
            await r.ReadAsync();
            return new RatingRecord(r.GetInt32(0), r.GetString(1), r.GetString(2), r.GetInt32(3), ParseTime(r.GetString(4)));
        }

        public async Task<object?> InsertChoiceAsync(SqliteTransaction tx, ChoiceWrite write)
        {
            if (await Bind(_insertChoice, tx, write.Participant, write.Round, write.Arm).ExecuteNonQueryAsync() == 1)
            {
                return write.Arm;
            }

            return (string)(await Bind(_storedChoice, tx, write.Participant, write.Round).ExecuteScalarAsync())!;
        }

        public async Task InsertParticipantAsync(SqliteTransaction tx, ParticipantRecord p, string tokenHash) =>
            await Bind(_insertParticipant, tx, p.Id, tokenHash, p.Condition, p.Seed, p.ProlificPid, p.StudyId, p.SessionId,
                p.WorkerId, p.AssignmentId, p.HitId, Time(p.CreatedAt), p.ConsentedAt is { } at ? Time(at) : null).ExecuteNonQueryAsync();

        public void Dispose()
        {
            _insertRating.Dispose();
            _complete.Dispose();
            _storedRating.Dispose();
            _insertChoice.Dispose();
            _storedChoice.Dispose();
            _insertParticipant.Dispose();
        }
    }

    /// <summary>A DbDataSource over Microsoft.Data.Sqlite connections (which pool by connection string).</summary>
    private sealed class SqliteSource(string connectionString) : DbDataSource
    {
        public override string ConnectionString => connectionString;

        protected override DbConnection CreateDbConnection() => new SqliteConnection(connectionString);

        protected override async ValueTask DisposeAsyncCore()
        {
            SqliteConnection.ClearAllPools();
            await base.DisposeAsyncCore();
        }
    }
}

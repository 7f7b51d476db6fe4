using System.Data.Common;
using System.Globalization;
using System.Security.Cryptography;
using System.Text;
using System.Threading.Channels;
using Attune.Core.Errors;
using Microsoft.Data.Sqlite;
using Npgsql;

namespace Attune.Studies;

/// <summary>One exported rating row.</summary>
public sealed record ExportRow(
    string Participant, string? ProlificPid, string? StudyId, string? SessionId, string? WorkerId, string? AssignmentId, string? HitId,
    string Condition, int Round, string Arm, string ItemId, int Rating, DateTimeOffset SubmittedAt);

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

    /// <summary>SQLite: the rating statements, prepared once on <see cref="_writeConnection"/>.</summary>
    private SqliteRatingStatements? _sqliteRatings;

    private StudyStore(DbDataSource source, bool sqlite)
    {
        _source = source;
        _sqlite = sqlite;
        _writer = Task.Run(WriteLoopAsync);
    }

    /// <summary>
    /// One write: runs inside the batch's transaction; its task completes after the commit. A rating
    /// has no <see cref="Run"/>: the batch stores it (SQLite: prepared statements; PostgreSQL: one
    /// statement for all of the batch's ratings).
    /// </summary>
    private sealed record WriteOp(Func<DbConnection, DbTransaction, Task<object?>>? Run, TaskCompletionSource<object?> Done)
    {
        public RatingWrite? Rating { get; init; }
    }

    private sealed record RatingWrite(string Participant, RatingRecord Rating, bool Completes);

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
            var cs = spec[(spec.IndexOf(':', StringComparison.Ordinal) + 1)..];
            var builder = new NpgsqlConnectionStringBuilder(cs);
            if (!cs.Contains("Auto Prepare", StringComparison.OrdinalIgnoreCase) && !cs.Contains("AutoPrepare", StringComparison.OrdinalIgnoreCase))
            {
                // The same few statements run for every rating, join and choice: let the server keep
                // them parsed and planned (Npgsql's automatic preparation). A connection string that
                // sets Max Auto Prepare itself (0 behind PgBouncer in transaction mode) is left alone.
                builder.MaxAutoPrepare = 32;
                builder.AutoPrepareMinUsages = 2;
            }

            store = new StudyStore(NpgsqlDataSource.Create(builder.ConnectionString), sqlite: false);
        }
        else
        {
            throw new AttuneInputException($"--db '{spec}': expected sqlite:PATH or postgres:CONNECTION-STRING");
        }

        await store.CreateSchemaAsync(ct);
        return store;
    }

    private async Task CreateSchemaAsync(CancellationToken ct)
    {
        await using var conn = await OpenAsync(ct);
        if (_sqlite)
        {
            await ExecAsync(conn, "PRAGMA journal_mode=WAL;", ct);
        }

        await ExecAsync(conn, """
            CREATE TABLE IF NOT EXISTS participants (
              id TEXT PRIMARY KEY,
              token_hash TEXT NOT NULL UNIQUE,
              condition TEXT NOT NULL,
              seed INTEGER NOT NULL,
              prolific_pid TEXT, study_id TEXT, session_id TEXT, worker_id TEXT, assignment_id TEXT, hit_id TEXT,
              created_at TEXT NOT NULL,
              questionnaire TEXT,
              completed_at TEXT);
            CREATE TABLE IF NOT EXISTS ratings (
              participant TEXT NOT NULL REFERENCES participants(id),
              round INTEGER NOT NULL,
              arm TEXT NOT NULL,
              item_id TEXT NOT NULL,
              rating INTEGER NOT NULL,
              submitted_at TEXT NOT NULL,
              PRIMARY KEY (participant, round));
            CREATE TABLE IF NOT EXISTS choices (
              participant TEXT NOT NULL REFERENCES participants(id),
              round INTEGER NOT NULL,
              arm TEXT NOT NULL,
              PRIMARY KEY (participant, round));
            """, ct);
    }

    private async Task<DbConnection> OpenAsync(CancellationToken ct, bool write = false)
    {
        var conn = await _source.OpenConnectionAsync(ct);
        if (_sqlite && write)
        {
            // Durable commits: the WAL is synced at every commit (the default in WAL mode, NORMAL, is not).
            await ExecAsync(conn, "PRAGMA synchronous=FULL;", ct);
        }

        return conn;
    }

    public static string HashToken(string token) => Convert.ToHexStringLower(SHA256.HashData(Encoding.UTF8.GetBytes(token)));

    /// <summary>
    /// Creates a participant in the condition with the lowest filled share among those with free
    /// slots (ties by a random draw); null when every slot is taken. Joins run one at a time in the
    /// single writer, so slots are never overbooked (by this process: one server process per study
    /// database is assumed, as for the participant cache).
    /// </summary>
    public async Task<ParticipantRecord?> CreateParticipantAsync(StudyConfig config, string token, PlatformIds ids, CancellationToken ct)
    {
        ArgumentNullException.ThrowIfNull(config);
        ArgumentNullException.ThrowIfNull(ids);
        return await EnqueueAsync<ParticipantRecord?>(async (conn, tx) =>
        {
            // Joins run one at a time in the writer, so the counts read once from the database are
            // kept up to date here; a failed batch forgets them (see WriteLoopAsync) and they are
            // read again. (Counting every join would scan the whole participants table each time.)
            if (_conditionCounts is null)
            {
                var loaded = new Dictionary<string, int>(StringComparer.Ordinal);
                await using (var cmd = Command(conn, "SELECT condition, COUNT(*) FROM participants GROUP BY condition", tx))
                await using (var reader = await cmd.ExecuteReaderAsync(ct))
                {
                    while (await reader.ReadAsync(ct))
                    {
                        loaded[reader.GetString(0)] = Convert.ToInt32(reader.GetValue(1), CultureInfo.InvariantCulture);
                    }
                }

                _conditionCounts = loaded;
            }

            var counts = _conditionCounts;

            var open = config.Conditions.Where(c => counts.GetValueOrDefault(c.Name) < c.Slots).ToList();
            if (open.Count == 0)
            {
                return null;
            }

            var lowest = open.Min(c => counts.GetValueOrDefault(c.Name) / (double)c.Slots);
            var candidates = open.Where(c => counts.GetValueOrDefault(c.Name) / (double)c.Slots == lowest).ToList();
            var condition = candidates[RandomNumberGenerator.GetInt32(candidates.Count)].Name;
            var participant = new ParticipantRecord("P" + Convert.ToHexStringLower(RandomNumberGenerator.GetBytes(6)), condition,
                RandomNumberGenerator.GetInt32(int.MaxValue), ids.ProlificPid, ids.StudyId, ids.SessionId, ids.WorkerId, ids.AssignmentId, ids.HitId,
                DateTimeOffset.UtcNow, null, null);
            await using (var cmd = Command(conn, """
                INSERT INTO participants (id, token_hash, condition, seed, prolific_pid, study_id, session_id, worker_id, assignment_id, hit_id, created_at)
                VALUES (@id, @hash, @condition, @seed, @pp, @sid, @sess, @w, @a, @h, @created)
                """, tx))
            {
                Add(cmd, "id", participant.Id);
                Add(cmd, "hash", HashToken(token));
                Add(cmd, "condition", condition);
                Add(cmd, "seed", participant.Seed);
                Add(cmd, "pp", ids.ProlificPid);
                Add(cmd, "sid", ids.StudyId);
                Add(cmd, "sess", ids.SessionId);
                Add(cmd, "w", ids.WorkerId);
                Add(cmd, "a", ids.AssignmentId);
                Add(cmd, "h", ids.HitId);
                Add(cmd, "created", Time(participant.CreatedAt));
                await cmd.ExecuteNonQueryAsync(ct);
            }

            counts[condition] = counts.GetValueOrDefault(condition) + 1;
            return participant;
        }, ct);
    }

    /// <summary>The participant with this token, their ratings in round order and their arm choices; null if unknown.</summary>
    public async Task<(ParticipantRecord Participant, List<RatingRecord> Ratings, Dictionary<int, string> Choices)?> LoadAsync(string token, CancellationToken ct)
    {
        await using var conn = await OpenAsync(ct);
        ParticipantRecord? p = null;
        await using (var cmd = Command(conn, """
            SELECT id, condition, seed, prolific_pid, study_id, session_id, worker_id, assignment_id, hit_id, created_at, questionnaire, completed_at
            FROM participants WHERE token_hash = @hash
            """))
        {
            Add(cmd, "hash", HashToken(token));
            await using var r = await cmd.ExecuteReaderAsync(ct);
            if (await r.ReadAsync(ct))
            {
                p = new ParticipantRecord(r.GetString(0), r.GetString(1), Convert.ToInt32(r.GetValue(2), CultureInfo.InvariantCulture),
                    Str(r, 3), Str(r, 4), Str(r, 5), Str(r, 6), Str(r, 7), Str(r, 8), ParseTime(r.GetString(9)), Str(r, 10),
                    r.IsDBNull(11) ? null : ParseTime(r.GetString(11)));
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
        var op = new WriteOp(null, new TaskCompletionSource<object?>(TaskCreationOptions.RunContinuationsAsynchronously))
        {
            Rating = new RatingWrite(participant, rating, completes),
        };
        await _writes.Writer.WriteAsync(op, ct);
        return (RatingRecord)(await op.Done.Task)!;
    }

    /// <summary>
    /// The single writer: takes every write that is waiting (up to 256), runs them in one
    /// transaction and commits once (one fsync for the batch), then acknowledges each. If the batch
    /// fails, its writes are retried one transaction each, so one bad write fails alone.
    /// </summary>
    private async Task WriteLoopAsync()
    {
        var reader = _writes.Reader;
        var batch = new List<WriteOp>();
        while (await reader.WaitToReadAsync())
        {
            batch.Clear();
            while (batch.Count < 256 && reader.TryRead(out var op))
            {
                batch.Add(op);
            }

            try
            {
                var results = await RunBatchAsync(batch);
                for (var i = 0; i < batch.Count; i++)
                {
                    batch[i].Done.TrySetResult(results[i]);
                }
            }
#pragma warning disable CA1031 // failures are handed to the waiting requests
            catch (Exception) when (batch.Count > 1)
            {
                _conditionCounts = null;
                foreach (var op in batch)
                {
                    try
                    {
                        op.Done.TrySetResult((await RunBatchAsync([op]))[0]);
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
        _sqliteRatings?.Dispose();
        _sqliteRatings = null;
        if (_writeConnection is { } conn)
        {
            _writeConnection = null;
            await conn.DisposeAsync();
        }
    }

    private async Task<object?[]> RunBatchOnAsync(List<WriteOp> batch)
    {
        var conn = _writeConnection ??= await OpenAsync(CancellationToken.None, write: true);
        await using var tx = await conn.BeginTransactionAsync();
        var results = new object?[batch.Count];
        var ratings = new List<int>();
        for (var i = 0; i < batch.Count; i++)
        {
            if (batch[i].Rating is { } write && _sqlite)
            {
                _sqliteRatings ??= new SqliteRatingStatements((SqliteConnection)conn);
                results[i] = await _sqliteRatings.InsertAsync((SqliteTransaction)tx, write);
                continue;
            }

            if (batch[i].Rating is not null)
            {
                ratings.Add(i); // PostgreSQL: below, all in one statement
                continue;
            }

            results[i] = await batch[i].Run!(conn, tx);
        }

        if (ratings.Count > 0)
        {
            var stored = await InsertRatingsAsync((NpgsqlConnection)conn, (NpgsqlTransaction)tx, [.. ratings.Select(i => batch[i].Rating!)]);
            for (var k = 0; k < ratings.Count; k++)
            {
                results[ratings[k]] = stored[k];
            }
        }

        await tx.CommitAsync();
        return results;
    }

    /// <summary>
    /// PostgreSQL: a batch's ratings in one round trip (one multi-row insert from arrays), then the
    /// rounds that were already stored read back, then the completions marked. Same semantics as
    /// <see cref="SqliteRatingStatements"/> one at a time; a batch never holds two writes of one
    /// participant, whose requests are serialised by the participant cache.
    /// </summary>
    private static async Task<RatingRecord[]> InsertRatingsAsync(NpgsqlConnection conn, NpgsqlTransaction tx, RatingWrite[] writes)
    {
        var result = new RatingRecord[writes.Length];
        var inserted = new HashSet<(string, int)>();
        await using (var cmd = new NpgsqlCommand("""
            INSERT INTO ratings (participant, round, arm, item_id, rating, submitted_at)
            SELECT * FROM unnest(@p, @round, @arm, @item, @rating, @at)
            ON CONFLICT (participant, round) DO NOTHING
            RETURNING participant, round
            """, conn, tx))
        {
            cmd.Parameters.AddWithValue("p", writes.Select(w => w.Participant).ToArray());
            cmd.Parameters.AddWithValue("round", writes.Select(w => w.Rating.Round).ToArray());
            cmd.Parameters.AddWithValue("arm", writes.Select(w => w.Rating.Arm).ToArray());
            cmd.Parameters.AddWithValue("item", writes.Select(w => w.Rating.ItemId).ToArray());
            cmd.Parameters.AddWithValue("rating", writes.Select(w => w.Rating.Rating).ToArray());
            cmd.Parameters.AddWithValue("at", writes.Select(w => Time(w.Rating.SubmittedAt)).ToArray());
            await using var r = await cmd.ExecuteReaderAsync();
            while (await r.ReadAsync())
            {
                inserted.Add((r.GetString(0), r.GetInt32(1)));
            }
        }

        var missing = new List<int>();
        for (var k = 0; k < writes.Length; k++)
        {
            if (inserted.Contains((writes[k].Participant, writes[k].Rating.Round)))
            {
                result[k] = writes[k].Rating;
            }
            else
            {
                missing.Add(k);
            }
        }

        if (missing.Count > 0)
        {
            // Rounds stored before: hand back what is stored.
            var storedRows = new Dictionary<(string, int), RatingRecord>();
            await using (var cmd = new NpgsqlCommand("""
                SELECT r.participant, r.round, r.arm, r.item_id, r.rating, r.submitted_at
                FROM ratings r JOIN unnest(@p, @round) AS k(participant, round) ON r.participant = k.participant AND r.round = k.round
                """, conn, tx))
            {
                cmd.Parameters.AddWithValue("p", missing.Select(k => writes[k].Participant).ToArray());
                cmd.Parameters.AddWithValue("round", missing.Select(k => writes[k].Rating.Round).ToArray());
                await using var r = await cmd.ExecuteReaderAsync();
                while (await r.ReadAsync())
                {
                    storedRows[(r.GetString(0), r.GetInt32(1))] = new RatingRecord(r.GetInt32(1), r.GetString(2), r.GetString(3), r.GetInt32(4), ParseTime(r.GetString(5)));
                }
            }

            foreach (var k in missing)
            {
                result[k] = storedRows[(writes[k].Participant, writes[k].Rating.Round)];
            }
        }

        var completing = writes.Where(w => w.Completes).ToArray();
        if (completing.Length > 0)
        {
            await using var done = new NpgsqlCommand("""
                UPDATE participants SET completed_at = v.at FROM unnest(@p, @at) AS v(id, at)
                WHERE participants.id = v.id AND participants.completed_at IS NULL
                """, conn, tx);
            done.Parameters.AddWithValue("p", completing.Select(w => w.Participant).ToArray());
            done.Parameters.AddWithValue("at", completing.Select(w => Time(w.Rating.SubmittedAt)).ToArray());
            await done.ExecuteNonQueryAsync();
        }

        return result;
    }

    /// <summary>
    /// Runs a write through the single group-commit writer (SQLite and PostgreSQL alike): writes
    /// that arrive together share one transaction and one commit, and each is acknowledged only
    /// after that commit. On PostgreSQL this replaced one transaction per write, whose commits
    /// (one WAL flush each, plus a connection per request) made the store 3–5× slower.
    /// </summary>
    private async Task<T> EnqueueAsync<T>(Func<DbConnection, DbTransaction, Task<T>> write, CancellationToken ct)
    {
        var op = new WriteOp(async (conn, tx) => await write(conn, tx), new TaskCompletionSource<object?>(TaskCreationOptions.RunContinuationsAsynchronously));
        await _writes.Writer.WriteAsync(op, ct);
        return (T)(await op.Done.Task)!;
    }

    /// <summary>Stores the arm chosen for a round unless one is stored; returns the stored arm.</summary>
    public async Task<string> AddChoiceAsync(string participant, int round, string arm, CancellationToken ct) =>
        await EnqueueAsync(async (conn, tx) =>
        {
            await using (var cmd = Command(conn, "INSERT INTO choices (participant, round, arm) VALUES (@p, @round, @arm) ON CONFLICT (participant, round) DO NOTHING", tx))
            {
                Add(cmd, "p", participant);
                Add(cmd, "round", round);
                Add(cmd, "arm", arm);
                await cmd.ExecuteNonQueryAsync(ct);
            }

            await using var q = Command(conn, "SELECT arm FROM choices WHERE participant = @p AND round = @round", tx);
            Add(q, "p", participant);
            Add(q, "round", round);
            return (string)(await q.ExecuteScalarAsync(ct))!;
        }, ct);

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
                   r.round, r.arm, r.item_id, r.rating, r.submitted_at
            FROM ratings r JOIN participants p ON p.id = r.participant
            ORDER BY p.created_at, p.id, r.round
            """);
        var rows = new List<ExportRow>();
        await using var r = await cmd.ExecuteReaderAsync(ct);
        while (await r.ReadAsync(ct))
        {
            rows.Add(new ExportRow(r.GetString(0), Str(r, 1), Str(r, 2), Str(r, 3), Str(r, 4), Str(r, 5), Str(r, 6), r.GetString(7),
                Convert.ToInt32(r.GetValue(8), CultureInfo.InvariantCulture), r.GetString(9), r.GetString(10),
                Convert.ToInt32(r.GetValue(11), CultureInfo.InvariantCulture), ParseTime(r.GetString(12))));
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

    /// <summary>Deletes everything (tests and benchmarks on a shared PostgreSQL database).</summary>
    public async Task ResetAsync(CancellationToken ct = default) =>
        await EnqueueAsync(async (conn, tx) =>
        {
            await ExecAsync(conn, "DELETE FROM ratings; DELETE FROM choices; DELETE FROM participants;", ct, tx);
            _conditionCounts = null;
            return 0;
        }, ct);

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
    /// SQLite: the statements that store a rating, prepared once on the writer's connection and
    /// reused with new parameter values (preparing them for every rating cost more CPU than running
    /// them). A round already stored is not overwritten (<c>ON CONFLICT DO NOTHING</c>): the stored
    /// rating is read back and returned, so the caller can tell a resubmission from a conflict.
    /// </summary>
    private sealed class SqliteRatingStatements : IDisposable
    {
        private readonly SqliteCommand _insert;
        private readonly SqliteCommand _complete;
        private readonly SqliteCommand _stored;

        public SqliteRatingStatements(SqliteConnection conn)
        {
            _insert = Prepared(conn, "INSERT INTO ratings (participant, round, arm, item_id, rating, submitted_at) VALUES (@p, @round, @arm, @item, @rating, @at) ON CONFLICT (participant, round) DO NOTHING",
                ("@p", SqliteType.Text), ("@round", SqliteType.Integer), ("@arm", SqliteType.Text), ("@item", SqliteType.Text), ("@rating", SqliteType.Integer), ("@at", SqliteType.Text));
            _complete = Prepared(conn, "UPDATE participants SET completed_at = @at WHERE id = @p AND completed_at IS NULL",
                ("@p", SqliteType.Text), ("@at", SqliteType.Text));
            _stored = Prepared(conn, "SELECT round, arm, item_id, rating, submitted_at FROM ratings WHERE participant = @p AND round = @round",
                ("@p", SqliteType.Text), ("@round", SqliteType.Integer));
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

        public async Task<object?> InsertAsync(SqliteTransaction tx, RatingWrite write)
        {
            var (participant, rating, completes) = write;
            var at = Time(rating.SubmittedAt);
            _insert.Transaction = tx;
            _insert.Parameters[0].Value = participant;
            _insert.Parameters[1].Value = rating.Round;
            _insert.Parameters[2].Value = rating.Arm;
            _insert.Parameters[3].Value = rating.ItemId;
            _insert.Parameters[4].Value = rating.Rating;
            _insert.Parameters[5].Value = at;
            var inserted = await _insert.ExecuteNonQueryAsync() == 1;
            if (completes)
            {
                _complete.Transaction = tx;
                _complete.Parameters[0].Value = participant;
                _complete.Parameters[1].Value = at;
                await _complete.ExecuteNonQueryAsync();
            }

            if (inserted)
            {
                return rating;
            }

            // The round was already stored: hand back what is stored.
            _stored.Transaction = tx;
            _stored.Parameters[0].Value = participant;
            _stored.Parameters[1].Value = rating.Round;
            await using var r = await _stored.ExecuteReaderAsync();
            await r.ReadAsync();
            return new RatingRecord(r.GetInt32(0), r.GetString(1), r.GetString(2), r.GetInt32(3), ParseTime(r.GetString(4)));
        }

        public void Dispose()
        {
            _insert.Dispose();
            _complete.Dispose();
            _stored.Dispose();
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

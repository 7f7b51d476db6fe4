using Npgsql;

namespace Attune.Studies;

/// <summary>
/// The study's database cannot take one more connection now (a server without a free slot, or
/// this server's pool in use for its whole wait); the request may be repeated shortly. The server
/// answers it with 503 and <c>Retry-After</c>.
/// </summary>
public sealed class StoreBusyException : Exception
{
    public StoreBusyException() : this("the study's database is busy")
    {
    }

    public StoreBusyException(string message) : base(message)
    {
    }

    public StoreBusyException(string message, Exception inner) : base(message, inner)
    {
    }

    /// <summary>Seconds a client should wait before repeating the request.</summary>
    public const int RetryAfterSeconds = 2;

    /// <summary>
    /// A PostgreSQL refusal that passes: 53300 too_many_connections ("remaining connection slots
    /// are reserved"), 53400 configuration_limit_exceeded, 57P03 cannot_connect_now (starting up or
    /// shutting down).
    /// </summary>
    public static bool IsServerBusy(PostgresException ex) =>
        ex?.SqlState is PostgresErrorCodes.TooManyConnections or PostgresErrorCodes.ConfigurationLimitExceeded or PostgresErrorCodes.CannotConnectNow;

    /// <summary>This exception, wherever it is in <paramref name="ex"/>'s chain of inner exceptions.</summary>
    public static StoreBusyException? Find(Exception? ex)
    {
        for (; ex is not null; ex = ex.InnerException)
        {
            if (ex is StoreBusyException busy)
            {
                return busy;
            }
        }

        return null;
    }
}
